"""One registry entry per layer kind of the builder: everything the playground knows about that kind.

A `LayerKind` owns its parameters (default, valid range, the builder widget, which ones mean
"automatic"), its one-line explanation, its checks against the input shape (with a message that
says how to fix the layer), its output-shape formula, the `nn.Module` it builds, the PyTorch code it
generates, the parameters it reads back from a module (`specs_from_model`) and its short label.
Adding a layer kind = adding one entry to `LAYER_KINDS` (plus tests).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

from torch import nn

from cnn_core.errors import ArchitectureError
from cnn_core.models.activations import ACTIVATION_TYPES, ACTIVATIONS, activation_name, make_activation

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (F,) after flatten
Params = Mapping[str, Any]  # a layer's parameters, every one present (given or default)

MAX_LAYER_INT = 65_536  # no sensible layer parameter is larger; bigger numbers would overflow torch
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
UPSAMPLE_MODES = ("nearest", "bilinear")


@dataclass(frozen=True)
class Param:
    """One parameter of a layer kind: its default, its valid values and how the builder edits it."""

    default: Any
    type: str                        # "int", "number", "bool" or "choice"
    low: float = 0                   # smallest valid value ("int" / "number")
    high: float = MAX_LAYER_INT      # largest valid value
    choices: tuple[str, ...] = ()    # the valid values of a "choice"
    auto: str | None = None          # None (null) is valid and means automatic; the builder shows this text
    from_input: bool = False         # automatic = read from the input shape (dropped by specs_from_model)
    label: str | None = None         # the builder's label (default: the parameter's name)
    help: str | None = None          # the builder's tooltip
    ui_high: float | None = None     # the builder widget's upper bound (default: high)
    step: float | None = None        # the builder widget's step ("number")
    open_high: bool = False          # `high` itself is not valid (dropout's p < 1)

    def problem(self, value: Any) -> str | None:
        """What is wrong with a value ('must be ..., got ...'), or None when it is valid."""
        if value is None:
            return None if self.auto is not None else "must be set, got null"
        if self.type == "bool":
            return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
        if self.type == "choice":
            valid = isinstance(value, str) and value in self.choices
            return None if valid else f"must be one of {', '.join(self.choices)}, got {value!r}"
        numeric = (int,) if self.type == "int" else (int, float)
        if isinstance(value, numeric) and not isinstance(value, bool) and self.low <= value and (
                value < self.high if self.open_high else value <= self.high):
            return None
        if self.type == "int":
            return f"must be an integer from {self.low:,} to {self.high:,}, got {value!r}"
        interval = f"[{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"
        return f"must be a number in {interval}, got {value!r}"


def _no_check(p: Params, shape: Shape) -> None:
    return None


@dataclass(frozen=True)
class LayerKind:
    """A layer kind of the builder (see the module docstring); `p` below is a full parameter dict."""

    key: str
    label: str                                   # the builder's name for it, e.g. "Conv2d"
    explanation: str                             # one line for the builder
    params: Mapping[str, Param]                  # in the order the builder shows them
    modules: tuple[type[nn.Module], ...]         # the classes it is recognized by in any model
    output_shape: Callable[[Params, Shape], Shape]  # the formula; raises ArchitectureError on an empty map
    make: Callable[[Params, Shape], nn.Module]   # the module for a checked input shape
    code: Callable[[Params, Shape, Shape | None], str]  # the nn.* call (args: p, input shape, flattened-from)
    from_module: Callable[[nn.Module], dict[str, Any]]  # the parameters of an existing module
    describe: Callable[[Params], str]            # a short label, e.g. "Conv2d 5x5, 6 filters, pad 2"
    check: Callable[[Params, Shape], None] = _no_check  # input-shape checks; raise ArchitectureError with a fix
    spatial: bool = False                        # needs C x H x W feature maps
    flat_input: bool = False                     # needs a flat vector (a Flatten goes in front)
    prefix: str = ""                             # attribute prefix in nn.Module-style code: conv1, conv2, ...
    shared_attr: Callable[[Params], str] | None = None  # parameter-free: one attribute per setting, reused
    view: bool = False                           # written as x.view(-1, ...) in forward() (Flatten)

    @property
    def defaults(self) -> dict[str, Any]:
        """Every parameter's default (the keys are the only parameters the kind accepts)."""
        return {name: param.default for name, param in self.params.items()}

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The given parameters with every missing one at its default."""
        return {name: given.get(name, param.default) for name, param in self.params.items()}

    def problems(self, given: Mapping[str, Any]) -> list[str]:
        """'name must be ..., got ...' for each unknown or invalid parameter (empty when all are fine)."""
        unknown = sorted(set(given) - set(self.params))
        found = [f"has no parameter(s) {', '.join(unknown)}"] if unknown else []
        for name, param in self.params.items():
            problem = param.problem(given.get(name, param.default))
            if problem:
                found.append(f"{name} {problem}")
        return found

    def build(self, given: Mapping[str, Any], shape: Shape) -> tuple[nn.Module, Shape]:
        """(module, output shape by the formula) for an input shape; ArchitectureError says why and how to fix."""
        found = self.problems(given)
        if found:
            raise ArchitectureError("; ".join(found))
        p = self.resolve(given)
        if self.spatial and len(shape) != 3:
            raise ArchitectureError(f"needs C x H x W feature maps but gets a flat vector of {shape[0]} values: "
                                    "move it before the Flatten layer")
        if self.flat_input and len(shape) != 1:
            raise ArchitectureError(f"needs a flat vector but gets {'x'.join(map(str, shape))} feature maps: "
                                    "add a Flatten layer before it")
        self.check(p, shape)
        return self.make(p, shape), self.output_shape(p, shape)

    def spec_params(self, module: nn.Module) -> dict[str, Any]:
        """The parameters of a module as a builder layer: those read from the input shape left automatic."""
        return {name: value for name, value in self.from_module(module).items()
                if not self.params[name].from_input}


# ---------------------------------------------------------------- shared helpers


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """PyTorch's output-size formula: floor((size + 2p - d(k-1) - 1) / s + 1)."""
    numerator = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (math.ceil if ceil_mode else math.floor)(numerator / stride + 1)
    if ceil_mode and (out - 1) * stride >= size + padding:  # torch drops a window that starts in the padding
        out -= 1
    return int(out)


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0,
                               dilation: int = 1) -> int:
    """PyTorch's ConvTranspose2d formula: (size - 1) s - 2p + d(k - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _first(value: int | float | tuple) -> Any:
    return value[0] if isinstance(value, tuple) else value


def _keywords(p: Params, torch_defaults: Mapping[str, Any]) -> list[str]:
    """'name=value' for each parameter that differs from PyTorch's own default (generated code stays short)."""
    return [f"{name}={p[name]!r}" for name, default in torch_defaults.items() if p[name] != default]


def _label(head: str, extras: list[str]) -> str:
    return ", ".join([head] + [e for e in extras if e])


def _check_in_channels(p: Params, shape: Shape) -> None:
    c_in = shape[0]
    if p["in_channels"] is not None and p["in_channels"] != c_in:
        raise ArchitectureError(f"in_channels={p['in_channels']} but the previous layer outputs {c_in} channels: "
                                f"set in_channels to {c_in} or leave it empty (auto)")
    if c_in % p["groups"] or p["out_channels"] % p["groups"]:
        divisors = [g for g in range(1, math.gcd(c_in, p["out_channels"]) + 1)
                    if c_in % g == 0 and p["out_channels"] % g == 0]
        raise ArchitectureError(f"groups={p['groups']} must divide in_channels={c_in} and "
                                f"out_channels={p['out_channels']}: use groups "
                                f"{', '.join(map(str, divisors[-4:]))} or change out_channels")


def _check_window(p: Params, shape: Shape, what: str) -> None:
    """The (dilated) window must fit the padded input; the message names the largest kernel that fits."""
    k, pad, d = p["kernel_size"], p["padding"], p.get("dilation", 1)
    side = min(shape[1:])
    span = d * (k - 1) + 1
    if span <= side + 2 * pad:
        return
    max_k = (side + 2 * pad - 1) // d + 1
    fix = f"lower kernel_size to <= {max_k}"
    if what == "kernel":
        fix += f" or set padding to {math.ceil((span - side) / 2)}"
        raise ArchitectureError(f"the kernel spans {span}x{span} pixels (kernel {k}, dilation {d}) but the padded "
                                f"input is only {side + 2 * pad}x{side + 2 * pad}: {fix}")
    raise ArchitectureError(f"the {k}x{k} window does not fit the {shape[1]}x{shape[2]} input: {fix}")


def _empty(formula: str, numbers: str, size: int, fix: str) -> ArchitectureError:
    return ArchitectureError(f"the output would be {size} pixels wide: {formula} = {numbers} = {size}: {fix}")


# ---------------------------------------------------------------- convolution


def _conv_check(p: Params, shape: Shape) -> None:
    _check_in_channels(p, shape)
    _check_window(p, shape, "kernel")
    if p["padding_mode"] == "reflect" and p["padding"] >= min(shape[1:]):
        raise ArchitectureError(f"reflect padding {p['padding']} needs an input larger than {p['padding']} pixels: "
                                f"lower padding to <= {min(shape[1:]) - 1} or use padding_mode zeros")


def _conv_shape(p: Params, shape: Shape) -> Shape:
    return (p["out_channels"],) + tuple(
        conv_output_size(s, p["kernel_size"], p["stride"], p["padding"], p["dilation"]) for s in shape[1:])


_CONV_TORCH_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True,
                        "padding_mode": "zeros"}


def _conv_extras(p: Params) -> list[str]:
    return [f"stride {p['stride']}" if p["stride"] != 1 else "", f"pad {p['padding']}" if p["padding"] else "",
            f"output pad {p['output_padding']}" if p.get("output_padding") else "",
            f"dilation {p['dilation']}" if p["dilation"] != 1 else "",
            f"groups {p['groups']}" if p["groups"] != 1 else "", "no bias" if not p["bias"] else "",
            p["padding_mode"] if p.get("padding_mode", "zeros") != "zeros" else ""]


def _conv_code(cls: str, p: Params, in_shape: Shape, torch_defaults: Mapping[str, Any]) -> str:
    args = [str(in_shape[0]), str(p["out_channels"]), f"kernel_size={p['kernel_size']}"]
    return f"nn.{cls}({', '.join(args + _keywords(p, torch_defaults))})"


def _conv_from_module(m: nn.Conv2d | nn.ConvTranspose2d, sizes: tuple[str, ...], *other: str) -> dict[str, Any]:
    """The channel parameters, the per-side `sizes` (first side) and the `other` attributes of a convolution."""
    found = {"in_channels": m.in_channels, "out_channels": m.out_channels, "groups": m.groups,
             "bias": m.bias is not None, **{name: getattr(m, name) for name in other}}
    return {**found, **{name: int(_first(getattr(m, name))) for name in sizes}}


def _conv_describe(cls: str) -> Callable[[Params], str]:
    return lambda p: _label(f"{cls} {p['kernel_size']}x{p['kernel_size']}",
                            [f"{p['out_channels']} filters"] + _conv_extras(p))


def _channel_params(default_out: int, kernel: int, stride: int) -> dict[str, Param]:
    return {
        "in_channels": Param(None, "int", 1, auto="auto", from_input=True, ui_high=1024,
                             help="Leave empty (auto): the channels of the previous layer's output"),
        "out_channels": Param(default_out, "int", 1, ui_high=1024, help="Number of kernels = output feature maps"),
        "kernel_size": Param(kernel, "int", 1, ui_high=32, help="k x k window"),
        "stride": Param(stride, "int", 1, ui_high=16, help="Step between windows"),
        "padding": Param(0, "int", 0, ui_high=32, help="Pixels added on every side"),
    }


CONV = LayerKind(
    "conv", "Conv2d", "Conv2d: slides out_channels learned kernels over the input (W^T x + b at every position).",
    MappingProxyType({
        **_channel_params(8, 3, 1),
        "dilation": Param(1, "int", 1, ui_high=16, help="Spacing between kernel taps"),
        "groups": Param(1, "int", 1, ui_high=1024, help="Split channels into groups (must divide in and out channels)"),
        "padding_mode": Param("zeros", "choice", choices=PADDING_MODES, help="What the padding contains"),
        "bias": Param(True, "bool", help="Add a learned bias b per output channel"),
    }),
    (nn.Conv2d,), _conv_shape,
    lambda p, shape: nn.Conv2d(shape[0], p["out_channels"], p["kernel_size"], stride=p["stride"],
                               padding=p["padding"], dilation=p["dilation"], groups=p["groups"], bias=p["bias"],
                               padding_mode=p["padding_mode"]),
    lambda p, in_shape, flat_from: _conv_code("Conv2d", p, in_shape, _CONV_TORCH_DEFAULTS),
    lambda m: _conv_from_module(m, ("kernel_size", "stride", "padding", "dilation"), "padding_mode"),
    _conv_describe("Conv2d"), check=_conv_check, spatial=True, prefix="conv")


def _transpose_check(p: Params, shape: Shape) -> None:
    _check_in_channels(p, shape)
    s, d, op = p["stride"], p["dilation"], p["output_padding"]
    if op >= max(s, d):
        raise ArchitectureError(f"output_padding {op} must be smaller than stride {s} or dilation {d}: lower "
                                f"output_padding to <= {max(s, d) - 1} or raise the stride")


def _transpose_shape(p: Params, shape: Shape) -> Shape:
    k, s, pad, op, d = (p[n] for n in ("kernel_size", "stride", "padding", "output_padding", "dilation"))
    sizes = tuple(conv_transpose_output_size(size, k, s, pad, op, d) for size in shape[1:])
    if min(sizes) < 1:
        side = min(shape[1:])
        max_pad = ((side - 1) * s + d * (k - 1) + op) // 2
        raise _empty("(H - 1) x stride - 2 x padding + dilation x (kernel_size - 1) + output_padding + 1",
                     f"({side} - 1) x {s} - 2 x {pad} + {d} x ({k} - 1) + {op} + 1", min(sizes),
                     f"lower padding to <= {max_pad} or raise kernel_size or stride")
    return (p["out_channels"],) + sizes


CONV_TRANSPOSE = LayerKind(
    "convtranspose", "ConvTranspose2d",
    "ConvTranspose2d: the transpose of a convolution; each input value stamps a learned kernel, so stride s "
    "makes the map about s times larger (learned upsampling, as in U-Nets).",
    MappingProxyType({
        **_channel_params(8, 2, 2),
        "output_padding": Param(0, "int", 0, ui_high=16, help="Extra rows/columns on one side of the output "
                                                              "(must be smaller than stride or dilation)"),
        "dilation": Param(1, "int", 1, ui_high=16, help="Spacing between kernel taps"),
        "groups": Param(1, "int", 1, ui_high=1024, help="Split channels into groups (must divide in and out channels)"),
        "bias": Param(True, "bool", help="Add a learned bias b per output channel"),
    }),
    (nn.ConvTranspose2d,), _transpose_shape,
    lambda p, shape: nn.ConvTranspose2d(shape[0], p["out_channels"], p["kernel_size"], stride=p["stride"],
                                        padding=p["padding"], output_padding=p["output_padding"],
                                        groups=p["groups"], bias=p["bias"], dilation=p["dilation"]),
    lambda p, in_shape, flat_from: _conv_code(
        "ConvTranspose2d", p, in_shape, {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True,
                                         "dilation": 1}),
    lambda m: _conv_from_module(m, ("kernel_size", "stride", "padding", "output_padding", "dilation")),
    _conv_describe("ConvTranspose2d"), check=_transpose_check, spatial=True, prefix="upconv")


# ---------------------------------------------------------------- pooling


def _pool_check(p: Params, shape: Shape) -> None:
    k, pad = p["kernel_size"], p["padding"]
    if pad > k // 2:
        raise ArchitectureError(f"padding {pad} must be at most half the kernel size ({k // 2}): lower padding to "
                                f"<= {k // 2} or raise kernel_size to >= {2 * pad}")
    _check_window(p, shape, "window")


def _pool_shape(p: Params, shape: Shape) -> Shape:
    stride = p["stride"] or p["kernel_size"]
    return (shape[0],) + tuple(conv_output_size(s, p["kernel_size"], stride, p["padding"], p.get("dilation", 1),
                                                p["ceil_mode"]) for s in shape[1:])


def _pool_kind(key: str, cls: type[nn.MaxPool2d] | type[nn.AvgPool2d], explanation: str) -> LayerKind:
    """MaxPool2d and AvgPool2d: the same parameters, except that only max pooling has a dilation."""
    dilated = cls is nn.MaxPool2d
    params = {
        "kernel_size": Param(2, "int", 1, ui_high=32),
        "stride": Param(None, "int", 1, auto="= kernel_size", ui_high=16,
                        help="Leave empty: the same as kernel_size (PyTorch's stride=None)"),
        "padding": Param(0, "int", 0, ui_high=16, help="At most kernel_size / 2"),
        **({"dilation": Param(1, "int", 1, ui_high=16)} if dilated else {}),
        "ceil_mode": Param(False, "bool", help="Round the output size up"),
    }
    short = cls.__name__[:-2]  # MaxPool / AvgPool

    def make(p: Params, shape: Shape) -> nn.Module:
        extra = {"dilation": p["dilation"]} if dilated else {}
        return cls(p["kernel_size"], stride=p["stride"] or p["kernel_size"], padding=p["padding"],
                   ceil_mode=p["ceil_mode"], **extra)

    def code(p: Params, in_shape: Shape, flat_from: Shape | None) -> str:
        k = p["kernel_size"]
        defaults = {"padding": 0, **({"dilation": 1} if dilated else {}), "ceil_mode": False}
        return f"nn.{cls.__name__}({', '.join([str(k), str(p['stride'] or k)] + _keywords(p, defaults))})"

    def from_module(m: nn.Module) -> dict[str, Any]:
        found = {"kernel_size": _first(m.kernel_size), "stride": _first(m.stride), "padding": _first(m.padding),
                 "ceil_mode": bool(m.ceil_mode)}
        return {**found, "dilation": _first(m.dilation)} if dilated else found

    def describe(p: Params) -> str:
        k, s = p["kernel_size"], p["stride"] or p["kernel_size"]
        return _label(f"{short} {k}x{k}", [f"stride {s}" if s != k else "", f"pad {p['padding']}" if p["padding"]
                                           else "", "ceil" if p["ceil_mode"] else "",
                                           f"dilation {p['dilation']}" if p.get("dilation", 1) != 1 else ""])

    return LayerKind(key, cls.__name__, explanation, MappingProxyType(params), (cls,), _pool_shape, make, code,
                     from_module, describe, check=_pool_check, spatial=True, prefix="pool")


# ---------------------------------------------------------------- upsampling


def _upsample_shape(p: Params, shape: Shape) -> Shape:
    scale = float(p["scale_factor"])
    sizes = tuple(math.floor(s * scale) for s in shape[1:])
    if min(sizes) < 1:
        side = min(shape[1:])
        raise _empty("floor(H x scale_factor)", f"floor({side} x {scale:g})", min(sizes),
                     f"raise scale_factor to >= {1 / side:.3g}")
    return (shape[0],) + sizes


def _upsample_from_module(m: nn.Upsample) -> dict[str, Any]:
    scale = m.scale_factor
    if m.size is not None or scale is None or (isinstance(scale, tuple) and len(set(scale)) > 1):
        raise ArchitectureError("Upsample to a fixed size or with different scales per side has no counterpart in "
                                "the layer builder")
    if m.mode not in UPSAMPLE_MODES or m.align_corners:
        raise ArchitectureError(f"Upsample mode {m.mode!r} (align_corners={m.align_corners}) has no counterpart in "
                                "the layer builder")
    return {"scale_factor": float(_first(scale)), "mode": m.mode}


UPSAMPLE = LayerKind(
    "upsample", "Upsample",
    "Upsample: makes each map scale_factor times larger by repeating pixels (nearest) or blending neighbours "
    "(bilinear); no parameters to learn.",
    MappingProxyType({
        "scale_factor": Param(2, "number", 0.1, 16, ui_high=8.0, step=0.5, help="Output size = floor(size x "
                                                                                "scale_factor)"),
        "mode": Param("nearest", "choice", choices=UPSAMPLE_MODES, help="nearest: copy pixels; bilinear: blend "
                                                                        "the 4 nearest inputs"),
    }),
    (nn.Upsample,), _upsample_shape,
    lambda p, shape: nn.Upsample(scale_factor=float(p["scale_factor"]), mode=p["mode"]),
    lambda p, in_shape, flat_from: f"nn.Upsample(scale_factor={float(p['scale_factor']):g}, mode={p['mode']!r})",
    _upsample_from_module,
    lambda p: f"Upsample x{float(p['scale_factor']):g}, {p['mode']}",
    spatial=True, prefix="up")


# ---------------------------------------------------------------- shape-preserving and fully-connected layers


def _same(p: Params, shape: Shape) -> Shape:
    return tuple(shape)


def _activation_from_module(m: nn.Module) -> dict[str, Any]:
    name = activation_name(m)
    if name is None or not ACTIVATIONS[name].same_settings(m):
        raise ArchitectureError(f"{type(m).__name__}({m.extra_repr()}) has settings the layer builder does not have")
    return {"name": name}


ACTIVATION = LayerKind(
    "activation", "Activation", "A per-element non-linearity.",
    MappingProxyType({"name": Param("relu", "choice", choices=tuple(ACTIVATIONS), label="function")}),
    ACTIVATION_TYPES, _same, lambda p, shape: make_activation(p["name"]),
    lambda p, in_shape, flat_from: ACTIVATIONS[p["name"]].code, _activation_from_module,
    lambda p: ACTIVATIONS[p["name"]].label, shared_attr=lambda p: p["name"])

BATCHNORM = LayerKind(
    "batchnorm", "BatchNorm", "BatchNorm: normalizes each channel over the batch, then scales and shifts.",
    MappingProxyType({}), (nn.BatchNorm1d, nn.BatchNorm2d), _same,
    lambda p, shape: nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0]),
    lambda p, in_shape, flat_from: f"nn.BatchNorm{'2d' if len(in_shape) == 3 else '1d'}({in_shape[0]})",
    lambda m: {}, lambda p: "BatchNorm", prefix="bn")

DROPOUT = LayerKind(
    "dropout", "Dropout", "Dropout: zeroes each value with probability p during training only.",
    MappingProxyType({"p": Param(0.5, "number", 0, 1, open_high=True, label="p (drop probability)", ui_high=0.95,
                                 step=0.05, help="Zeroes each value with probability p (training only)")}),
    (nn.Dropout,), _same, lambda p, shape: nn.Dropout(float(p["p"])),
    lambda p, in_shape, flat_from: f"nn.Dropout(p={float(p['p']):g})", lambda m: {"p": float(m.p)},
    lambda p: f"Dropout p={float(p['p']):g}", prefix="dropout")

FLATTEN = LayerKind(
    "flatten", "Flatten", "Flatten: C x H x W feature maps -> one vector of C*H*W values.",
    MappingProxyType({}), (nn.Flatten,), lambda p, shape: (math.prod(shape),), lambda p, shape: nn.Flatten(),
    lambda p, in_shape, flat_from: "nn.Flatten()", lambda m: {}, lambda p: "Flatten", view=True)


def _linear_check(p: Params, shape: Shape) -> None:
    if p["in_features"] is not None and p["in_features"] != shape[0]:
        raise ArchitectureError(f"in_features={p['in_features']} but the previous layer outputs {shape[0]} values: "
                                f"set in_features to {shape[0]} or leave it empty (auto)")


def _linear_code(p: Params, in_shape: Shape, flat_from: Shape | None) -> str:
    """in_features is written as a product when the input was flattened, e.g. nn.Linear(16 * 5 * 5, 60)."""
    source = flat_from if flat_from is not None and len(flat_from) > 1 else in_shape
    args = [" * ".join(map(str, source)), str(p["out_features"])] + _keywords(p, {"bias": True})
    return f"nn.Linear({', '.join(args)})"


LINEAR = LayerKind(
    "linear", "Linear", "Linear (fully-connected): every output sees every input.",
    MappingProxyType({
        "in_features": Param(None, "int", 1, auto="auto", from_input=True, ui_high=1_000_000,
                             help="Leave empty (auto): the size of the flattened input"),
        "out_features": Param(10, "int", 1, ui_high=8192, help="Number of output units"),
        "bias": Param(True, "bool"),
    }),
    (nn.Linear,), lambda p, shape: (p["out_features"],),
    lambda p, shape: nn.Linear(shape[0], p["out_features"], bias=p["bias"]), _linear_code,
    lambda m: {"in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None},
    lambda p: _label(f"Linear {p['in_features'] or ''}→{p['out_features']}", ["no bias" if not p["bias"] else ""]),
    check=_linear_check, flat_input=True, prefix="fc")


LAYER_KINDS: dict[str, LayerKind] = {kind.key: kind for kind in (
    CONV, ACTIVATION,
    _pool_kind("maxpool", nn.MaxPool2d, "MaxPool2d: keeps the largest value of each window (sub-sampling)."),
    _pool_kind("avgpool", nn.AvgPool2d, "AvgPool2d: averages each window (sub-sampling)."),
    BATCHNORM, DROPOUT, FLATTEN, LINEAR, CONV_TRANSPOSE, UPSAMPLE)}


def kind_of_module(module: nn.Module) -> LayerKind | None:
    """The layer kind that builds modules like this one (None when the builder has none)."""
    return next((kind for kind in LAYER_KINDS.values() if isinstance(module, kind.modules)), None)
