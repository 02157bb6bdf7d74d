"""torchvision's COCO detectors (SSDlite320-MobileNetV3, Faster R-CNN MobileNetV3-FPN) from the torch hub cache,
downloaded only on request; offline they end in WeightsUnavailable with a clear message."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cnn_core.training.zoo import DOWNLOAD_TIMEOUT_S, TorchvisionWeights, download_weights, load_cached
from cnn_core.vision.boxes import Detections

_COCO = {"member": "COCO_V1", "module": "torchvision.models.detection"}
DETECTORS = {
    "ssdlite": TorchvisionWeights("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights",
                                  "SSDlite320 MobileNetV3-Large (COCO)", 13.4, **_COCO),
    "fasterrcnn": TorchvisionWeights("fasterrcnn_mobilenet_v3_large_fpn", "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
                                     "Faster R-CNN MobileNetV3-Large FPN (COCO)", 74.2, **_COCO),
}


def is_cached(key: str) -> bool:
    """True when the detector's weights are already in the torch hub cache."""
    return DETECTORS[key].cache_file().is_file()


def download(key: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the weights into the torch hub cache (checked against the sha256 prefix in the file name)."""
    return download_weights(DETECTORS[key], timeout)


def load(key: str) -> tuple[nn.Module, tuple[str, ...]]:
    """(model in eval mode, COCO class names) from the cache; WeightsUnavailable when not downloaded."""
    import torchvision.models.detection as det

    entry = DETECTORS[key]
    model = load_cached(entry, lambda: getattr(det, entry.arch)(weights=None, weights_backbone=None),
                        "use MTCNN, which works offline.")
    return model.eval(), tuple(entry.enum().meta["categories"])


@torch.no_grad()
def run_detector(model: nn.Module, photo: torch.Tensor, score_threshold: float = 0.5) -> Detections:
    """3 x H x W float [0, 1] photo -> detections above the threshold (torchvision models resize internally)."""
    out = model([photo])[0]
    keep = out["scores"] >= score_threshold
    return Detections(out["boxes"][keep], out["scores"][keep], out["labels"][keep])
