"""The backward pass of a convolution and of pooling, written out the way the lecture explains it.

For Y = conv(X, W) + b (PyTorch's cross-correlation, stride s, padding p, dilation d) and a loss L
whose gradient dL/dY = G arrives from the layer above:

* dL/dW = the cross-correlation of the (padded) input X with G: every kernel tap W[i, j] met the input
  pixels X[r s + i d, c s + j d] of every output (r, c), so it collects G[r, c] times them;
* dL/dX = the *full* convolution of G with the flipped kernel: G is spread out by the stride
  (s - 1 zeros between its values), padded by d (k - 1) all round and slid under the kernel rotated
  by 180 degrees (dilated by d); the padding rows are cut off again at the end;
* dL/db = the sum of G (b was added to every output);
* max pooling routes each G value to the input that won the window; average pooling shares it
  equally among the window's inputs (divided by the window size PyTorch used).

Everything here is computed by hand from these rules (conv2d used only as the sliding dot product),
so the page can show that the numbers are the ones autograd computes (`autograd_reference`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cnn_core.errors import InvalidConfig
from cnn_core.models import conv_output_size
from cnn_core.teaching.layer_ops import ConvSettings, PoolSettings, check_kernel


@dataclass(frozen=True)
class ConvBackward:
    """The three gradients of one single-channel convolution, and the pieces that produce them."""

    upstream: torch.Tensor           # G = dL/dY, H_out x W_out
    grad_weight: torch.Tensor        # dL/dW, k x k
    grad_input: torch.Tensor         # dL/dX, H x W
    grad_bias: float                 # dL/db
    spread_upstream: torch.Tensor    # G with (s - 1) zeros between values, padded by d (k - 1): what slides
    flipped_kernel: torch.Tensor     # W rotated by 180 degrees


def upstream_gradient(shape: tuple[int, int], kind: str = "random", seed: int = 0,
                      at: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """A dL/dY to send back: 'unit' (1 at output `at`, L = Y[at]), 'ones' (L = sum Y) or 'random'
    (seeded integers -2..2, L = sum G * Y)."""
    if kind == "unit":
        g = torch.zeros(shape)
        g[min(max(at[0], 0), shape[0] - 1), min(max(at[1], 0), shape[1] - 1)] = 1.0
        return g
    if kind == "ones":
        return torch.ones(shape)
    if kind != "random":
        raise InvalidConfig("The upstream gradient is 'unit', 'ones' or 'random'")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(-2, 3, shape, generator=generator).float()


def _check_upstream(upstream: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    if tuple(upstream.shape) != tuple(shape):
        raise InvalidConfig(f"dL/dY must have the output's shape {tuple(shape)}, got {tuple(upstream.shape)}")
    return upstream.float()


def conv_backward(image: torch.Tensor, kernel: torch.Tensor, settings: ConvSettings,
                  upstream: torch.Tensor) -> ConvBackward:
    """dL/dW, dL/dX and dL/db of convolve(image, kernel, settings) for dL/dY = upstream (H x W image)."""
    kernel = check_kernel(kernel)
    k = kernel.shape[0]
    settings.validate(k, *image.shape)
    s, p, d = settings.stride, settings.padding, settings.dilation
    height, width = image.shape
    h_out, w_out = conv_output_size(height, k, s, p, d), conv_output_size(width, k, s, p, d)
    g = _check_upstream(upstream, (h_out, w_out))
    padded = F.pad(image.float(), (p, p, p, p))                                   # (H + 2p) x (W + 2p)
    # dL/dW[i, j] = sum_rc G[r, c] X[r s + i d, c s + j d]: G slides over X with taps s apart, in steps of d
    grad_weight = F.conv2d(padded[None, None], g[None, None], stride=d, dilation=s)[0, 0, :k, :k]
    # dL/dX: spread G by the stride, pad by d (k - 1), slide the flipped (dilated) kernel over it
    spread = torch.zeros((h_out - 1) * s + 1, (w_out - 1) * s + 1)
    spread[::s, ::s] = g
    reach = d * (k - 1)
    spread = F.pad(spread, (reach, reach, reach, reach))
    flipped = torch.flip(kernel, dims=(0, 1))
    full = F.conv2d(spread[None, None], flipped[None, None], dilation=d)[0, 0]  # covers the rows the windows read
    grad_padded = torch.zeros_like(padded)
    grad_padded[:full.shape[0], :full.shape[1]] = full                       # rows no window reached: 0
    grad_input = grad_padded[p:p + height, p:p + width]                      # the padding has no gradient to keep
    return ConvBackward(g, grad_weight, grad_input, float(g.sum()), spread, flipped)


def weight_grad_terms(image: torch.Tensor, settings: ConvSettings, upstream: torch.Tensor, kernel_size: int,
                      i: int, j: int, limit: int = 12) -> tuple[str, float]:
    """dL/dW[i, j] written out as 'G[r,c] × x[..]' terms (the first `limit`) and its value."""
    s, p, d = settings.stride, settings.padding, settings.dilation
    if not (0 <= i < kernel_size and 0 <= j < kernel_size):
        raise InvalidConfig(f"Kernel tap ({i}, {j}) is outside the {kernel_size}x{kernel_size} kernel")
    padded = F.pad(image.float(), (p, p, p, p))
    terms, total = [], 0.0
    for (r, c), grad in np.ndenumerate(upstream.numpy()):
        x = float(padded[r * s + i * d, c * s + j * d])
        total += float(grad) * x
        if len(terms) < limit:
            terms.append(f"{grad:.3g}×{x:.3g}")
    more = upstream.numel() - len(terms)
    return " + ".join(terms) + (f" + … ({more} more terms)" if more > 0 else "") + f" = {total:.4g}", total


def pool_backward(values: torch.Tensor, kind: str, settings: PoolSettings, upstream: torch.Tensor) -> torch.Tensor:
    """dL/d(input) of max or average pooling of an H x W map, for dL/d(output) = upstream.

    max: each upstream value goes to the window's winner (overlapping windows add up at a shared winner);
    avg: each upstream value is shared by the window's inputs, divided by PyTorch's divisor
    (count_include_pad=True: the window clipped to the padded map, padding cells counted).
    """
    if kind not in ("max", "avg"):
        raise InvalidConfig("Pooling kind must be 'max' or 'avg'")
    settings.validate(*values.shape, kind=kind)
    height, width = values.shape
    k, s, p = settings.kernel_size, settings.step, settings.padding
    h_out, w_out = settings.output_size(height, kind), settings.output_size(width, kind)
    g = _check_upstream(upstream, (h_out, w_out))
    grad = torch.zeros(height * width)
    if kind == "max":
        _, winners = F.max_pool2d(values[None, None].float(), k, s, p, settings.dilation,
                                  ceil_mode=settings.ceil_mode, return_indices=True)   # where each max came from
        grad.scatter_add_(0, winners.flatten(), g.flatten())
        return grad.view(height, width)
    grad = grad.view(height, width)
    for r in range(h_out):
        for c in range(w_out):
            top, left = r * s - p, c * s - p
            bottom, right = min(top + k, height + p), min(left + k, width + p)
            divisor = (bottom - top) * (right - left)                    # padding cells count (count_include_pad)
            t0, l0, b0, r0 = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
            grad[t0:b0, l0:r0] += g[r, c] / divisor
    return grad


def autograd_reference(image: torch.Tensor, kernel: torch.Tensor, settings: ConvSettings,
                       upstream: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(dL/dW, dL/dX, dL/db) from torch.autograd for L = sum(upstream * conv2d(image, kernel) + b)."""
    x = image.float().clone().requires_grad_(True)
    w = check_kernel(kernel).clone().requires_grad_(True)
    b = torch.tensor([float(settings.bias)], requires_grad=True)
    with torch.enable_grad():
        y = F.conv2d(x[None, None], w[None, None], b, stride=settings.stride, padding=settings.padding,
                     dilation=settings.dilation)[0, 0]
        gw, gx, gb = torch.autograd.grad((y * upstream.float()).sum(), (w, x, b))
    return gw, gx, float(gb)


def pool_autograd_reference(values: torch.Tensor, kind: str, settings: PoolSettings,
                            upstream: torch.Tensor) -> torch.Tensor:
    """dL/d(input) from torch.autograd for L = sum(upstream * pool(values))."""
    x = values.float().clone().requires_grad_(True)
    k, s, p = settings.kernel_size, settings.step, settings.padding
    with torch.enable_grad():
        y = (F.max_pool2d(x[None, None], k, s, p, settings.dilation, ceil_mode=settings.ceil_mode) if kind == "max"
             else F.avg_pool2d(x[None, None], k, s, p, ceil_mode=settings.ceil_mode))[0, 0]
        (grad,) = torch.autograd.grad((y * upstream.float()).sum(), x)
    return grad
