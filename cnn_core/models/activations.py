"""Activation registry: the one place that knows each activation (module, code, init gain, saturation)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from cnn_core.errors import InvalidConfig


def _any_settings(module: nn.Module) -> bool:
    return True


@dataclass(frozen=True)
class ActivationSpec:
    """An activation: its module factory and class, its PyTorch code, its init gain name and a one-liner."""

    factory: Callable[[], nn.Module]
    init_gain_name: str  # the nonlinearity name torch.nn.init.calculate_gain understands
    explanation: str
    module_type: type[nn.Module] = nn.Identity  # the class `factory` builds (recognizes it in any model)
    code: str = ""                              # the constructor call in generated PyTorch code
    saturation: tuple[float, float] | None = None  # outputs outside (low, high) sit in a flat tail
    same_settings: Callable[[nn.Module], bool] = _any_settings  # a module of module_type with our settings?

    @property
    def label(self) -> str:
        """The PyTorch class name, e.g. 'LeakyReLU'."""
        return self.module_type.__name__


ACTIVATIONS: dict[str, ActivationSpec] = {
    "relu": ActivationSpec(nn.ReLU, "relu", "max(0, x): cheap, no saturation for x > 0, but units can die.",
                           nn.ReLU, "nn.ReLU()"),
    "leaky_relu": ActivationSpec(lambda: nn.LeakyReLU(0.01), "leaky_relu",
                                 "x for x > 0, 0.01x otherwise: a small slope keeps dead units alive.",
                                 nn.LeakyReLU, "nn.LeakyReLU(0.01)",
                                 same_settings=lambda m: m.negative_slope == 0.01),
    "elu": ActivationSpec(nn.ELU, "relu", "x for x > 0, exp(x) - 1 otherwise: smooth, mean closer to zero.",
                          nn.ELU, "nn.ELU()", same_settings=lambda m: m.alpha == 1.0),
    "gelu": ActivationSpec(nn.GELU, "relu", "x * Phi(x): a smooth ReLU used in transformers.", nn.GELU, "nn.GELU()",
                           same_settings=lambda m: m.approximate == "none"),
    "tanh": ActivationSpec(nn.Tanh, "tanh", "squashes to (-1, 1), zero-centred; saturates for large |x|.",
                           nn.Tanh, "nn.Tanh()", saturation=(-0.99, 0.99)),
    "sigmoid": ActivationSpec(nn.Sigmoid, "sigmoid", "squashes to (0, 1); saturates and is not zero-centred.",
                              nn.Sigmoid, "nn.Sigmoid()", saturation=(0.01, 0.99)),
}

ACTIVATION_TYPES: tuple[type[nn.Module], ...] = tuple(spec.module_type for spec in ACTIVATIONS.values())


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for a registry key."""
    if name not in ACTIVATIONS:
        raise InvalidConfig(f"Unknown activation '{name}'. Choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name].factory()


def activation_name(module: nn.Module) -> str | None:
    """The registry key of an activation module (None when the registry has no such class)."""
    return next((name for name, spec in ACTIVATIONS.items() if type(module) is spec.module_type), None)
