"""A CNN built from a list of layer specs, with shapes checked layer by layer (kinds: see layer_kinds.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnn_core.errors import ArchitectureError, InvalidConfig
from cnn_core.models.layer_kinds import LAYER_KINDS, Shape, conv_output_size  # noqa: F401 (re-exported)
from cnn_core.serialization import parse_json

# kind -> default parameters / one-line explanation: views of the registry (the keys are the only parameters)
LAYER_DEFAULTS: dict[str, dict[str, Any]] = {key: kind.defaults for key, kind in LAYER_KINDS.items()}
LAYER_EXPLANATIONS: dict[str, str] = {key: kind.explanation for key, kind in LAYER_KINDS.items()}


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
        if not isinstance(kind, str) or kind not in LAYER_KINDS:
            raise ArchitectureError(f"Unknown layer kind {kind!r}. Known: {', '.join(LAYER_KINDS)}")
        params = {k: v for k, v in data.items() if k != "kind"}
        problems = LAYER_KINDS[kind].problems(params)
        if problems:
            raise ArchitectureError(f"Layer '{kind}': {'; '.join(problems)}")
        return cls.of(kind, **params)

    def describe(self) -> str:
        """Short text such as 'conv(out_channels=6, kernel_size=5)'."""
        inner = ", ".join(f"{k}={v}" for k, v in self.params if v is not None)
        return f"{self.kind}({inner})"


def _build_layer(spec: LayerSpec, shape: Shape, index: int) -> tuple[nn.Module, Shape]:
    """The module of one spec for its input shape and its output shape by the kind's formula.

    Raises ArchitectureError naming the layer, the reason and how to fix it.
    """
    where = f"Layer {index + 1} ({spec.kind})"
    if spec.kind not in LAYER_KINDS:
        raise ArchitectureError(f"{where}: unknown layer kind", index)
    try:
        return LAYER_KINDS[spec.kind].build(dict(spec.params), shape)
    except ArchitectureError as exc:
        raise ArchitectureError(f"{where}: {exc}", index) from exc


def build_layers(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape) -> nn.Sequential:
    """Build nn.Sequential from specs, checking every layer's input shape; errors name the layer.

    Nothing is priced here: a user's layer list goes through checked_build.build_from_specs, which prices
    it on the meta device first; this is what that pricing (and the checked build after it) runs.
    """
    if not specs:
        raise ArchitectureError("The network has no layers yet")
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ArchitectureError(f"Input shape must be (channels, height, width) with positive sizes, got {input_shape}")
    modules: list[nn.Module] = []
    shape: Shape = tuple(input_shape)
    for index, spec in enumerate(specs):
        module, _ = _build_layer(spec, shape, index)  # the formula's shape: an empty map is refused with it
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


def specs_to_json(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape) -> str:
    """Serialize an architecture (input shape + layers) to a JSON string."""
    return json.dumps({"input_shape": list(input_shape), "layers": [s.to_dict() for s in specs]}, indent=2)


def specs_from_json(text: str | bytes) -> tuple[tuple[LayerSpec, ...], Shape]:
    """Parse an architecture JSON; malformed input raises ArchitectureError with the reason."""
    if not text or not (text.strip() if isinstance(text, (str, bytes)) else text):
        raise ArchitectureError("The file is empty: expected an architecture JSON")
    try:  # size, depth, huge integers and overflowing numbers are refused before anything is built
        data = parse_json(text, "The architecture JSON")
    except InvalidConfig as exc:
        raise ArchitectureError(str(exc)) from exc
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
