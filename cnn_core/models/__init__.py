"""Models: LeNet-5, the lecture's ConvNet, MLPs, deep plain CNNs, and a layer-spec builder."""
from cnn_core.models.builder import (LAYER_DEFAULTS, LAYER_EXPLANATIONS, LENET5_SPECS, LayerSpec, build_from_specs,
                      conv_output_size, output_shapes, specs_from_json, specs_to_json)
from cnn_core.models.activations import ACTIVATIONS, ActivationSpec, make_activation
from cnn_core.models.lenet import LeNet5
from cnn_core.models.registry import MODELS, ModelOptions, ModelSpec, build_model
from cnn_core.models.simple import MLP, LectureConvNet, LectureConvNetSequential, PlainCNN

__all__ = ["ACTIVATIONS", "ActivationSpec", "LAYER_DEFAULTS", "LAYER_EXPLANATIONS", "LENET5_SPECS", "LayerSpec",
           "LeNet5", "LectureConvNet", "LectureConvNetSequential", "MLP", "MODELS", "ModelOptions", "ModelSpec",
           "PlainCNN", "build_from_specs", "build_model", "conv_output_size", "make_activation", "output_shapes",
           "specs_from_json", "specs_to_json"]
