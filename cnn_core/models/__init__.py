"""Models: LeNet-5, the lecture's ConvNet, MLPs, deep plain CNNs, and a layer-spec builder."""
from .builder import (LAYER_DEFAULTS, LAYER_EXPLANATIONS, LENET5_SPECS, LayerSpec, build_from_specs,
                      conv_output_size, output_shapes, specs_from_json, specs_to_json)
from .layers import ACTIVATIONS, ActivationSpec, make_activation
from .lenet import LeNet5
from .registry import MODELS, ModelOptions, ModelSpec, build_model
from .simple import MLP, LectureConvNet, LectureConvNetSequential, PlainCNN

__all__ = ["ACTIVATIONS", "ActivationSpec", "LAYER_DEFAULTS", "LAYER_EXPLANATIONS", "LENET5_SPECS", "LayerSpec",
           "LeNet5", "LectureConvNet", "LectureConvNetSequential", "MLP", "MODELS", "ModelOptions", "ModelSpec",
           "PlainCNN", "build_from_specs", "build_model", "conv_output_size", "make_activation", "output_shapes",
           "specs_from_json", "specs_to_json"]
