"""Receptive fields against autograd: a unit's field is the extent of its non-zero input gradient.

The reference is measured, never computed: a copy of the network with positive weights (so nothing
cancels), activations replaced by the identity (ReLU's gradient at 0 is 0) and max-pooling replaced by
a sum over the same windows (a max sends its gradient to one pixel only) is differentiated with respect
to the input, one unit at a time, and the bounding box of the non-zero gradient is compared with the
analytic field (cnn_core.inspect.field_trace, layer_summary, field_geometry), unit by unit.
"""
from __future__ import annotations

import copy
import random

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from cnn_core.inspect.field_trace import trace_fields
from cnn_core.inspect.receptive_field import FieldBox, effective_field, field_geometry, theoretical_geometry
from cnn_core.inspect.summary import layer_summary
from cnn_core.models import LayerSpec, build_from_specs
from cnn_core.vision import segmentation as seg

Box = tuple[tuple[int, int], tuple[int, int]] | None   # ((first row, last row), (first col, last col))


class SumPool(nn.Module):
    """The windows of a MaxPool2d (kernel, stride, padding, dilation, ceil_mode), summed: every pixel counts."""

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s, p, d = (_pair(getattr(self.pool, a)) for a in ("kernel_size", "stride", "padding", "dilation"))
        h, w = self.pool(x).shape[-2:]                       # the real output size (ceil_mode included)
        extra = [max(0, (n - 1) * s[a] + d[a] * (k[a] - 1) + 1 - (x.shape[2 + a] + 2 * p[a]))
                 for a, n in enumerate((h, w))]
        padded = F.pad(x, (p[1], p[1] + extra[1], p[0], p[0] + extra[0]))
        cols = F.unfold(padded, k, dilation=d, stride=s)     # N x C*kh*kw x L
        return cols.view(x.shape[0], x.shape[1], k[0] * k[1], -1).sum(2).view(x.shape[0], x.shape[1], h, w)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


def measurable(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy whose input gradient is non-zero exactly where a unit can be reached (see the module doc)."""
    fresh = copy.deepcopy(model).eval()
    for module in list(fresh.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.Hardswish)):
                setattr(module, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(module, name, SumPool(child))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in fresh.parameters():
            p.copy_(torch.rand(p.shape, generator=g) + 0.5)   # in [0.5, 1.5): no cancellation, no underflow
    return fresh.eval()


def measured_boxes(model: nn.Module, x: torch.Tensor, units: list[tuple[int, int]], layer: str | None = None
                   ) -> list[Box]:
    """Bounding box of the non-zero input gradient of each unit (channel 0, row, col) of `layer` (default: the
    output), one forward pass and one backward pass per unit."""
    image = x.clone().requires_grad_(True)
    outputs: list[torch.Tensor] = []
    handle = model.get_submodule(layer).register_forward_hook(lambda m, i, o: outputs.append(o)) if layer else None
    try:
        out = model(image)
    finally:
        if handle is not None:
            handle.remove()
    target = outputs[0] if layer else out
    boxes: list[Box] = []
    for row, col in units:
        (grad,) = torch.autograd.grad(target[0, 0, row, col], image, retain_graph=True)
        rows, cols = torch.nonzero(grad[0].abs().sum(0) > 0, as_tuple=True)
        found = len(rows) > 0
        boxes.append(((int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))) if found else None)
    return boxes


def analytic_boxes(model: nn.Module, shape: tuple[int, int, int], units: list[tuple[int, int]]) -> dict:
    """The analytic field of output units: {(row, col): Box}."""
    tracer, node, _ = trace_fields(model, shape)
    found = tracer.intervals({node: ([r for r, _ in units], [c for _, c in units])})[node]
    return {(r, c): None if found[0][r] is None or found[1][c] is None else (found[0][r], found[1][c])
            for r, c in units}


def inside(box: Box, shape: tuple[int, int, int]) -> bool:
    return box is None or (box[0][0] >= 0 and box[1][0] >= 0 and box[0][1] < shape[1] and box[1][1] < shape[2])


class Resize(nn.Module):
    """F.interpolate to a given size (not a scale factor), as segmentation heads do."""

    def __init__(self, size: int, mode: str, align_corners: bool | None) -> None:
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(self.size, self.size), mode=self.mode, align_corners=self.align_corners)


def random_layer(rng: random.Random, side: int) -> tuple[nn.Module, str]:
    """One random layer of 2 channels that moves fields (with a readable description)."""
    kind = rng.choice(["conv", "conv", "maxpool", "avgpool", "convT", "convT", "upsample", "resize"])
    if kind == "conv":
        k, s, d = rng.randint(1, 5), rng.randint(1, 2), rng.randint(1, 2)
        p = rng.randint(0, d * (k - 1) // 2 + 1)
        return nn.Conv2d(2, 2, k, stride=s, padding=p, dilation=d), f"conv k{k} s{s} p{p} d{d}"
    if kind == "maxpool":
        k, d = rng.randint(2, 3), rng.randint(1, 2)
        s, p, ceil = rng.randint(1, 2), rng.randint(0, k // 2), rng.random() < 0.5
        return nn.MaxPool2d(k, s, p, d, ceil_mode=ceil), f"maxpool k{k} s{s} p{p} d{d} ceil{ceil}"
    if kind == "avgpool":
        k = rng.randint(2, 3)
        s, p, ceil = rng.randint(1, 2), rng.randint(0, k // 2), rng.random() < 0.5
        return nn.AvgPool2d(k, s, p, ceil_mode=ceil), f"avgpool k{k} s{s} p{p} ceil{ceil}"
    if kind == "convT":
        k, s, d = rng.randint(1, 4), rng.randint(1, 3), rng.randint(1, 2)
        p = rng.randint(0, d * (k - 1))
        op = rng.randint(0, max(s, d) - 1)
        return (nn.ConvTranspose2d(2, 2, k, stride=s, padding=p, output_padding=op, dilation=d),
                f"convT k{k} s{s} p{p} op{op} d{d}")
    if kind == "upsample":
        mode = rng.choice(["nearest", "bilinear"])
        align = rng.choice([None, True]) if mode == "bilinear" else None
        scale = rng.choice([2, 2, 3])
        return nn.Upsample(scale_factor=scale, mode=mode, align_corners=align), f"upsample x{scale} {mode} {align}"
    mode = rng.choice(["nearest", "nearest-exact", "bilinear", "bilinear"])
    align = rng.choice([False, True]) if mode == "bilinear" else None
    size = max(4, side * rng.choice([3, 4, 5]) // rng.choice([2, 3]))
    return Resize(size, mode, align), f"resize {side}->{size} {mode} {align}"


def random_stack(seed: int, side: int = 48) -> tuple[nn.Sequential, list[str]]:
    """3 to 5 random field-moving layers whose maps stay between 6 and 160 pixels."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    layers, names, x = [nn.Conv2d(1, 2, 1)], ["conv 1x1 (channels)"], torch.zeros(1, 1, side, side)
    x = layers[0](x)
    while len(layers) < rng.randint(4, 6):
        layer, name = random_layer(rng, x.shape[-1])
        try:
            y = layer(x)
        except RuntimeError:   # an argument combination PyTorch refuses for this size: draw again
            continue
        if 6 <= y.shape[-1] <= 160:
            layers.append(layer)
            names.append(name)
            x = y
    return nn.Sequential(*layers).eval(), names


@pytest.mark.parametrize("seed", range(40))
def test_random_stacks_analytic_field_equals_the_input_gradient(seed):
    model, names = random_stack(seed)
    shape = (1, 48, 48)
    with torch.no_grad():
        h, w = model(torch.zeros(1, *shape)).shape[-2:]
    units = [(min(h - 1, max(0, h // 2 + k)), min(w - 1, max(0, w // 2 - k))) for k in range(-3, 4)]
    analytic = analytic_boxes(model, shape, units)
    units = [u for u in units if inside(analytic[u], shape)]  # a field reaching into the padding is larger
    assert len(units) >= 3, names                             # than any gradient on this image
    measured = measured_boxes(measurable(model, seed), torch.zeros(1, *shape), units)
    for unit, box in zip(units, measured):
        assert box == analytic[unit], (unit, names)


def test_random_stacks_cover_every_kind_of_layer():
    drawn = " ".join(" ".join(random_stack(seed)[1]) for seed in range(40))
    for word in ("conv k", "maxpool", "avgpool", "convT", "op1", "d2", "upsample", "nearest", "bilinear True",
                 "bilinear None", "resize", "nearest-exact", "ceilTrue"):
        assert word in drawn, word


def _central_extent(model: nn.Module, shape: tuple[int, int, int], spread: int = 4) -> int:
    """The largest measured field side among the output units around the centre."""
    with torch.no_grad():
        h, w = model(torch.zeros(1, *shape)).shape[-2:]
    units = [(h // 2 + k, w // 2 + k) for k in range(spread)]
    boxes = measured_boxes(measurable(model), torch.zeros(1, *shape), units)
    return max(max(b[0][1] - b[0][0] + 1, b[1][1] - b[1][0] + 1) for b in boxes)


NAMED = {  # conv 3x3 stride 2 -> the upsampling -> conv 3x3: the field the app showed, and the true one
    "bilinear x2": (nn.Upsample(scale_factor=2, mode="bilinear"), 7),
    "ConvTranspose k2 s2": (nn.ConvTranspose2d(1, 1, 2, stride=2), 5),
    "ConvTranspose k4 s2 p1": (nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1), 7),
}


@pytest.mark.parametrize("name", list(NAMED))
def test_named_upsampling_cases(name):
    upsample, true_size = NAMED[name]
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1), upsample, nn.Conv2d(1, 1, 3, padding=1)).eval()
    shape = (1, 32, 32)
    measured = _central_extent(model, shape)
    assert measured == true_size
    assert layer_summary(model, shape)["receptive_field"].iloc[-1] == measured


def test_summary_of_convtranspose_and_upsample_stack_equals_the_gradient():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ConvTranspose2d(4, 2, 2, stride=2),
                          nn.Upsample(scale_factor=2), nn.Conv2d(2, 1, 3, padding=1)).eval()
    table = layer_summary(model, (1, 8, 8))
    for i, size in enumerate(table["receptive_field"]):
        prefix = nn.Sequential(*list(model)[:i + 1]).eval()
        assert size == _central_extent(prefix, (1, 16, 16), spread=4), i


@pytest.mark.parametrize("depth,true_size", [(1, 18), (2, 44), (3, 100)])
def test_unet_field_equals_the_widest_gradient(depth, true_size):
    model = seg.UNet(1, 2, base=1, depth=depth).eval()
    side = 2 ** depth * 16
    shape = (1, side, side)
    units = [(side // 2 + k, side // 2 - k) for k in range(2 ** depth)]   # one whole period of output phases
    measured = measured_boxes(measurable(model), torch.zeros(1, *shape), units)
    widest = max(max(b[0][1] - b[0][0] + 1, b[1][1] - b[1][0] + 1) for b in measured)
    assert widest == true_size == seg.theoretical_receptive_field(depth)
    assert layer_summary(model, shape)["receptive_field"].iloc[-1] == widest
    analytic = analytic_boxes(model, shape, units)
    assert measured == [analytic[unit] for unit in units]   # the skips' union, unit by unit


def test_resnet18_square_sits_on_the_gradient():
    model = torchvision.models.resnet18(weights=None).eval()
    shape = (3, 224, 224)
    geometry = field_geometry(model, shape)
    probe, x = measurable(model), torch.zeros(1, *shape)
    for layer, unit in (("layer2.1.conv2", (14, 14)), ("layer2.0.downsample.0", (13, 15)),
                        ("layer3.0.conv1", (7, 6)), ("layer1.1.conv2", (20, 31))):
        box = geometry[layer].box(*unit)
        (measured,) = measured_boxes(probe, x, [unit], layer=layer)
        assert ((box.top, box.bottom - 1), (box.left, box.right - 1)) == measured, layer
    sizes = layer_summary(model, shape).set_index("layer")["receptive_field"]
    assert geometry["layer2.1.conv2"].size == sizes["layer2.1.conv2"]
    # the square the page draws for this unit: the gradient's rows, not 112 rows lower
    box = geometry["layer2.1.conv2"].box(14, 14)
    assert (box.top, box.bottom) == (63, 162)


def test_effective_field_square_equals_footprint_on_resnet18():
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    geometry = theoretical_geometry(model, (3, 224, 224), "layer2.1.conv2")   # of the real network
    field = effective_field(measurable(model), x, "layer2.1.conv2", 0, 14, 14, geometry=geometry)
    assert field.footprint == field.theoretical == FieldBox(63, 63, 162, 162)


class SmallResidual(nn.Module):
    """conv -> [3x3 s2 + 3x3] + [1x1 s2 shortcut] -> [3x3 + 3x3] + [identity] -> a shortcut off the centre."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.a1, self.a2 = nn.Conv2d(2, 2, 3, stride=2, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.short = nn.Conv2d(2, 2, 1, stride=2)
        self.b1, self.b2 = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.c = nn.Conv2d(2, 2, 3, padding=1)
        self.off = nn.Conv2d(2, 2, 3, padding=(0, 0))   # a shortcut whose window is not centred on the unit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.a2(self.a1(x)) + self.short(x)
        x = self.b2(self.b1(x)) + x
        return self.c(x)[..., 1:-1, 1:-1] + self.off(x)


def test_small_residual_net_geometry_follows_the_graph():
    model = SmallResidual().eval()
    shape = (1, 40, 40)
    geometry = field_geometry(model, shape)
    probe, x = measurable(model), torch.zeros(1, *shape)
    for layer in ("a2", "short", "b2", "c", "off"):
        units = [(9, 9), (8, 10)]
        for unit, measured in zip(units, measured_boxes(probe, x, units, layer=layer)):
            box = geometry[layer].box(*unit)
            assert ((box.top, box.bottom - 1), (box.left, box.right - 1)) == measured, (layer, unit)
    shape_out = model(torch.zeros(1, *shape)).shape[-2:]
    units = [(shape_out[0] // 2, shape_out[1] // 2), (shape_out[0] // 2 + 1, shape_out[1] // 2)]
    analytic = analytic_boxes(model, shape, units)
    # the slice and the addition of two differently placed branches
    assert measured_boxes(probe, x, units) == [analytic[unit] for unit in units]


def test_builder_net_with_upsampling_summary_and_square_equal_the_gradient():
    specs = (LayerSpec.of("conv", out_channels=2, kernel_size=3, stride=2, padding=1),
             LayerSpec.of("activation", name="relu"),
             LayerSpec.of("upsample", scale_factor=2, mode="bilinear"),
             LayerSpec.of("conv", out_channels=2, kernel_size=3, padding=1),
             LayerSpec.of("convtranspose", out_channels=2, kernel_size=2, stride=2),
             LayerSpec.of("conv", out_channels=2, kernel_size=3, padding=1))
    shape = (1, 24, 24)
    model = build_from_specs(specs, shape).eval()
    table = layer_summary(model, shape).set_index("layer")["receptive_field"]
    geometry = field_geometry(model, shape)
    probe, x = measurable(model), torch.zeros(1, *shape)
    for name, g in geometry.items():
        h = len(g.rows)
        widest = 0
        units = [(h // 2, h // 2), (h // 2 + 1, h // 2 + 1), (h // 2 - 1, h // 2 + 2)]
        for unit, measured in zip(units, measured_boxes(probe, x, units, layer=name)):
            box = g.box(*unit)
            assert ((box.top, box.bottom - 1), (box.left, box.right - 1)) == measured, (name, unit)
            widest = max(widest, box.bottom - box.top)
        assert table[name] == g.size == widest, name
