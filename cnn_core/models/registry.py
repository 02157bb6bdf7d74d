"""Model registry: every entry builds a fresh nn.Module from ModelOptions, and what one costs (built on meta)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..errors import InvalidConfig
from .builder import LENET5_SPECS, LayerSpec
from .checked_build import build_from_specs
from .cost import ModelCost, profile
from .lenet import LeNet5, LeNet5Paper
from .simple import MLP, LectureConvNet, LectureConvNetSequential, PlainCNN


@dataclass(frozen=True)
class ModelOptions:
    """Everything a model factory may use; hashable so it can key caches."""

    in_channels: int = 1      # image channels (1 for MNIST, 3 for CIFAR-10)
    image_size: int = 28      # height = width of the input
    num_classes: int = 10     # size of the output layer
    activation: str | None = None  # None = the model's own choice
    dropout: float = 0.0      # dropout rate in the classifier (0 = off)
    batch_norm: bool = False  # batch norm after each conv / hidden linear layer
    depth: int = 10           # hidden layers of the deep plain nets
    width: int | None = None  # channels (plain CNN, default 16) or units (deep MLP, default 128) per layer
    layers: tuple[LayerSpec, ...] = ()  # the 'custom' model's layer list

    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one input image."""
        return (self.in_channels, self.image_size, self.image_size)


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: label, factory and a one-line explanation."""

    label: str
    factory: Callable[[ModelOptions], nn.Module]
    explanation: str
    fixed_input: tuple[int, int, int] | None = None  # models drawn for one input size only


def _check_lenet_input(o: ModelOptions) -> None:
    if o.image_size not in (28, 32):
        raise InvalidConfig(f"LeNet-5 takes 28x28 or 32x32 images, not {o.image_size}x{o.image_size}")


def _lenet(variant: str) -> Callable[[ModelOptions], nn.Module]:
    def build(o: ModelOptions) -> nn.Module:
        _check_lenet_input(o)
        return LeNet5(variant, o.in_channels, o.num_classes, o.image_size, o.dropout, o.batch_norm, o.activation)
    return build


def _lenet_1998(o: ModelOptions) -> nn.Module:
    _check_lenet_input(o)
    return LeNet5Paper(o.in_channels, o.num_classes, o.image_size)


MODELS: dict[str, ModelSpec] = {
    "lenet5-modern": ModelSpec(
        "LeNet-5 (modern: ReLU + max pooling)", _lenet("modern"),
        "LeCun's 1998 layout (C1-S2-C3-S4-C5-F6) with today's ReLU and max pooling: 61,706 parameters."),
    "lenet5-classic": ModelSpec(
        "LeNet-5 layout, simplified (tanh + average pooling)", _lenet("classic"),
        "LeNet-5's layout with plain tanh, parameter-free average pooling, a fully connected C3 and a linear "
        "output: 61,706 parameters. Not the published network: see 'lenet5-1998'."),
    "lenet5-1998": ModelSpec(
        "LeNet-5 as published (LeCun et al. 1998)", _lenet_1998,
        "The 1998 network: 1.7159 tanh(2a/3), trainable sub-sampling, Table I's sparse C3, Euclidean RBF output "
        "with fixed +-1 codes (seeded random: the paper's 7x12 bitmaps are not available): 60,000 trainable "
        "parameters."),
    "mlp": ModelSpec(
        "MLP (the lecture's ANN)",
        lambda o: MLP(o.in_channels * o.image_size ** 2, o.num_classes, width=256, depth=2,
                      activation=o.activation or "relu", dropout=o.dropout, batch_norm=o.batch_norm),
        "Flatten the image and use fully-connected layers: no weight sharing, no notion of neighbourhood."),
    "deep-mlp": ModelSpec(
        "Deep MLP (depth x width)",
        lambda o: MLP(o.in_channels * o.image_size ** 2, o.num_classes, width=o.width or 128, depth=o.depth,
                      activation=o.activation or "relu", dropout=o.dropout, batch_norm=o.batch_norm),
        "A deep fully-connected stack: where initialization decides whether signals survive."),
    "plain-cnn": ModelSpec(
        "Deep plain CNN (depth x 3x3 conv)",
        lambda o: PlainCNN(o.in_channels, o.num_classes, o.width or 16, o.depth, o.activation or "relu", o.dropout,
                           o.batch_norm),
        "A stack of 3x3 convolutions without skip connections: deep enough to show vanishing signals."),
    "convnet-lecture": ModelSpec(
        "Lecture ConvNet (nn.Module form)", lambda o: LectureConvNet(),
        "The lecture's example: Conv2d(3, 16, 3) -> ReLU -> AvgPool2d(2, 2) -> Linear(16*5*5, 60).",
        fixed_input=(3, 12, 12)),
    "convnet-lecture-seq": ModelSpec(
        "Lecture ConvNet (nn.Sequential form)", lambda o: LectureConvNetSequential(),
        "The same network written with nn.Sequential.", fixed_input=(3, 12, 12)),
    "custom": ModelSpec(
        "Custom (built from layers)",
        lambda o: build_from_specs(o.layers or LENET5_SPECS, o.input_shape()),
        "A network you assemble layer by layer on the Architecture page."),
}


def build_model(name: str, options: ModelOptions | None = None) -> nn.Module:
    """A freshly initialized model from the registry (seed torch first for reproducible weights)."""
    if name not in MODELS:
        raise InvalidConfig(f"Unknown model '{name}'. Choose one of: {', '.join(MODELS)}")
    options = options or ModelOptions()
    if not 0 <= options.dropout < 1:
        raise InvalidConfig(f"Dropout must be in [0, 1), got {options.dropout}")
    if not 1 <= options.depth <= 50 or not 1 <= (options.width or 1) <= 1024:
        raise InvalidConfig("depth must be in 1..50 and width in 1..1024")
    return MODELS[name].factory(options)


def meta_model(name: str, options: ModelOptions) -> nn.Module:
    """The registry model `name` built on the meta device: shapes and parameter counts, no memory."""
    with torch.device("meta"):
        return build_model(name, options)


def model_cost(name: str, options: ModelOptions) -> ModelCost:
    """The per-sample cost of a registry model with these ModelOptions (built on the meta device)."""
    return profile(meta_model(name, options), options.input_shape())
