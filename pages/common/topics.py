"""The topic pages in the lecture's order; the home page links those that exist."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Topic:
    """A topic page: its file under pages/, the lecture sections it covers, and what you do there."""

    file: str
    icon: str
    lecture: str
    blurb: str


TOPICS: tuple[Topic, ...] = (
    Topic("1_From_ANNs_to_CNNs.py", "🧠", "From ANNs to CNNs",
          "Why fully-connected nets don't scale to images: parameter counts and a shifted-digit experiment."),
    Topic("2_Architecture.py", "🏗️", "CNN architecture, LeNet-5, defining a model in PyTorch",
          "Pick LeNet-5 or build your own CNN: shapes, parameters, receptive fields, diagram, PyTorch code."),
    Topic("3_Basic_Layers.py", "🧩", "Input, convolution, activation, pooling, fully-connected layers",
          "Slide a kernel over your own image, compare activations, see which input wins each max-pool."),
    Topic("4_Layer_Visualization.py", "🔍", "Layer visualization",
          "Upload a photo or a digit and see every layer of a trained CNN: feature maps, filters, Grad-CAM."),
    Topic("5_Weight_Initialization.py", "🎲", "Weight initialization",
          "Zeros, small, large, Xavier, Kaiming: activations and gradients per layer, and training curves."),
    Topic("6_Regularization.py", "🛡️", "Regularization",
          "Overfit on purpose, then cure it: weight decay, L1, dropout, batch norm, augmentation, early stopping."),
    Topic("7_Optimizers.py", "🏃", "Optimization methods",
          "SGD, momentum, Adam and friends side by side on a real CNN and on 2-D loss surfaces."),
    Topic("8_Train.py", "🏋️", "Loss functions, how to train your network, TensorBoard, saving / restoring weights",
          "Train a CNN live, run sanity checks, log to TensorBoard, download and restore checkpoints."),
    Topic("9_Hyperparameter_Tuning.py", "🎛️", "Hyper-parameter tuning",
          "Learning-rate range test and a grid / random search over learning rate, batch size, weight decay."),
)


def available_topics() -> list[Topic]:
    """The topics whose page file exists (pages not built yet do not appear)."""
    return [t for t in TOPICS if (PAGES_DIR / t.file).exists()]
