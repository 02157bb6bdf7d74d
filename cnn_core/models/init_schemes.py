"""Weight-initialization registry: apply a scheme to every conv and linear layer of a model."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.models.activations import ACTIVATIONS

InitFn = Callable[[torch.Tensor, str], None]  # (weight, nonlinearity name for the gain)


@dataclass(frozen=True)
class InitSpec:
    """A registry entry: how to fill a weight tensor, a one-liner and its formula."""

    label: str
    fn: InitFn
    explanation: str
    formula: str  # LaTeX


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    # fan_in = in_channels * kernel area; fan_out = out_channels * kernel area (torch's convention)
    return nn.init._calculate_fan_in_and_fan_out(weight)


INIT_SCHEMES: dict[str, InitSpec] = {
    "default": InitSpec("PyTorch default", lambda w, g: None,
                        "Keep what nn.Conv2d / nn.Linear do: Kaiming uniform with a=sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).",
                        r"W \sim \mathcal{U}\left(-\tfrac{1}{\sqrt{n_{in}}}, \tfrac{1}{\sqrt{n_{in}}}\right)"),
    "zeros": InitSpec("All zeros", lambda w, g: nn.init.zeros_(w),
                      "Every unit computes the same thing and gets the same gradient: symmetry is never broken.",
                      r"W = 0"),
    "constant": InitSpec("Constant 0.05", lambda w, g: nn.init.constant_(w, 0.05),
                         "Same problem as zeros: identical units stay identical.", r"W = 0.05"),
    "normal-small": InitSpec("Normal, std 0.01", lambda w, g: nn.init.normal_(w, 0.0, 0.01),
                             "Too small for deep nets: activations shrink layer after layer (vanishing).",
                             r"W \sim \mathcal{N}(0, 0.01^2)"),
    "normal-large": InitSpec("Normal, std 1.0", lambda w, g: nn.init.normal_(w, 0.0, 1.0),
                             "Too large: activations explode (or tanh/sigmoid saturate).",
                             r"W \sim \mathcal{N}(0, 1)"),
    "uniform": InitSpec("Uniform(-0.05, 0.05)", lambda w, g: nn.init.uniform_(w, -0.05, 0.05),
                        "A fixed range that ignores the layer size.", r"W \sim \mathcal{U}(-0.05, 0.05)"),
    "xavier-uniform": InitSpec("Xavier/Glorot uniform (2010, gain 1)",
                               lambda w, g: nn.init.xavier_uniform_(w, gain=1.0),
                               "Glorot & Bengio (2010) as written: keeps the variance for activations that are "
                               "linear near 0 (tanh). Under ReLU, which zeroes half its inputs, the signal shrinks "
                               "by about 1/sqrt(2) per layer: the reason Kaiming exists.",
                               r"W \sim \mathcal{U}(-a, a),\ a = \sqrt{6/(n_{in}+n_{out})}"),
    "xavier-normal": InitSpec("Xavier/Glorot normal (2010, gain 1)",
                              lambda w, g: nn.init.xavier_normal_(w, gain=1.0),
                              "Normal version of Glorot & Bengio's rule, gain 1: under ReLU the signal shrinks "
                              "about x0.71 per layer.",
                              r"W \sim \mathcal{N}(0, \sigma^2),\ \sigma = \sqrt{2/(n_{in}+n_{out})}"),
    "xavier-uniform-gain": InitSpec(
        "Xavier uniform x activation gain",
        lambda w, g: nn.init.xavier_uniform_(w, gain=nn.init.calculate_gain(_kaiming_nl(g))),
        "A later variant (not the 2010 paper): Xavier times torch's calculate_gain(activation), sqrt(2) for ReLU; on "
        "square layers it equals Kaiming.",
        r"W \sim \mathcal{U}(-a, a),\ a = \text{gain}\sqrt{6/(n_{in}+n_{out})}"),
    "xavier-normal-gain": InitSpec(
        "Xavier normal x activation gain",
        lambda w, g: nn.init.xavier_normal_(w, gain=nn.init.calculate_gain(_kaiming_nl(g))),
        "Xavier normal times calculate_gain(activation) (sqrt(2) for ReLU): a variant, not the 2010 paper.",
        r"W \sim \mathcal{N}(0, \sigma^2),\ \sigma = \text{gain}\sqrt{2/(n_{in}+n_{out})}"),
    "kaiming-uniform-fan-in": InitSpec(
        "Kaiming/He uniform (fan_in)",
        lambda w, g: nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity=_kaiming_nl(g)),
        "Compensates ReLU halving the variance: keeps forward activations at scale.",
        r"W \sim \mathcal{U}(-b, b),\ b = \text{gain}\sqrt{3/n_{in}}"),
    "kaiming-normal-fan-in": InitSpec(
        "Kaiming/He normal (fan_in)",
        lambda w, g: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity=_kaiming_nl(g)),
        "He et al. 2015: std = gain / sqrt(fan_in), gain = sqrt(2) for ReLU.",
        r"W \sim \mathcal{N}(0, \sigma^2),\ \sigma = \text{gain}/\sqrt{n_{in}}"),
    "kaiming-normal-fan-out": InitSpec(
        "Kaiming/He normal (fan_out)",
        lambda w, g: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity=_kaiming_nl(g)),
        "Keeps backward gradients at scale instead of forward activations.",
        r"W \sim \mathcal{N}(0, \sigma^2),\ \sigma = \text{gain}/\sqrt{n_{out}}"),
    "kaiming-uniform-fan-out": InitSpec(
        "Kaiming/He uniform (fan_out)",
        lambda w, g: nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity=_kaiming_nl(g)),
        "Uniform version of Kaiming fan_out.", r"W \sim \mathcal{U}(-b, b),\ b = \text{gain}\sqrt{3/n_{out}}"),
    "orthogonal": InitSpec("Orthogonal",
                           lambda w, g: nn.init.orthogonal_(w, gain=nn.init.calculate_gain(_kaiming_nl(g))),
                           "A (scaled) orthogonal matrix: preserves norms exactly in linear nets.",
                           r"W^T W = \text{gain}^2 I"),
}


def _kaiming_nl(gain_name: str) -> str:
    # The activation registry's torch gain name (gelu / elu use ReLU's); "linear" passes through.
    if gain_name in ACTIVATIONS:
        return ACTIVATIONS[gain_name].init_gain_name
    return "linear" if gain_name == "linear" else "relu"


def expected_std(scheme: str, weight: torch.Tensor, nonlinearity: str = "relu") -> float | None:
    """The std a scheme's formula predicts for this weight tensor (None where it is not a fixed number)."""
    fan_in, fan_out = _fans(weight)
    gain = nn.init.calculate_gain(_kaiming_nl(nonlinearity))
    table = {
        "zeros": 0.0, "constant": 0.0, "normal-small": 0.01, "normal-large": 1.0,
        "uniform": 0.1 / math.sqrt(12),
        "default": (2 / math.sqrt(fan_in)) / math.sqrt(12),
        "xavier-uniform": math.sqrt(2 / (fan_in + fan_out)),
        "xavier-normal": math.sqrt(2 / (fan_in + fan_out)),
        "xavier-uniform-gain": gain * math.sqrt(2 / (fan_in + fan_out)),
        "xavier-normal-gain": gain * math.sqrt(2 / (fan_in + fan_out)),
        "orthogonal": gain / math.sqrt(max(weight.shape[0], weight[0].numel())),  # unit rows (or columns), scaled
        "kaiming-uniform-fan-in": gain / math.sqrt(fan_in),
        "kaiming-normal-fan-in": gain / math.sqrt(fan_in),
        "kaiming-normal-fan-out": gain / math.sqrt(fan_out),
        "kaiming-uniform-fan-out": gain / math.sqrt(fan_out),
    }
    return table.get(scheme)


@torch.no_grad()
def apply_init(model: nn.Module, scheme: str, nonlinearity: str = "relu", bias: float = 0.0) -> nn.Module:
    """Re-initialize every Conv/Linear weight with a scheme (biases set to `bias`); returns the model.

    'default' leaves the model as PyTorch built it. Uses the global torch RNG: seed it first.
    """
    if scheme not in INIT_SCHEMES:
        raise InvalidConfig(f"Unknown init scheme '{scheme}'. Choose one of: {', '.join(INIT_SCHEMES)}")
    if scheme == "default":
        return model
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            INIT_SCHEMES[scheme].fn(module.weight, nonlinearity)
            if module.bias is not None:
                nn.init.constant_(module.bias, bias)
    return model
