"""The basic layers made visible: convolution step by step, activations, pooling, flatten, input.

Everything here is computed by PyTorch itself (torch.nn.functional and real modules); the
functions only pick out the numbers a student wants to see (a patch, a product, a winner).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.inspect.hooks import capture_forward
from cnn_core.models import ACTIVATIONS, conv_output_size, make_activation
from cnn_core.models.simple import LectureConvNet

# ---------------------------------------------------------------- kernels


@dataclass(frozen=True)
class KernelPreset:
    """A named kernel: its weights (rows of numbers) and what it does."""

    label: str
    weights: tuple[tuple[float, ...], ...]
    explanation: str

    def tensor(self) -> torch.Tensor:
        """The kernel as a k x k float tensor."""
        return torch.tensor(self.weights, dtype=torch.float32)


def _outer(column: list[float], row: list[float], scale: float = 1.0) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(round(a * b * scale, 6) for b in row) for a in column)


_GAUSS5 = _outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1], 1 / 256)
_SOBEL5_X = _outer([1, 4, 6, 4, 1], [-1, -2, 0, 2, 1])  # smoothing down the column, derivative along the row

KERNEL_PRESETS: dict[str, KernelPreset] = {
    "identity-3x3": KernelPreset("Identity 3x3", ((0, 0, 0), (0, 1, 0), (0, 0, 0)),
                                 "Copies the input: only the centre weight is 1."),
    "edge-3x3": KernelPreset("Edge (Laplacian) 3x3", ((-1, -1, -1), (-1, 8, -1), (-1, -1, -1)),
                             "Zero on flat regions, large where a pixel differs from its neighbours: edges."),
    "edge-5x5": KernelPreset("Edge (Laplacian) 5x5",
                             tuple(tuple(24.0 if (r, c) == (2, 2) else -1.0 for c in range(5)) for r in range(5)),
                             "The same idea over a wider neighbourhood: thicker, less noisy edges."),
    "blur-3x3": KernelPreset("Blur (box) 3x3", tuple(tuple(round(1 / 9, 6) for _ in range(3)) for _ in range(3)),
                             "Averages each 3x3 neighbourhood: removes fine detail."),
    "blur-5x5": KernelPreset("Blur (Gaussian) 5x5", _GAUSS5,
                             "A weighted average with weights falling off from the centre (binomial 1-4-6-4-1)."),
    "sharpen-3x3": KernelPreset("Sharpen 3x3", ((0, -1, 0), (-1, 5, -1), (0, -1, 0)),
                                "The pixel plus its difference to its 4 neighbours: edges get stronger."),
    "sharpen-5x5": KernelPreset("Sharpen (unsharp mask) 5x5",
                                tuple(tuple(round((2.0 if (r, c) == (2, 2) else 0.0) - _GAUSS5[r][c], 6)
                                            for c in range(5)) for r in range(5)),
                                "2 x image - Gaussian blur: adds back the detail the blur removes."),
    "sobel-x-3x3": KernelPreset("Sobel x 3x3", ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)),
                                "Horizontal gradient: positive where the image gets brighter to the right "
                                "(vertical edges)."),
    "sobel-y-3x3": KernelPreset("Sobel y 3x3", ((-1, -2, -1), (0, 0, 0), (1, 2, 1)),
                                "Vertical gradient: positive where the image gets brighter downwards "
                                "(horizontal edges)."),
    "sobel-x-5x5": KernelPreset("Sobel x 5x5", _SOBEL5_X, "A 5x5 Sobel: the horizontal gradient, smoothed more."),
    "sobel-y-5x5": KernelPreset("Sobel y 5x5", tuple(zip(*_SOBEL5_X)),
                                "A 5x5 Sobel: the vertical gradient, smoothed more."),
}


@dataclass(frozen=True)
class ConvSettings:
    """Stride, padding, dilation and bias of the single-kernel convolution explorer."""

    stride: int = 1      # step between neighbouring windows
    padding: int = 0     # zeros added around the input on every side
    dilation: int = 1    # spacing between the kernel's taps (1 = dense)
    bias: float = 0.0    # b, added to every output

    def validate(self, kernel_size: int, height: int, width: int) -> None:
        """Raise InvalidConfig when these settings cannot produce an output for this input."""
        if not 1 <= self.stride <= 16 or not 0 <= self.padding <= 32 or not 1 <= self.dilation <= 8:
            raise InvalidConfig("Stride must be 1..16, padding 0..32 and dilation 1..8")
        if not np.isfinite(self.bias):
            raise InvalidConfig("The bias must be a finite number")
        span = self.dilation * (kernel_size - 1) + 1
        if span > min(height, width) + 2 * self.padding:
            raise InvalidConfig(f"The kernel spans {span}x{span} pixels (kernel {kernel_size}, dilation "
                                f"{self.dilation}) but the padded input is only {height + 2 * self.padding}x"
                                f"{width + 2 * self.padding}: use a smaller kernel/dilation or more padding.")


def check_kernel(kernel: torch.Tensor | list | np.ndarray) -> torch.Tensor:
    """A square k x k float kernel (k in 1..9) with finite numbers, else InvalidConfig."""
    if isinstance(kernel, torch.Tensor):
        tensor = kernel.detach().to(torch.float32).cpu()
    else:
        tensor = torch.tensor(np.array(kernel, dtype=np.float64), dtype=torch.float32)
    if tensor.ndim != 2 or tensor.shape[0] != tensor.shape[1] or not 1 <= tensor.shape[0] <= 9:
        raise InvalidConfig(f"The kernel must be a square grid of 1x1 to 9x9 numbers, got shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise InvalidConfig("Every kernel entry must be a number (an empty or non-numeric cell was found)")
    return tensor


def image_to_gray(image: Image.Image, max_side: int | None = None) -> torch.Tensor:
    """A PIL image -> H x W float tensor in [0, 1] (luminance), downscaled so max(H, W) <= max_side."""
    gray = image.convert("L")
    if max_side is not None and max(gray.size) > max_side:
        scale = max_side / max(gray.size)
        gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
                           Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(gray, dtype=np.float32) / 255.0)  # H x W


def convolve(image: torch.Tensor, kernel: torch.Tensor, settings: ConvSettings) -> torch.Tensor:
    """One kernel over a H x W image with torch.nn.functional.conv2d (zero padding) -> H_out x W_out."""
    kernel = check_kernel(kernel)
    settings.validate(kernel.shape[0], *image.shape)
    out = F.conv2d(image[None, None].float(), kernel[None, None], bias=torch.tensor([float(settings.bias)]),
                   stride=settings.stride, padding=settings.padding, dilation=settings.dilation)
    return out[0, 0]  # H_out x W_out


OUTPUT_SIZE_GENERAL = (r"\text{out} = \left\lfloor \frac{\text{in} + 2p - d\,(k-1) - 1}{s} \right\rfloor + 1"
                       r"\qquad(\lceil\,\rceil \text{ with ceil\_mode})")


def output_size_latex(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                      ceil_mode: bool = False, symbol: str = "H") -> str:
    """PyTorch's output-size formula for one dimension as LaTeX, with the numbers filled in and the result."""
    result = conv_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    left, right = (r"\left\lceil", r"\right\rceil") if ceil_mode else (r"\left\lfloor", r"\right\rfloor")
    text = (rf"{symbol}_{{out}} = {left} \frac{{{size} + 2\cdot{padding} - {dilation}\cdot({kernel}-1) - 1}}"
            rf"{{{stride}}} {right} + 1 = {result}")
    numerator = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode and -(-numerator // stride) + 1 != result:
        text += r"\quad(\text{the last window would start in the padding: dropped})"
    return text


@dataclass(frozen=True)
class PatchProduct:
    """The dot product W^T x + b behind one output value, number by number."""

    row: int                 # output position
    col: int
    rows: tuple[int, ...]    # input rows the kernel taps read (negative / >= H: padding)
    cols: tuple[int, ...]
    patch: torch.Tensor      # k x k input values under the kernel (0 in the padding)
    kernel: torch.Tensor     # k x k weights
    products: torch.Tensor   # k x k element-wise products
    bias: float
    total: float             # sum(products) + bias = the output map's value at (row, col)

    def terms_text(self, digits: int = 3) -> str:
        """'(w1 × x1) + (w2 × x2) + ... + b = total', every number written out."""
        terms = [f"({w:.{digits}g} × {x:.{digits}g})" for w, x in zip(self.kernel.flatten().tolist(),
                                                                      self.patch.flatten().tolist())]
        return " + ".join(terms) + f" + {self.bias:.{digits}g} = {self.total:.{digits + 1}g}"


def patch_product(image: torch.Tensor, kernel: torch.Tensor, settings: ConvSettings, row: int, col: int
                  ) -> PatchProduct:
    """The patch, kernel and products that give output[row, col] of convolve(image, kernel, settings)."""
    kernel = check_kernel(kernel)
    k = kernel.shape[0]
    settings.validate(k, *image.shape)
    s, p, d = settings.stride, settings.padding, settings.dilation
    h_out = conv_output_size(image.shape[0], k, s, p, d)
    w_out = conv_output_size(image.shape[1], k, s, p, d)
    if not (0 <= row < h_out and 0 <= col < w_out):
        raise InvalidConfig(f"Output position ({row}, {col}) is outside the {h_out}x{w_out} output map")
    padded = F.pad(image.float(), (p, p, p, p))  # (H + 2p) x (W + 2p), zeros around
    top, left = row * s, col * s  # window's top-left corner in the padded image
    patch = padded[top: top + d * (k - 1) + 1: d, left: left + d * (k - 1) + 1: d]  # k x k
    products = kernel * patch
    total = float(products.sum() + settings.bias)
    return PatchProduct(row, col, tuple(top - p + d * i for i in range(k)), tuple(left - p + d * j for j in range(k)),
                        patch, kernel, products, float(settings.bias), total)


def window_overlay(image: torch.Tensor, step: PatchProduct, settings: ConvSettings
                   ) -> tuple[torch.Tensor, tuple[int, int, int, int], list[tuple[int, int]] | None]:
    """The zero-padded H x W image, the step's window as (top, left, bottom, right) in padded
    coordinates, and its dilated taps (None without dilation): what to_display draws."""
    p = settings.padding
    padded = F.pad(image, (p, p, p, p))  # (H + 2p) x (W + 2p)
    box = (step.rows[0] + p, step.cols[0] + p, step.rows[-1] + p, step.cols[-1] + p)
    taps = [(r + p, c + p) for r in step.rows for c in step.cols] if settings.dilation > 1 else None
    return padded, box, taps


def to_display(values: torch.Tensor, target_side: int = 320, boxes: list[tuple[int, int, int, int]] | None = None,
               taps: list[tuple[int, int]] | None = None) -> Image.Image:
    """H x W values (or 3 x H x W in [0, 1]) -> RGB PIL image, min-max normalized, upscaled with nearest pixels.

    `boxes` are (top, left, bottom, right) rectangles and `taps` (row, col) pixels, both in input
    coordinates (they may reach into the padding), drawn in red so a window can be seen.
    """
    if values.ndim == 3:
        array = (values.permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    else:
        lo, hi = float(values.min()), float(values.max())
        scaled = (values - lo) / (hi - lo) if hi > lo else torch.full_like(values, 0.5)
        array = np.repeat((scaled.numpy() * 255).astype(np.uint8)[..., None], 3, axis=2)
    height, width = array.shape[:2]
    scale = max(1, target_side // max(height, width))
    image = Image.fromarray(array).resize((width * scale, height * scale), Image.Resampling.NEAREST)
    if boxes or taps:
        draw = ImageDraw.Draw(image)
        for top, left, bottom, right in boxes or []:
            draw.rectangle([left * scale, top * scale, (right + 1) * scale - 1, (bottom + 1) * scale - 1],
                           outline=(230, 30, 30), width=max(1, scale // 4 + 1))
        for r, c in taps or []:
            if 0 <= r < height and 0 <= c < width:
                cx, cy, radius = (c + 0.5) * scale, (r + 0.5) * scale, max(1.0, scale / 4)
                draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=(230, 30, 30))
    return image


def digit_image(pixels: torch.Tensor) -> Image.Image:
    """A 1 x H x W tensor of [0, 1] pixels (e.g. dataset.denormalize(x)) -> RGB PIL image."""
    array = (pixels[0].clamp(0, 1).numpy() * 255).astype(np.uint8)
    return Image.fromarray(array, mode="L").convert("RGB")


# ---------------------------------------------------------------- activations


def activation_curves(names: list[str] | tuple[str, ...], x_min: float = -4.0, x_max: float = 4.0,
                      points: int = 401) -> pd.DataFrame:
    """Tidy frame (activation, x, curve, value): f(x) and f'(x) of each activation, f' by autograd."""
    if not x_min < x_max or not 2 <= points <= 5000:
        raise InvalidConfig("Need x_min < x_max and 2..5000 points")
    rows = []
    for name in names:
        x = torch.linspace(x_min, x_max, points, requires_grad=True)  # points
        y = make_activation(name)(x)
        (grad,) = torch.autograd.grad(y.sum(), x)  # dy_i/dx_i: activations act element-wise
        xs, ys, gs = x.detach().numpy(), y.detach().numpy(), grad.numpy()
        rows.append(pd.DataFrame({"activation": name, "x": xs, "curve": "f(x)", "value": ys}))
        rows.append(pd.DataFrame({"activation": name, "x": xs, "curve": "f'(x)", "value": gs}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["activation", "x", "curve", "value"])


def apply_activation(name: str, values: torch.Tensor) -> torch.Tensor:
    """The registry activation applied to a tensor (e.g. a feature map)."""
    with torch.no_grad():
        return make_activation(name)(values)


def dead_relu_report(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, bias_shift: float = 0.0
                     ) -> pd.DataFrame:
    """Dying ReLU, measured: shift every conv bias by `bias_shift` and count units that never fire.

    A unit is one output value (channel, row, col) of a ReLU layer; it is dead on this batch when
    it is 0 for every image. A channel whose every unit is dead passes no gradient to the weights
    of its convolution, so it cannot recover: `zero_grad_channels` counts the conv output channels
    whose weight gradient (cross-entropy on the batch) is exactly zero. The model is copied, never
    modified. Returns one row per ReLU layer: layer, after, units, dead_units, dead_fraction,
    channels, dead_channels, zero_grad_channels.
    """
    work = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in work.modules():
            if isinstance(module, nn.Conv2d) and module.bias is not None:
                module.bias += bias_shift
    names = [name for name, m in work.named_modules() if isinstance(m, nn.ReLU)]
    if not names:
        raise InvalidConfig("This model has no ReLU layers")
    previous = {}
    last = None
    for name, module in work.named_modules():
        if list(module.children()):
            continue
        if isinstance(module, nn.ReLU):
            previous[name] = last
        elif name:
            last = (name, module)
    with capture_forward(work, names, eval_mode=False, keep_graph=True) as calls:
        work.zero_grad()
        loss = F.cross_entropy(work(images), labels)
        loss.backward()
    outputs = {call.name: call.output for call in calls}  # the last call of each ReLU
    rows = []
    for name in names:
        out = outputs[name].detach()  # N x C x H x W or N x F
        dead = (out <= 0).all(dim=0)  # C x H x W or F
        channels = out.shape[1]
        dead_channels = int(dead.reshape(channels, -1).all(dim=1).sum())
        before_name, before = previous[name] or ("", None)
        zero_grad = None
        if isinstance(before, nn.Conv2d) and before.weight.grad is not None:
            zero_grad = int((before.weight.grad.reshape(channels, -1).abs().sum(dim=1) == 0).sum())
        rows.append({"layer": name, "after": f"{before_name} ({type(before).__name__})" if before else "",
                     "units": int(dead.numel()), "dead_units": int(dead.sum()),
                     "dead_fraction": float(dead.float().mean()), "channels": channels,
                     "dead_channels": dead_channels, "zero_grad_channels": zero_grad})
    return pd.DataFrame(rows)


def dead_relu_sweep(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, shifts: list[float]
                    ) -> pd.DataFrame:
    """dead_relu_report for several bias shifts, stacked with a 'bias_shift' column (tidy)."""
    frames = [dead_relu_report(model, images, labels, s).assign(bias_shift=float(s)) for s in shifts]
    return pd.concat(frames, ignore_index=True)


def relu_stage_labels(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, str]:
    """ReLU module name -> the LeNet-style stage it follows, with its output shape, e.g. 'C1 (6@28x28)'.

    Stages are numbered as in LeCun et al. (1998): C = convolution, S = sub-sampling (pooling),
    F = fully-connected, counted in forward order; shapes come from one forward pass of zeros.
    """
    with capture_forward(model, keep_outputs=False) as calls, torch.no_grad():
        model(torch.zeros(1, *input_shape))
    labels: dict[str, str] = {}
    stage, last = 0, None
    for call in calls:
        kind = ("C" if isinstance(call.module, nn.Conv2d) else
                "S" if isinstance(call.module, (nn.MaxPool2d, nn.AvgPool2d)) else
                "F" if isinstance(call.module, nn.Linear) else None)
        if kind is not None:
            stage += 1
            last = f"{kind}{stage}"
        if isinstance(call.module, nn.ReLU) and last is not None:
            shape = call.output_shape[1:]
            labels[call.name] = f"{last} ({shape[0]}@{'x'.join(map(str, shape[1:]))})" if len(shape) == 3 \
                else f"{last} ({shape[0]})"
    return labels


# ---------------------------------------------------------------- pooling


@dataclass(frozen=True)
class PoolSettings:
    """MaxPool2d / AvgPool2d parameters (stride None = kernel_size, as in PyTorch)."""

    kernel_size: int = 2
    stride: int | None = None
    padding: int = 0
    dilation: int = 1        # MaxPool2d only: AvgPool2d has no dilation
    ceil_mode: bool = False  # round the output size up instead of down

    @property
    def step(self) -> int:
        """The effective stride."""
        return self.stride or self.kernel_size

    def output_size(self, size: int, kind: str = "max") -> int:
        """Output height/width for an input of `size` pixels."""
        return conv_output_size(size, self.kernel_size, self.step, self.padding,
                                self.dilation if kind == "max" else 1, self.ceil_mode)

    def validate(self, height: int, width: int, kind: str = "max") -> None:
        """Raise InvalidConfig for combinations PyTorch refuses."""
        k, p = self.kernel_size, self.padding
        if not 1 <= k <= 16 or not 1 <= self.step <= 16 or not 1 <= self.dilation <= 8 or p < 0:
            raise InvalidConfig("Kernel and stride must be 1..16, dilation 1..8, padding >= 0")
        if p > k // 2:
            raise InvalidConfig(f"Padding {p} is more than half the kernel size {k}: PyTorch requires "
                                f"padding <= kernel_size / 2 for pooling.")
        for size in (height, width):
            if self.output_size(size, kind) < 1:
                raise InvalidConfig(f"A {k}x{k} window (dilation {self.dilation if kind == 'max' else 1}) does not "
                                    f"fit the {height}x{width} map with padding {p}.")


@dataclass(frozen=True)
class PoolResult:
    """A pooled map; for max pooling also the flat input index that won each output."""

    kind: str
    output: torch.Tensor          # H_out x W_out
    indices: torch.Tensor | None  # H_out x W_out flat indices into the H x W input (max only)


def pool(values: torch.Tensor, kind: str, settings: PoolSettings) -> PoolResult:
    """Max ('max', with return_indices=True) or average ('avg') pooling of an H x W map with PyTorch."""
    if kind not in ("max", "avg"):
        raise InvalidConfig("Pooling kind must be 'max' or 'avg'")
    settings.validate(*values.shape, kind=kind)
    x = values[None, None].float()  # 1 x 1 x H x W
    if kind == "max":
        out, idx = F.max_pool2d(x, settings.kernel_size, settings.step, settings.padding, settings.dilation,
                                ceil_mode=settings.ceil_mode, return_indices=True)
        return PoolResult(kind, out[0, 0], idx[0, 0])
    out = F.avg_pool2d(x, settings.kernel_size, settings.step, settings.padding, ceil_mode=settings.ceil_mode)
    return PoolResult(kind, out[0, 0], None)


def winners_frame(result: PoolResult, input_width: int) -> pd.DataFrame:
    """One row per output cell of a max pool: out_row, out_col, value, in_row, in_col of the winner."""
    if result.indices is None:
        raise InvalidConfig("Only max pooling has winners")
    rows = []
    for (r, c), flat in np.ndenumerate(result.indices.numpy()):
        rows.append({"out_row": r, "out_col": c, "value": float(result.output[r, c]),
                     "in_row": int(flat) // input_width, "in_col": int(flat) % input_width})
    return pd.DataFrame(rows)


def win_counts(result: PoolResult, input_shape: tuple[int, int]) -> torch.Tensor:
    """H x W: how many output cells each input position won (overlapping windows can win twice)."""
    if result.indices is None:
        raise InvalidConfig("Only max pooling has winners")
    counts = torch.zeros(input_shape[0] * input_shape[1], dtype=torch.int64)
    counts.scatter_add_(0, result.indices.flatten(), torch.ones(result.indices.numel(), dtype=torch.int64))
    return counts.view(*input_shape)


def sample_feature_map(size: int = 6, seed: int = 0, low: int = 0, high: int = 9) -> torch.Tensor:
    """A small size x size map of integers in [low, high] (seeded): easy to check a pool by eye."""
    if not 2 <= size <= 16:
        raise InvalidConfig("The feature map size must be 2..16")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, (size, size), generator=generator).float()


# ---------------------------------------------------------------- fully-connected and input layers


def lecture_flatten_walkthrough(image_size: int = 12, in_channels: int = 3) -> tuple[pd.DataFrame, int]:
    """Shapes through the lecture's ConvNet at C x S x S, measured with hooks, and the flatten size.

    Returns (frame with step, code, output_shape, how, params; the number of flattened features).
    """
    if not 4 <= image_size <= 64 or not 1 <= in_channels <= 4:
        raise InvalidConfig("The lecture ConvNet needs an image size of 4..64 and 1..4 channels")
    model = LectureConvNet(in_channels=in_channels, image_size=image_size)
    with capture_forward(model) as calls, torch.no_grad():
        model(torch.zeros(1, in_channels, image_size, image_size))
    by_name = {call.name: call for call in calls}
    conv_side = conv_output_size(image_size, 3)
    pool_side = conv_output_size(conv_side, 2, 2)
    flat = 16 * pool_side * pool_side

    def shape(name: str) -> str:
        return " x ".join(str(v) for v in by_name[name].output_shape[1:])

    rows = [
        {"step": "input", "code": "x", "output_shape": f"{in_channels} x {image_size} x {image_size}",
         "how": f"{in_channels} channels of {image_size} x {image_size} pixels", "params": 0},
        {"step": "conv", "code": f"nn.Conv2d({in_channels}, 16, 3)", "output_shape": shape("conv"),
         "how": f"({image_size} + 2·0 − 1·(3−1) − 1) / 1 + 1 = {conv_side}: a 3x3 kernel loses 1 pixel a side",
         "params": sum(p.numel() for p in model.conv.parameters())},
        {"step": "relu", "code": "nn.ReLU()", "output_shape": shape("relu"), "how": "element-wise: same shape",
         "params": 0},
        {"step": "pool", "code": "nn.AvgPool2d(2, 2)", "output_shape": shape("pool"),
         "how": f"⌊({conv_side} − 2) / 2⌋ + 1 = {pool_side}: 2x2 windows with stride 2 halve the size",
         "params": 0},
        {"step": "flatten", "code": f"x.view(-1, 16 * {pool_side} * {pool_side})", "output_shape": str(flat),
         "how": f"16 channels x {pool_side} x {pool_side} values = {flat} numbers in one vector", "params": 0},
        {"step": "fc", "code": f"nn.Linear(16 * {pool_side} * {pool_side}, 60)", "output_shape": shape("fc"),
         "how": f"every output sees all {flat} inputs: {flat} x 60 weights + 60 biases",
         "params": sum(p.numel() for p in model.fc.parameters())},
    ]
    return pd.DataFrame(rows), flat


def rgb_channels(photo: Image.Image, size: tuple[int, int] = (240, 160)) -> list[torch.Tensor]:
    """The photo shrunk to `size` (W, H) as three 3 x H x W images in [0, 1], each holding only
    its own channel (R, G, B), so each can be drawn in its colour."""
    rgb = torch.from_numpy(np.array(photo.convert("RGB").resize(size), dtype=np.float32) / 255).permute(2, 0, 1)
    tinted = []
    for c in range(3):
        one = torch.zeros_like(rgb)  # 3 x H x W
        one[c] = rgb[c]
        tinted.append(one)
    return tinted


def pixel_frame(values: torch.Tensor) -> pd.DataFrame:
    """An H x W tensor as a tidy frame (row, col, value): one row per pixel, for a heat map."""
    rows, cols = values.shape
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    return pd.DataFrame({"row": r.flatten().numpy(), "col": c.flatten().numpy(),
                         "value": values.flatten().double().numpy()})


def describe_tensors(tensors: dict[str, torch.Tensor]) -> pd.DataFrame:
    """shape, dtype, min, max, mean, std of each named tensor (one row each)."""
    rows = []
    for name, t in tensors.items():
        rows.append({"tensor": name, "shape": " x ".join(map(str, t.shape)),
                     "dtype": str(t.dtype).replace("torch.", ""),
                     "min": float(t.min()), "max": float(t.max()), "mean": float(t.mean()),
                     "std": float(t.std()) if t.numel() > 1 else 0.0})
    return pd.DataFrame(rows)


def activation_names() -> list[str]:
    """The activation registry's keys (ReLU, LeakyReLU, ELU, GELU, tanh, sigmoid)."""
    return list(ACTIVATIONS)
