"""How a network grows an image back: nearest / bilinear upsampling, max-unpooling, transposed convolution.

Everything here is computed by torch itself (F.interpolate, nn.MaxUnpool2d, F.conv_transpose2d); the
hand-written parts are the lesson: the output-size formula, where one input value lands, the transposed
convolution rewritten as an ordinary convolution, and the overlap counts behind the checkerboard pattern.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnn_core.errors import InvalidConfig

MAX_SIDE = 64      # input side the explorer accepts (the output of a stride-4 transposed conv stays small)
MAX_KERNEL = 7
MAX_STRIDE = 4
MAX_DILATION = 3


@dataclass(frozen=True)
class TransposedSettings:
    """The arguments of nn.ConvTranspose2d that change the output size (square, for the explorer)."""

    kernel: int = 3
    stride: int = 2
    padding: int = 0
    output_padding: int = 0
    dilation: int = 1

    def formula(self, size: int) -> str:
        """The output-size formula with these numbers, as the page shows it."""
        s, k, p, op, d = self.stride, self.kernel, self.padding, self.output_padding, self.dilation
        return (f"(H_in - 1) x stride - 2 x padding + dilation x (kernel - 1) + output_padding + 1 = "
                f"({size} - 1) x {s} - 2 x {p} + {d} x ({k} - 1) + {op} + 1 = {transposed_output_size(size, self)}")


def transposed_output_size(size: int, t: TransposedSettings) -> int:
    """Output side of ConvTranspose2d, as torch computes it (may be <= 0 for impossible settings)."""
    return (size - 1) * t.stride - 2 * t.padding + t.dilation * (t.kernel - 1) + t.output_padding + 1


def check_transposed(size: int, t: TransposedSettings) -> int:
    """The output side, or InvalidConfig with the formula and the offending numbers."""
    bounds = [(1 <= size <= MAX_SIDE, f"input side must be 1 .. {MAX_SIDE}, not {size}"),
              (1 <= t.kernel <= MAX_KERNEL, f"kernel must be 1 .. {MAX_KERNEL}, not {t.kernel}"),
              (1 <= t.stride <= MAX_STRIDE, f"stride must be 1 .. {MAX_STRIDE}, not {t.stride}"),
              (0 <= t.padding <= 2 * MAX_KERNEL, f"padding must be 0 .. {2 * MAX_KERNEL}, not {t.padding}"),
              (1 <= t.dilation <= MAX_DILATION, f"dilation must be 1 .. {MAX_DILATION}, not {t.dilation}")]
    for ok, message in bounds:
        if not ok:
            raise InvalidConfig(message)
    if not 0 <= t.output_padding < max(t.stride, t.dilation):
        raise InvalidConfig(f"output_padding must be smaller than stride or dilation: output_padding "
                            f"{t.output_padding}, stride {t.stride}, dilation {t.dilation}. It only picks one of the "
                            "stride's possible output sizes.")
    out = transposed_output_size(size, t)
    if out <= 0:
        raise InvalidConfig(f"No output: {t.formula(size)}. Lower the padding (at most "
                            f"{max(0, ((size - 1) * t.stride + t.dilation * (t.kernel - 1) + t.output_padding) // 2)}"
                            ") or raise the stride or kernel.")
    return out


def transposed_conv(x: torch.Tensor, weight: torch.Tensor, t: TransposedSettings) -> torch.Tensor:
    """torch's transposed convolution of a 1 x 1 x H x W input with a k x k kernel (no bias)."""
    check_transposed(x.shape[-1], t)
    return F.conv_transpose2d(x, weight.reshape(1, 1, t.kernel, t.kernel), stride=t.stride, padding=t.padding,
                              output_padding=t.output_padding, dilation=t.dilation)


def spread_of_one_input(size: int, row: int, col: int, weight: torch.Tensor, t: TransposedSettings
                        ) -> tuple[torch.Tensor, tuple[int, int]]:
    """Where input pixel (row, col) lands: the kernel times that value, placed at (row*stride - padding,
    col*stride - padding) with dilation gaps (cropped by the padding). Returns the output map of a one-hot
    input and the top-left corner of the kernel's footprint in output coordinates."""
    x = torch.zeros(1, 1, size, size)
    x[0, 0, row, col] = 1.0
    return transposed_conv(x, weight, t)[0, 0], (row * t.stride - t.padding, col * t.stride - t.padding)


def as_ordinary_convolution(x: torch.Tensor, weight: torch.Tensor, t: TransposedSettings) -> torch.Tensor:
    """The same transposed convolution as an ordinary one, roles swapped: insert stride-1 zeros between the
    input pixels, pad by dilation*(kernel-1) - padding (+ output_padding on the far side), then convolve with
    the kernel flipped in both directions."""
    n, c, h, w = x.shape
    s, k, d = t.stride, t.kernel, t.dilation
    spread = x.new_zeros(n, c, (h - 1) * s + 1, (w - 1) * s + 1)
    spread[..., ::s, ::s] = x                                        # stride - 1 zeros between the pixels
    edge = d * (k - 1) - t.padding
    # F.pad crops where a pad is negative (padding larger than dilation * (kernel - 1))
    padded = F.pad(spread, (edge, edge + t.output_padding, edge, edge + t.output_padding))
    flipped = weight.reshape(1, 1, k, k).flip(-1, -2)
    return F.conv2d(padded, flipped, dilation=d)


def overlap_counts(size: int, kernel: int, stride: int) -> torch.Tensor:
    """How many kernel placements cover each output pixel of a transposed conv (all-ones input and kernel):
    uneven, a checkerboard, when the kernel size is not a multiple of the stride."""
    t = TransposedSettings(kernel=kernel, stride=stride)
    return transposed_conv(torch.ones(1, 1, size, size), torch.ones(kernel, kernel), t)[0, 0]


def upsample_then_conv_counts(size: int, kernel: int, stride: int) -> torch.Tensor:
    """The alternative: nearest upsampling by `stride`, then an ordinary conv (padding kernel // 2): every
    interior pixel gets the same number of contributions, so no checkerboard."""
    up = F.interpolate(torch.ones(1, 1, size, size), scale_factor=stride, mode="nearest")
    return F.conv2d(up, torch.ones(1, 1, kernel, kernel), padding=kernel // 2)[0, 0]


def unevenness(counts: torch.Tensor, margin: int) -> float:
    """max / min of the counts away from the border (1.0 = perfectly even)."""
    inner = counts[margin:-margin or None, margin:-margin or None] if margin else counts
    return float(inner.max() / inner.min().clamp(min=1e-12))


def upsample(x: torch.Tensor, factor: int, mode: str) -> torch.Tensor:
    """Nearest or bilinear upsampling (align_corners=False, torch's default for nn.Upsample)."""
    if mode not in ("nearest", "bilinear"):
        raise InvalidConfig(f"Upsampling mode must be nearest or bilinear, not {mode[:20]!r}")
    if not 1 <= factor <= MAX_STRIDE:
        raise InvalidConfig(f"Upsampling factor must be 1 .. {MAX_STRIDE}, not {factor}")
    if mode == "nearest":
        return F.interpolate(x, scale_factor=factor, mode="nearest")
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def max_unpool(x: torch.Tensor, kernel: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Max-pool (remembering where each maximum was), then max-unpool: each maximum goes back to its place,
    every other pixel becomes 0. Returns (pooled, indices, unpooled)."""
    pooled, indices = F.max_pool2d(x, kernel, return_indices=True)
    return pooled, indices, F.max_unpool2d(pooled, indices, kernel, output_size=x.shape[-2:])
