"""A user's layer list built only once it is priced: the layer count, multiply-adds, weights and activations
are checked on the meta device (no memory) before the builder makes a single real layer.

The builder only builds and the cost module only prices built models; this module is where the two meet,
above both, so neither has to import the other.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cnn_core.errors import DesignTooLarge
from cnn_core.models.builder import LayerSpec, build_layers
from cnn_core.models.cost import (BYTES_PER_VALUE, MAX_DESIGN_MACS, MAX_LAYERS, Shape, human_bytes,
                                  memory_budget_bytes, on_meta, profile)


def check_design(specs: Sequence[LayerSpec], input_shape: Shape) -> None:
    """Refuse a layer list that is too long or too big before any real layer is built.

    Limits: at most MAX_LAYERS layers, MAX_DESIGN_MACS multiply-adds per image, weights and one
    image's activations within the memory budget. Inside a meta-device build only the layer count
    is checked (that build is the pricing itself).
    """
    if len(specs) > MAX_LAYERS:  # checked on the meta device too: building 10,000 meta layers takes minutes
        raise DesignTooLarge(f"The network has {len(specs):,} layers; the playground builds at most {MAX_LAYERS}. "
                             "Remove layers (for very deep nets use the deep plain CNN of the init lesson).",
                             MAX_LAYERS)
    if on_meta():
        return
    with torch.device("meta"):
        model = build_layers(tuple(specs), tuple(input_shape))
    cost = profile(model, input_shape)
    budget = memory_budget_bytes()
    checks = (
        ("macs", cost.macs, MAX_DESIGN_MACS, lambda v: f"{v:,} multiply-adds per image",
         "use a larger stride, pooling, a smaller kernel or fewer channels"),
        ("params", cost.param_bytes, budget // 4, lambda v: f"{human_bytes(v)} of weights",
         "add pooling before it or use fewer units/channels"),
        ("activations", BYTES_PER_VALUE * 3 * cost.activations, budget,
         lambda v: f"{human_bytes(v)} of activations per image (forward and backward)",
         "shrink the input or the channels, or add pooling earlier"),
    )
    for attribute, total, limit, amount, hint in checks:
        if total > limit:
            layer = cost.biggest(attribute)
            index = int(layer.name.split(".")[0]) if layer is not None else None  # Sequential child = spec index
            where = f"Layer {index + 1} ({layer.detail})" if layer is not None else "The network"
            raise DesignTooLarge(f"{where} makes the network too large: {amount(total)} in total, the limit is "
                                 f"{amount(limit)}; {hint}.", index)


def build_from_specs(specs: tuple[LayerSpec, ...] | list[LayerSpec], input_shape: Shape) -> nn.Sequential:
    """Build nn.Sequential from specs once check_design admits them; errors name the layer and the fix."""
    check_design(specs, input_shape)
    return build_layers(specs, input_shape)


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
