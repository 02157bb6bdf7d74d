"""Per-layer summaries of the pretrained ImageNet networks (EfficientNet-Lite0 always, ResNet-18 when cached).

The Architecture page shows them beside the networks a student builds, with the same table.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cnn_core.inspect.summary import layer_summary, summary_totals
from cnn_core.training import zoo

PRETRAINED_INPUT = (3, 224, 224)  # both networks' ImageNet input: C x H x W
PRETRAINED_KEYS = ("efficientnet-lite0", "resnet18")  # zoo.VISION_MODELS keys, in the page's order


@dataclass(frozen=True)
class PretrainedSummary:
    """A pretrained network's per-layer table and totals (picklable: a st.cache_data value)."""

    key: str
    label: str
    description: str
    summary: pd.DataFrame  # layer_summary columns, one row per executed layer
    totals: dict[str, float]  # summary_totals: params, trainable, mult_adds, activation_mb


def pretrained_choices() -> dict[str, str]:
    """key -> label of the pretrained networks here: EfficientNet-Lite0, ResNet-18 when its weights are cached."""
    available = [key for key in PRETRAINED_KEYS
                 if zoo.VISION_MODELS[key].offline or zoo.torchvision_weights_cached(key)]
    return {key: zoo.VISION_MODELS[key].label for key in available}


def summarize_pretrained(key: str) -> PretrainedSummary:
    """Load a pretrained network (WeightsUnavailable when it cannot be had) and summarize it on a 224 x 224 input."""
    vision = zoo.load_vision_model(key)
    summary = layer_summary(vision.model, PRETRAINED_INPUT)
    return PretrainedSummary(key, vision.label, vision.description, summary, summary_totals(summary, vision.model))
