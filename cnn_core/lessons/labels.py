"""Link values as the pages' widgets show them: Streamlit reads a bound selectbox / radio / multiselect option
from the address by its *shown* label (the widget's format_func), so a lesson link names registry entries by
their labels."""
from __future__ import annotations

from cnn_core.experiments.regularization import REG_VARIANTS
from cnn_core.models.init_schemes import INIT_SCHEMES
from cnn_core.models.registry import MODELS
from cnn_core.teaching.layer_ops import KERNEL_PRESETS
from cnn_core.teaching.toy_surfaces import SURFACES
from cnn_core.training.losses import LOSSES
from cnn_core.training.optimizers import OPTIMIZERS, SCHEDULES
from cnn_core.training.zoo import VISION_MODELS

SEG_MODES = {"digits": "background + 10 digits", "foreground": "digit / background"}  # the Segmentation page's


def model(key: str) -> str:
    """A MODELS entry as the Model selectboxes show it."""
    return MODELS[key].label


def init(key: str) -> str:
    """An INIT_SCHEMES entry as the initialization widgets show it."""
    return INIT_SCHEMES[key].label


def loss(key: str) -> str:
    """A LOSSES entry as the Loss selectbox shows it."""
    return LOSSES[key].label


def optimizer(key: str) -> str:
    """An OPTIMIZERS entry as the Optimizer selectboxes show it."""
    return OPTIMIZERS[key].label


def schedule(key: str) -> str:
    """A SCHEDULES entry as the schedule selectbox shows it."""
    return SCHEDULES[key].label


def kernel(key: str) -> str:
    """A KERNEL_PRESETS entry as the Kernel preset selectbox shows it."""
    return KERNEL_PRESETS[key].label


def surface(key: str) -> str:
    """A SURFACES entry as the Test function selectbox shows it."""
    return SURFACES[key].label


def reg_variant(key: str) -> str:
    """A REG_VARIANTS entry as the Variants multiselect shows it."""
    return REG_VARIANTS[key].label


def vision_model(key: str) -> str:
    """A VISION_MODELS entry as the Layer Visualization's Network selectbox shows it."""
    return VISION_MODELS[key].label


def rate(value: float) -> str:
    """A learning rate or weight decay as the tuning page's selects show it (1e-05, 0.001, 1)."""
    return f"{value:g}"


def seg_mode(key: str) -> str:
    """A segmentation mode as the Classes selectbox shows it."""
    return SEG_MODES[key]
