"""torchvision's pretrained segmenters (COCO images, the 21 Pascal VOC classes), when their weights are cached.

Loaded from the torch hub cache, or downloaded on request (cnn_core.training.zoo.download_weights);
offline, WeightsUnavailable says what was tried. Never downloads by itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnn_core.training.zoo import IMAGENET_MEAN, IMAGENET_STD, TorchvisionWeights, load_cached

SEGMENTERS = {
    "lraspp": TorchvisionWeights("lraspp_mobilenet_v3_large", "LRASPP_MobileNet_V3_Large_Weights",
                                 "LRASPP MobileNetV3-Large (COCO, VOC classes)", 12.5,
                                 member="COCO_WITH_VOC_LABELS_V1", module="torchvision.models.segmentation"),
    "deeplabv3": TorchvisionWeights("deeplabv3_mobilenet_v3_large", "DeepLabV3_MobileNet_V3_Large_Weights",
                                    "DeepLabV3 MobileNetV3-Large (COCO, VOC classes)", 42.3,
                                    member="COCO_WITH_VOC_LABELS_V1", module="torchvision.models.segmentation"),
}
INPUT_SIDE = 520   # torchvision's resize for these weights (shorter side)
MAX_SIDE = 800     # longer side cap, so a huge photo costs a bounded forward pass


@dataclass(eq=False)
class PretrainedSegmenter:
    """A loaded segmenter (eval mode, CPU; shared and read-only) and its class names."""

    key: str
    label: str
    model: nn.Module
    class_names: tuple[str, ...]


def cached(key: str) -> bool:
    """True when the weights are already in the torch hub cache."""
    return SEGMENTERS[key].cache_file().is_file()


def build(key: str) -> nn.Module:
    """The architecture with random weights (no download): what a cached state dict is loaded into."""
    import importlib

    entry = SEGMENTERS[key]
    factory = getattr(importlib.import_module(entry.module), entry.arch)
    extra = {"aux_loss": True} if key == "deeplabv3" else {}
    return factory(weights=None, weights_backbone=None, num_classes=21, **extra)


def load_segmenter(key: str) -> PretrainedSegmenter:
    """From the torch hub cache; WeightsUnavailable (with what to do) when absent or damaged."""
    entry = SEGMENTERS[key]
    model = load_cached(entry, lambda: build(key), "train the U-Net on the first tab: it works offline.")
    return PretrainedSegmenter(key, entry.label, model.eval(), tuple(entry.enum().meta["categories"]))


def prepare(image: Image.Image) -> torch.Tensor:
    """RGB photo -> 1 x 3 x H x W: shorter side 520 (longer side at most 800), ImageNet mean / std."""
    rgb = image.convert("RGB")
    scale = min(INPUT_SIDE / min(rgb.size), MAX_SIDE / max(rgb.size))
    rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((x - mean) / std)[None]


@torch.no_grad()
def segment(segmenter: PretrainedSegmenter, image: Image.Image) -> tuple[torch.Tensor, dict[str, float]]:
    """H x W class indices at the prepared size, and the share of pixels of every class present."""
    logits = segmenter.model(prepare(image))["out"]  # 1 x 21 x H x W
    mask = logits.argmax(1)[0]
    counts = torch.bincount(mask.flatten(), minlength=len(segmenter.class_names)).double() / mask.numel()
    shares = {segmenter.class_names[i]: float(c) for i, c in enumerate(counts) if c > 0}
    return mask, dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def overlay(image: Image.Image, mask: torch.Tensor, palette: np.ndarray, alpha: float = 0.55) -> Image.Image:
    """The photo (at the mask's size) with each class painted in its palette colour; background left clear."""
    photo = np.asarray(image.convert("RGB").resize((mask.shape[1], mask.shape[0]), Image.BILINEAR), dtype=np.float32)
    colours = palette[mask.numpy() % len(palette)].astype(np.float32)
    painted = np.where(mask.numpy()[..., None] > 0, (1 - alpha) * photo + alpha * colours, photo)
    return Image.fromarray(painted.clip(0, 255).astype(np.uint8))


def voc_palette(count: int = 21) -> np.ndarray:
    """The Pascal VOC colour map (bit-interleaved), count x 3 uint8."""
    palette = np.zeros((count, 3), dtype=np.uint8)
    for index in range(count):
        c, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[index] = (r, g, b)
    return palette

