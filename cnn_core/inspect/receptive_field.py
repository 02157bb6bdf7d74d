"""Effective receptive fields: which input pixels one output unit of a conv layer really depends on.

The *theoretical* receptive field of a unit is the box of input pixels that can reach it at all,
followed unit by unit along the real graph (cnn_core.inspect.field_trace; the layer's largest one is
`layer_summary`'s receptive_field column). With weights that cannot cancel it is exactly the extent of
the unit's non-zero input gradient, wherever it lies inside the image. The *effective* field
(Luo et al. 2016) is the input gradient of that unit: pixels near the centre matter far more than those at the edge, so it is smaller than the theoretical
square and grows with training. Models are treated as read-only (gradients are taken with respect to
a copy of the input only; hooks removed in `finally`; the pass runs under the model's lock).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.inspect.feature_maps import model_lock
from cnn_core.inspect.field_trace import FieldTracer
from cnn_core.inspect.hooks import eval_mode

_FIELD_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d, nn.Upsample)


@dataclass(frozen=True)
class FieldBox:
    """A square of input pixels: rows top..bottom-1, columns left..right-1 (may reach into the padding)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self.bottom - self.top, self.right - self.left

    def clipped(self, height: int, width: int) -> FieldBox:
        """The part that lies inside an image of height x width."""
        return FieldBox(max(0, self.top), max(0, self.left), min(height, self.bottom), min(width, self.right))

    def contains(self, other: FieldBox) -> bool:
        """True when `other` lies completely inside this box."""
        return (self.top <= other.top and self.left <= other.left and other.bottom <= self.bottom
                and other.right <= self.right)


@dataclass(frozen=True)
class FieldGeometry:
    """The theoretical fields of one layer's units, exact per output row and column (any graph)."""

    name: str
    size: int       # the largest field side among the layer's units, in input pixels
    jump: float     # input pixels per output unit (input side / output side)
    start: float    # input row of the centre of output row 0's field
    rows: tuple[tuple[int, int] | None, ...] = ()   # first and last input row reached by each output row
    cols: tuple[tuple[int, int] | None, ...] = ()   # the same for columns (None: reaches nothing)

    def box(self, row: int, col: int) -> FieldBox:
        """The theoretical field of output unit (row, col): every input pixel it can reach."""
        if self.rows and self.cols:
            rows, cols = self.rows[row], self.cols[col]
            if rows is None or cols is None:   # a unit that reads no input (gaps of a dilated transposed conv)
                return FieldBox(0, 0, 0, 0)
            return FieldBox(rows[0], cols[0], rows[1] + 1, cols[1] + 1)
        half = (self.size - 1) / 2
        top, left = self.start + row * self.jump - half, self.start + col * self.jump - half
        return FieldBox(int(round(top)), int(round(left)), int(round(top)) + self.size, int(round(left)) + self.size)


def field_geometry(model: nn.Module, input_shape: tuple[int, int, int]) -> dict[str, FieldGeometry]:
    """The exact theoretical field of every unit after every conv, transposed conv, pooling and upsampling
    layer (first call, execution order), along the real graph of one forward pass.

    A unit's field is the bounding box of the input pixels any path can bring to it
    (cnn_core.inspect.field_trace): a residual shortcut and its main branch are followed separately and
    joined by union, so a 1x1 stride-2 shortcut does not double the jump a second time; a 2x2 stride-2
    transposed conv reads one input pixel per output pixel; bilinear x2 reads two per axis.
    """
    names = [n for n, m in model.named_modules() if n and isinstance(m, _FIELD_LAYERS)]
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    tracer = FieldTracer()
    found: dict[str, int] = {}
    handles = []

    def make_hook(name: str):
        def hook(_m: nn.Module, _i: tuple, out) -> None:
            node = tracer.node_of(out) if isinstance(out, torch.Tensor) else None
            if node is not None and not tracer.nodes[node].full:
                found.setdefault(name, node)
        return hook

    x = torch.zeros(1, *input_shape, device=device)
    with model_lock(model), eval_mode(model), torch.no_grad():
        try:
            handles = [model.get_submodule(n).register_forward_hook(make_hook(n)) for n in names]
            with tracer:
                tracer.mark_input(x)
                model(x)
        finally:
            for handle in handles:
                handle.remove()
    wanted = {node: tuple(list(range(side)) for side in tracer.nodes[node].shape) for node in found.values()}
    intervals = tracer.intervals(wanted)
    sizes = tracer.field_sizes(list(wanted), input_shape[1])
    geometry: dict[str, FieldGeometry] = {}
    for name, node in found.items():
        rows, cols = intervals[node]
        h = tracer.nodes[node].shape[0]
        first = rows[0]
        start = (first[0] + first[1]) / 2 if first is not None else 0.0
        geometry[name] = FieldGeometry(name, sizes[node], input_shape[1] / h, start,
                                       tuple(rows[i] for i in range(len(rows))),
                                       tuple(cols[j] for j in range(len(cols))))
    return geometry


def conv_layer_names(model: nn.Module) -> list[str]:
    """Names of the Conv2d modules (registration order); InvalidConfig when there are none."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not names:
        raise InvalidConfig("This network has no convolution layer (it is fully connected): receptive fields and "
                            "feature visualization need one. Pick a CNN such as LeNet-5.")
    return names


@dataclass(frozen=True)
class EffectiveField:
    """One unit's input-gradient magnitude next to its theoretical receptive field."""

    layer: str
    channel: int
    row: int
    col: int
    output_shape: tuple[int, int, int]  # C x h x w of the layer
    gradient: np.ndarray                # H x W: |d unit / d x| summed over input channels
    theoretical: FieldBox               # the full theoretical square (may extend past the image)
    footprint: FieldBox | None          # bounding box of the pixels with non-zero gradient (None: all zero)
    seconds: float

    def effective_side(self, mass: float = 0.9) -> int:
        """Side of the smallest square around the field centre holding `mass` of the gradient magnitude."""
        total = float(self.gradient.sum())
        if total <= 0:
            return 0
        box = self.theoretical
        cy, cx = (box.top + box.bottom - 1) / 2, (box.left + box.right - 1) / 2
        h, w = self.gradient.shape
        ys, xs = np.mgrid[0:h, 0:w]
        chebyshev = np.maximum(np.abs(ys - cy), np.abs(xs - cx)).ravel()   # square "radius" of every pixel
        order = np.argsort(chebyshev, kind="stable")
        cumulative = np.cumsum(self.gradient.ravel()[order]) / total
        radius = chebyshev[order][min(int(np.searchsorted(cumulative, mass)), len(order) - 1)]
        return int(round(2 * radius + (1 if float(cy).is_integer() else 0)))


class _Reached(Exception):
    """Raised by a hook to end the forward pass once the target layer has run (later layers are not needed)."""


def theoretical_geometry(model: nn.Module, input_shape: tuple[int, int, int], layer: str) -> FieldGeometry:
    """The exact theoretical fields of one layer's units (the same numbers as layer_summary's column)."""
    geometry = field_geometry(model, input_shape)
    if layer not in geometry:
        raise InvalidConfig(f"'{layer}' is not a convolution or pooling layer used in the forward pass")
    return geometry[layer]


def effective_field(model: nn.Module, x: torch.Tensor, layer: str, channel: int, row: int | None = None,
                    col: int | None = None, geometry: FieldGeometry | None = None) -> EffectiveField:
    """Gradient of conv layer `layer`'s output unit (channel, row, col) w.r.t. the input x (1 x C x H x W).

    row/col default to the centre unit. The layer's output before any activation is used, so a unit
    that ReLU switches off still has a field. `geometry` (theoretical_geometry of this model, input
    shape and layer) may be passed in to skip recomputing it for every unit.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise InvalidConfig(f"The receptive field takes one image as a 1 x C x H x W tensor, got {tuple(x.shape)}")
    if any(m.training for m in model.modules()):
        raise InvalidConfig("Put the model in eval mode first (dropout and batch statistics change the gradient)")
    try:
        module = model.get_submodule(layer)
    except AttributeError as exc:
        raise InvalidConfig(f"The model has no layer '{layer}'") from exc
    if not isinstance(module, nn.Conv2d):
        raise InvalidConfig(f"'{layer}' is a {type(module).__name__}, not a convolution layer")
    start = time.perf_counter()
    outputs: list[torch.Tensor] = []

    def hook(_m: nn.Module, _i: tuple, out: torch.Tensor) -> None:
        outputs.append(out)
        raise _Reached

    image = x.detach().clone().requires_grad_(True)  # our own leaf: no parameter gradient is written
    with model_lock(model), torch.enable_grad():
        handle = module.register_forward_hook(hook)
        try:
            model(image)
        except _Reached:
            pass
        finally:
            handle.remove()
        if not outputs:
            raise InvalidConfig(f"Layer '{layer}' is not used in the forward pass")
        out = outputs[0]                                     # 1 x C x h x w
        c, h, w = out.shape[1:]
        row, col = h // 2 if row is None else row, w // 2 if col is None else col
        if not (0 <= channel < c and 0 <= row < h and 0 <= col < w):
            raise InvalidConfig(f"Unit (channel {channel}, row {row}, col {col}) is outside {layer}'s {c} x {h} x "
                                f"{w} output")
        (grad,) = torch.autograd.grad(out[0, channel, row, col], image)
    gradient = grad[0].abs().sum(dim=0).numpy()              # C x H x W -> H x W
    theory = geometry or theoretical_geometry(model, tuple(x.shape[1:]), layer)
    rows, cols = np.nonzero(gradient > 0)
    footprint = (FieldBox(int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
                 if rows.size else None)
    return EffectiveField(layer, int(channel), int(row), int(col), (int(c), int(h), int(w)), gradient,
                          theory.box(row, col), footprint, time.perf_counter() - start)


def untrained_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy of the model with every layer re-initialized (seeded): same architecture, no training."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):  # the global RNG is left as it was
        torch.manual_seed(seed)
        for module in fresh.modules():
            if hasattr(module, "reset_parameters") and module is not fresh:
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return fresh.eval()


def field_picture(view: Image.Image, field: EffectiveField, size: int = 320) -> Image.Image:
    """The gradient magnitude over the input (enlarged to about `size` px) with the theoretical square drawn."""
    from cnn_core.inspect.attribution import overlay, robust_unit

    picture = overlay(view, robust_unit(field.gradient), 0.65, "inferno", size=size)
    scale = picture.width / view.width
    draw = ImageDraw.Draw(picture)
    box = field.theoretical.clipped(view.height, view.width)
    draw.rectangle([box.left * scale, box.top * scale, box.right * scale - 1, box.bottom * scale - 1],
                   outline=(0, 220, 255), width=2)
    return picture
