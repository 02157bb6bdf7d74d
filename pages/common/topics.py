"""The one topic list: every page of the app, in the lecture's order, grouped into sidebar sections.

playground.py builds the navigation (``st.navigation``) from it and the home page links it.
Adding a page is ONE new ``Topic(...)`` entry below (use keyword arguments); a topic whose file
does not exist yet is skipped, so an entry may land before its page.

Fields of :class:`Topic`:

- ``file``: the page's file name under ``pages/`` (e.g. ``"3_Basic_Layers.py"``). Its URL is
  derived from it as Streamlit does (``/Basic_Layers``: the number prefix dropped).
- ``section``: the sidebar group, one of :data:`SECTIONS` (the lecture's parts).
- ``title``: the short name in the sidebar and the browser tab.
- ``icon``: one emoji, shown in the sidebar and on the home page.
- ``lecture``: the lecture sections the page covers (the home page's link text).
- ``blurb``: one sentence on what a student does there (the home page's caption).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parent.parent

# The sidebar's sections in the lecture's order; a section with no existing page is not shown.
SECTIONS: tuple[str, ...] = ("Lessons", "Foundations", "Inside a CNN", "Training", "Vision tasks", "Classroom")

HOME_TITLE = "Home"
HOME_ICON = "🏠"


@dataclass(frozen=True)
class Topic:
    """A topic page: its file under pages/, sidebar section and title, lecture sections, what you do there."""

    file: str
    section: str
    title: str
    icon: str
    lecture: str
    blurb: str

    def __post_init__(self) -> None:
        if self.section not in SECTIONS:
            raise ValueError(f"Topic {self.file!r}: section {self.section!r} is not one of {SECTIONS}")


TOPICS: tuple[Topic, ...] = (
    Topic(file="13_Lessons.py", section="Lessons", title="Lessons", icon="📝",
          lecture="Exercises for every section of the lecture: predict, run, check",
          blurb="Your progress section by section; each exercise opens on its topic page with its setup."),
    Topic(file="1_From_ANNs_to_CNNs.py", section="Foundations", title="From ANNs to CNNs", icon="🧠",
          lecture="From ANNs to CNNs",
          blurb="Why fully-connected nets don't scale to images: parameter counts and a shifted-digit experiment."),
    Topic(file="2_Architecture.py", section="Foundations", title="Architecture", icon="🏗️",
          lecture="CNN architecture, LeNet-5, defining a model in PyTorch",
          blurb="Pick LeNet-5 or build your own CNN: shapes, parameters, receptive fields, diagram, PyTorch code."),
    Topic(file="3_Basic_Layers.py", section="Inside a CNN", title="Basic layers", icon="🧩",
          lecture="Input, convolution, activation, pooling, fully-connected layers",
          blurb="Slide a kernel over your own image, compare activations, see which input wins each max-pool."),
    Topic(file="4_Layer_Visualization.py", section="Inside a CNN", title="Layer visualization", icon="🔍",
          lecture="Layer visualization",
          blurb="Upload a photo or a digit and see every layer of a trained CNN: feature maps, filters, Grad-CAM."),
    Topic(file="5_Weight_Initialization.py", section="Training", title="Weight initialization", icon="🎲",
          lecture="Weight initialization",
          blurb="Zeros, small, large, Xavier, Kaiming: activations and gradients per layer, and training curves."),
    Topic(file="6_Regularization.py", section="Training", title="Regularization", icon="🛡️",
          lecture="Regularization",
          blurb="Overfit on purpose, then cure it: weight decay, L1, dropout, batch norm, augmentation, "
                "early stopping."),
    Topic(file="7_Optimizers.py", section="Training", title="Optimizers", icon="🏃",
          lecture="Optimization methods",
          blurb="SGD, momentum, Adam and friends side by side on a real CNN and on 2-D loss surfaces."),
    Topic(file="8_Train.py", section="Training", title="Train", icon="🏋️",
          lecture="Loss functions, how to train your network, TensorBoard, saving / restoring weights",
          blurb="Train a CNN live, run sanity checks, log to TensorBoard, download and restore checkpoints."),
    Topic(file="9_Hyperparameter_Tuning.py", section="Training", title="Hyper-parameter tuning", icon="🎛️",
          lecture="Hyper-parameter tuning",
          blurb="Learning-rate range test and a grid / random search over learning rate, batch size, weight decay."),
    Topic(file="10_Detection.py", section="Vision tasks", title="Detection", icon="🎯",
          lecture="CNNs for computer vision tasks: classification, localization, object detection",
          blurb="One backbone with three heads, sliding window vs fully convolutional, IoU / anchors / NMS / mAP "
                "with sliders, a digit detector trained live, and MTCNN finding faces."),
    Topic(file="11_Segmentation.py", section="Vision tasks", title="Segmentation", icon="🎨",
          lecture="CNNs for computer vision tasks: semantic segmentation, upsampling, U-Net",
          blurb="Grow an image back (transposed convolution, unpooling), train a U-Net with and without skips, "
                "see why a pixel got its class."),
    Topic(file="12_Gallery.py", section="Classroom", title="Class gallery", icon="🏆",
          lecture="The class gallery: everyone's runs side by side",
          blurb="Leaderboards of the runs your class published, settings vs accuracy, and links that reopen any run."),
)


def available_topics() -> list[Topic]:
    """The topics whose page file exists (pages not built yet do not appear), in TOPICS order."""
    return [t for t in TOPICS if (PAGES_DIR / t.file).exists()]


def topics_by_section() -> dict[str, list[Topic]]:
    """The available topics grouped by section, sections in SECTIONS order, empty sections left out."""
    grouped = {section: [t for t in available_topics() if t.section == section] for section in SECTIONS}
    return {section: topics for section, topics in grouped.items() if topics}
