"""Models: LeNet-5, the lecture's ConvNet, MLPs, deep plain CNNs, and a layer-spec builder."""
from cnn_core.models.activations import ACTIVATIONS, ActivationSpec, make_activation
from cnn_core.models.builder import (LAYER_DEFAULTS, LAYER_EXPLANATIONS, LENET5_SPECS, LayerSpec, conv_output_size,
                                     specs_from_json, specs_to_json)
from cnn_core.models.checked_build import build_from_specs, output_shapes
from cnn_core.models.layer_kinds import LAYER_KINDS, LayerKind, Param, conv_transpose_output_size, kind_of_module
from cnn_core.models.lenet import LeNet5, LeNet5Paper, lenet_differences
from cnn_core.models.registry import MODELS, ModelOptions, ModelSpec, build_model
from cnn_core.models.simple import MLP, LectureConvNet, LectureConvNetSequential, PlainCNN

__all__ = ["ACTIVATIONS", "ActivationSpec", "LAYER_DEFAULTS", "LAYER_EXPLANATIONS", "LAYER_KINDS", "LENET5_SPECS",
           "LayerKind", "LayerSpec", "Param", "conv_transpose_output_size", "kind_of_module",
           "LeNet5", "LeNet5Paper", "LectureConvNet", "LectureConvNetSequential", "MLP", "MODELS", "ModelOptions",
           "ModelSpec",
           "PlainCNN", "build_from_specs", "build_model", "conv_output_size", "make_activation", "output_shapes",
           "lenet_differences", "specs_from_json", "specs_to_json"]
