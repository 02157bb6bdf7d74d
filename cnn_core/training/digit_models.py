"""The digit readers a drawn digit can be shown to: LeNet-5 and the MLP baseline, trained on mnist-5k."""
from __future__ import annotations

from cnn_core.training.pretrained import MLP_MNIST, trained_model
from cnn_core.training.zoo import VisionModel, dataset_input_spec


def load_mlp_mnist() -> VisionModel:
    """The fully-connected baseline trained on mnist-5k (trained on first use, then loaded from the disk cache)."""
    model, metrics = trained_model(MLP_MNIST)
    spec = dataset_input_spec(MLP_MNIST.dataset, MLP_MNIST.per_class, (1, 28, 28))
    accuracy = metrics.get("test_accuracy")
    return VisionModel("mlp-mnist", "MLP (trained on MNIST 5k)", model.eval(), spec, tuple(str(d) for d in range(10)),
                       "digits 0-9 with fully-connected layers only (no convolution)"
                       + (f"; test accuracy {accuracy:.1%}" if accuracy else "")
                       + f" after {metrics.get('epochs', '?')} epochs on mnist-5k.")


# key -> (label, loader): models offered next to the zoo's on Layer Visualization
EXTRA_VISION_MODELS = {"mlp-mnist": ("MLP (MNIST digits, no convolutions)", load_mlp_mnist)}
