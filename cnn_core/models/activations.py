"""Activation registry shared by every model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from cnn_core.errors import InvalidConfig


@dataclass(frozen=True)
class ActivationSpec:
    """An activation: its module factory, its name for torch.nn.init gains, and a one-liner."""

    factory: Callable[[], nn.Module]
    init_gain_name: str  # the nonlinearity name torch.nn.init.calculate_gain understands
    explanation: str


ACTIVATIONS: dict[str, ActivationSpec] = {
    "relu": ActivationSpec(nn.ReLU, "relu", "max(0, x): cheap, no saturation for x > 0, but units can die."),
    "leaky_relu": ActivationSpec(lambda: nn.LeakyReLU(0.01), "leaky_relu",
                                 "x for x > 0, 0.01x otherwise: a small slope keeps dead units alive."),
    "elu": ActivationSpec(nn.ELU, "relu", "x for x > 0, exp(x) - 1 otherwise: smooth, mean closer to zero."),
    "gelu": ActivationSpec(nn.GELU, "relu", "x * Phi(x): a smooth ReLU used in transformers."),
    "tanh": ActivationSpec(nn.Tanh, "tanh", "squashes to (-1, 1), zero-centred; saturates for large |x|."),
    "sigmoid": ActivationSpec(nn.Sigmoid, "sigmoid", "squashes to (0, 1); saturates and is not zero-centred."),
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for a registry key."""
    if name not in ACTIVATIONS:
        raise InvalidConfig(f"Unknown activation '{name}'. Choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name].factory()
