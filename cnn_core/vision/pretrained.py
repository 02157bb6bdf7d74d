"""torchvision's COCO detectors (SSDlite320-MobileNetV3, Faster R-CNN MobileNetV3-FPN) from the torch hub cache,
downloaded only on request; offline they end in WeightsUnavailable with a clear message."""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnn_core.training.zoo import DOWNLOAD_TIMEOUT_S, WeightsUnavailable
from cnn_core.vision.boxes import Detections


@dataclass(frozen=True)
class DetectorWeights:
    """A torchvision detection model and its COCO weights."""

    builder: str  # torchvision.models.detection function
    weights: str  # weights enum class
    label: str
    megabytes: float

    def enum(self) -> object:
        """The weights enum member (COCO_V1); its meta has the class names."""
        import torchvision.models.detection as det

        return getattr(det, self.weights).COCO_V1

    def cache_file(self) -> Path:
        """Where torchvision keeps the file in the torch hub cache."""
        return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(self.enum().url)


DETECTORS = {
    "ssdlite": DetectorWeights("ssdlite320_mobilenet_v3_large", "SSDLite320_MobileNet_V3_Large_Weights",
                               "SSDlite320 MobileNetV3-Large (COCO)", 13.4),
    "fasterrcnn": DetectorWeights("fasterrcnn_mobilenet_v3_large_fpn", "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
                                  "Faster R-CNN MobileNetV3-Large FPN (COCO)", 74.2),
}


def is_cached(key: str) -> bool:
    """True when the detector's weights are already in the torch hub cache."""
    return DETECTORS[key].cache_file().is_file()


def download(key: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download the weights into the torch hub cache (checked against the sha256 prefix in the file name)."""
    entry = DETECTORS[key]
    url, target = entry.enum().url, entry.cache_file()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".partial", delete=False) as handle:
        tmp = Path(handle.name)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
        if not digest.hexdigest().startswith(target.stem.rsplit("-", 1)[-1]):
            raise WeightsUnavailable(f"The downloaded {entry.label} weights are damaged (checksum); try again.")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise WeightsUnavailable(f"Could not download {entry.label} ({entry.megabytes:.0f} MB) from {url}: "
                                 f"{getattr(exc, 'reason', exc)}. This needs internet once; offline, copy the file "
                                 f"to {target}. MTCNN and your own digit detector work offline.") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load(key: str) -> tuple[nn.Module, tuple[str, ...]]:
    """(model in eval mode, COCO class names) from the cache; WeightsUnavailable when not downloaded."""
    import torchvision.models.detection as det

    entry = DETECTORS[key]
    path = entry.cache_file()
    if not path.is_file():
        raise WeightsUnavailable(f"{entry.label} is not in the torch hub cache ({path}): download it "
                                 f"({entry.megabytes:.0f} MB, needs internet) or use MTCNN, which works offline.")
    model = getattr(det, entry.builder)(weights=None, weights_backbone=None)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:
        raise WeightsUnavailable(f"The cached file {path} cannot be loaded ({type(exc).__name__}); delete it and "
                                 "download again.") from exc
    return model.eval(), tuple(entry.enum().meta["categories"])


@torch.no_grad()
def run_detector(model: nn.Module, photo: torch.Tensor, score_threshold: float = 0.5) -> Detections:
    """3 x H x W float [0, 1] photo -> detections above the threshold (torchvision models resize internally)."""
    out = model([photo])[0]
    keep = out["scores"] >= score_threshold
    return Detections(out["boxes"][keep], out["scores"][keep], out["labels"][keep])
