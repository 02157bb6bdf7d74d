"""A CNN built from a list of layer specs, with shapes checked layer by layer."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnn_core.errors import ArchitectureError
from cnn_core.models.activations import ACTIVATIONS, make_activation

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (F,) after flatten

# kind -> default parameters; the keys are also the only parameters a kind accepts
LAYER_DEFAULTS: dict[str, dict[str, Any]] = {
    "conv": {"out_channels": 8, "kernel_size": 3, "stride": 1, "padding": 0, "dilation": 1, "groups": 1,
             "bias": True, "padding_mode": "zeros", "in_channels": None},
    "activation": {"name": "relu"},
    "maxpool": {"kernel_size": 2, "stride": None, "padding": 0, "dilation": 1, "ceil_mode": False},
    "avgpool": {"kernel_size": 2, "stride": None, "padding": 0, "ceil_mode": False},
    "batchnorm": {},
    "dropout": {"p": 0.5},
    "flatten": {},
    "linear": {"out_features": 10, "bias": True, "in_features": None},
}

LAYER_EXPLANATIONS: dict[str, str] = {
    "conv": "Conv2d: slides out_channels learned kernels over the input (W^T x + b at every position).",
    "activation": "A per-element non-linearity.",
    "maxpool": "MaxPool2d: keeps the largest value of each window (sub-sampling).",
    "avgpool": "AvgPool2d: averages each window (sub-sampling).",
    "batchnorm": "BatchNorm: normalizes each channel over the batch, then scales and shifts.",
    "dropout": "Dropout: zeroes each value with probability p during training only.",
    "flatten": "Flatten: C x H x W feature maps -> one vector of C*H*W values.",
    "linear": "Linear (fully-connected): every output sees every input.",
}


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a built network: a kind and its parameters (hashable, JSON-able)."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, kind: str, **params: Any) -> "LayerSpec":
        """Build a spec from keyword parameters, e.g. LayerSpec.of('conv', out_channels=6, kernel_size=5)."""
        return cls(kind, tuple(sorted(params.items())))

    def get(self, name: str) -> Any:
        """A parameter, falling back to the kind's default."""
        return dict(self.params).get(name, LAYER_DEFAULTS.get(self.kind, {}).get(name))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: {'kind': ..., **params}."""
        return {"kind": self.kind, **dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LayerSpec":
        """Inverse of to_dict; validates the kind, the parameter names and each value's type and range."""
        if not isinstance(data, dict) or "kind" not in data:
            raise ArchitectureError("Each layer must be an object with a 'kind' field")
        kind = data["kind"]
        if not isinstance(kind, str) or kind not in LAYER_DEFAULTS:
            raise ArchitectureError(f"Unknown layer kind {kind!r}. Known: {', '.join(LAYER_DEFAULTS)}")
        params = {k: v for k, v in data.items() if k != "kind"}
        unknown = set(params) - set(LAYER_DEFAULTS[kind])
        if unknown:
            raise ArchitectureError(f"Layer '{kind}' has no parameter(s) {', '.join(sorted(unknown))}")
        for name, value in params.items():
            _check_param_type(kind, name, value)
        return cls.of(kind, **params)

    def describe(self) -> str:
        """Short text such as 'conv(out_channels=6, kernel_size=5)'."""
        inner = ", ".join(f"{k}={v}" for k, v in self.params if v is not None)
        return f"{self.kind}({inner})"


MAX_LAYER_INT = 65_536  # no sensible layer parameter is larger; bigger numbers would overflow torch


def _check_param_type(kind: str, name: str, value: Any) -> None:
    """Raise ArchitectureError unless `value` has the type (and a sane range) of the parameter's default."""
    default = LAYER_DEFAULTS[kind][name]
    where = f"Layer '{kind}', parameter '{name}'"
    if name == "name":  # the activation's name
        if not isinstance(value, str) or value not in ACTIVATIONS:
            raise ArchitectureError(f"{where}: must be one of {', '.join(ACTIVATIONS)}, got {value!r}")
    elif name == "padding_mode":
        if value not in ("zeros", "reflect", "replicate", "circular"):
            raise ArchitectureError(f"{where}: must be zeros, reflect, replicate or circular, got {value!r}")
    elif isinstance(default, bool):
        if not isinstance(value, bool):
            raise ArchitectureError(f"{where}: must be true or false, got {value!r}")
    elif name == "p":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ArchitectureError(f"{where}: must be a number in [0, 1), got {value!r}")
    elif default is None or isinstance(default, int):  # integers; in_channels / in_features / stride may be null
        if value is None and default is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LAYER_INT:
            raise ArchitectureError(f"{where}: must be an integer from 0 to {MAX_LAYER_INT:,}, got {value!r}")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """PyTorch's output-size formula: floor((size + 2p - d(k-1) - 1) / s + 1)."""
    numerator = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (math.ceil if ceil_mode else math.floor)(numerator / stride + 1)
    if ceil_mode and (out - 1) * stride >= size + padding:  # torch drops a window that starts in the padding
        out -= 1
    return int(out)


def _positive_int(spec: LayerSpec, name: str, index: int, minimum: int = 1) -> int:
    value = spec.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_LAYER_INT:
        raise ArchitectureError(f"Layer {index + 1} ({spec.kind}): {name} must be an integer from {minimum} to "
                                f"{MAX_LAYER_INT:,}, got {value!r}", index)
    return value


def _build_layer(spec: LayerSpec, shape: Shape, index: int) -> nn.Module:
    """Create the module for one spec given its input shape; raise ArchitectureError with a reason."""
    where = f"Layer {index + 1} ({spec.kind})"
    kind = spec.kind
    if kind not in LAYER_DEFAULTS:
        raise ArchitectureError(f"{where}: unknown layer kind", index)
    spatial = kind in ("conv", "maxpool", "avgpool")
    if spatial and len(shape) != 3:
        raise ArchitectureError(f"{where} needs C x H x W feature maps but gets a flat vector of {shape[0]} "
                                "values: move it before the Flatten layer", index)
    if kind == "conv":
        c_in, h, w = shape
        given_in = spec.get("in_channels")
        if given_in is not None and given_in != c_in:
            raise ArchitectureError(f"{where}: in_channels={given_in} but the previous layer outputs {c_in} channels",
                                    index)
        out_c = _positive_int(spec, "out_channels", index)
        k = _positive_int(spec, "kernel_size", index)
        s = _positive_int(spec, "stride", index)
        p = _positive_int(spec, "padding", index, 0)
        d = _positive_int(spec, "dilation", index)
        g = _positive_int(spec, "groups", index)
        if c_in % g or out_c % g:
            raise ArchitectureError(f"{where}: groups={g} must divide in_channels={c_in} and out_channels={out_c}",
                                    index)
        span = d * (k - 1) + 1
        if span > min(h, w) + 2 * p:
            raise ArchitectureError(f"{where}: the kernel spans {span}x{span} pixels (kernel {k}, dilation {d}) but "
                                    f"the padded input is only {h + 2 * p}x{w + 2 * p}", index)
        mode = spec.get("padding_mode")
        if mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ArchitectureError(f"{where}: padding_mode must be zeros, reflect, replicate or circular", index)
        if mode == "reflect" and p >= min(h, w):
            raise ArchitectureError(f"{where}: reflect padding {p} needs an input larger than {p} pixels", index)
        return nn.Conv2d(c_in, out_c, k, stride=s, padding=p, dilation=d, groups=g, bias=bool(spec.get("bias")),
                         padding_mode=mode)
    if kind in ("maxpool", "avgpool"):
        _, h, w = shape
        k = _positive_int(spec, "kernel_size", index)
        s = spec.get("stride") or k
        if not isinstance(s, int) or s < 1:
            raise ArchitectureError(f"{where}: stride must be a positive integer", index)
        p = _positive_int(spec, "padding", index, 0)
        if p > k // 2:
            raise ArchitectureError(f"{where}: padding {p} must be at most half the kernel size ({k // 2})", index)
        d = _positive_int(spec, "dilation", index) if kind == "maxpool" else 1
        if d * (k - 1) + 1 > min(h, w) + 2 * p:
            raise ArchitectureError(f"{where}: the {k}x{k} window does not fit the {h}x{w} input", index)
        if kind == "maxpool":
            return nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=bool(spec.get("ceil_mode")))
        return nn.AvgPool2d(k, stride=s, padding=p, ceil_mode=bool(spec.get("ceil_mode")))
    if kind == "activation":
        if spec.get("name") not in ACTIVATIONS:
            raise ArchitectureError(f"{where}: unknown activation '{spec.get('name')}'", index)
        return make_activation(spec.get("name"))
    if kind == "batchnorm":
        return nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])
    if kind == "dropout":
        p = spec.get("p")
        if not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ArchitectureError(f"{where}: p must be in [0, 1), got {p!r}", index)
        return nn.Dropout(float(p))
    if kind == "flatten":
        return nn.Flatten()
    # linear
    if len(shape) != 1:
        raise ArchitectureError(f"{where} needs a flat vector but gets {'x'.join(map(str, shape))} feature maps: "
                                "add a Flatten layer before it", index)
    given_in = spec.get("in_features")
    if given_in is not None and given_in != shape[0]:
        raise ArchitectureError(f"{where}: in_features={given_in} but the previous layer outputs {shape[0]} values",
                                index)
    return nn.Linear(shape[0], _positive_int(spec, "out_features", index), bias=bool(spec.get("bias")))


def build_from_specs(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape) -> nn.Sequential:
    """Build nn.Sequential from specs, checking every layer's input shape; errors name the layer."""
    if not specs:
        raise ArchitectureError("The network has no layers yet")
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ArchitectureError(f"Input shape must be (channels, height, width) with positive sizes, got {input_shape}")
    modules: list[nn.Module] = []
    shape: Shape = tuple(input_shape)
    for index, spec in enumerate(specs):
        module = _build_layer(spec, shape, index)
        module.eval()
        with torch.no_grad():
            try:  # one real forward pass of a single sample: the shape is whatever PyTorch says
                out = module(torch.zeros(1, *shape))
            except RuntimeError as exc:
                raise ArchitectureError(f"Layer {index + 1} ({spec.kind}): PyTorch refused it: {exc}", index) from exc
        shape = tuple(out.shape[1:])
        if min(shape) < 1:
            raise ArchitectureError(f"Layer {index + 1} ({spec.kind}) outputs an empty map {shape}", index)
        modules.append(module)
    model = nn.Sequential(*modules)
    model.train()
    return model


def output_shapes(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape) -> list[Shape]:
    """The output shape after each layer (builds the network to be sure)."""
    model = build_from_specs(specs, input_shape)
    shapes, x = [], torch.zeros(1, *input_shape)
    model.eval()
    with torch.no_grad():
        for module in model:
            x = module(x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


def specs_to_json(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape) -> str:
    """Serialize an architecture (input shape + layers) to a JSON string."""
    return json.dumps({"input_shape": list(input_shape), "layers": [s.to_dict() for s in specs]}, indent=2)


def specs_from_json(text: str | bytes) -> tuple[tuple[LayerSpec, ...], Shape]:
    """Parse an architecture JSON; malformed input raises ArchitectureError with the reason."""
    if not text or not (text.strip() if isinstance(text, (str, bytes)) else text):
        raise ArchitectureError("The file is empty: expected an architecture JSON")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArchitectureError(f"Not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ArchitectureError("Not an architecture: the JSON is nested too deeply") from exc
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        raise ArchitectureError("Expected an object with 'input_shape' and a 'layers' list")
    shape = data.get("input_shape", [1, 28, 28])
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1024 for v in shape)):
        raise ArchitectureError("'input_shape' must be three positive integers [channels, height, width] up to 1024")
    specs = tuple(LayerSpec.from_dict(item) for item in data["layers"])
    return specs, tuple(shape)


LENET5_SPECS: tuple[LayerSpec, ...] = (
    LayerSpec.of("conv", out_channels=6, kernel_size=5, padding=2),
    LayerSpec.of("activation", name="relu"),
    LayerSpec.of("maxpool", kernel_size=2),
    LayerSpec.of("conv", out_channels=16, kernel_size=5),
    LayerSpec.of("activation", name="relu"),
    LayerSpec.of("maxpool", kernel_size=2),
    LayerSpec.of("conv", out_channels=120, kernel_size=5),
    LayerSpec.of("activation", name="relu"),
    LayerSpec.of("flatten"),
    LayerSpec.of("linear", out_features=84),
    LayerSpec.of("activation", name="relu"),
    LayerSpec.of("linear", out_features=10),
)
