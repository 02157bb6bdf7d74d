"""MTCNN (Zhang et al. 2016): a cascade of three small CNNs that finds faces and five landmarks.

P-Net is fully convolutional: run on an image pyramid it is a 12 x 12 sliding window with stride 2,
giving a face-probability map per scale; its candidate boxes go through NMS, R-Net re-scores 24 x 24
crops of them, O-Net re-scores 48 x 48 crops and adds five landmarks. The networks are defined here; the
trained weights are read (never imported as code) from the pip wheel facenet-pytorch 2.6.0 (MIT),
``facenet_pytorch/data/{pnet,rnet,onet}.pt``, plain state dicts loaded with ``weights_only=True``.
The pipeline follows facenet-pytorch's (thresholds 0.6 / 0.7 / 0.7, pyramid factor 0.709).
"""
from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, box_iou

from cnn_core.errors import PlaygroundError

WEIGHT_VALUES = {"pnet": 6_632, "rnet": 100_178, "onet": 389_040}
INSTALL_HINT = ("MTCNN's weights ship in the pip wheel facenet-pytorch 2.6.0 (MIT). Install it without its "
                "dependencies (its code pins an old torch and is never imported): "
                "pip install --no-deps facenet-pytorch==2.6.0")


class WeightsMissing(PlaygroundError):
    """The MTCNN weight files are not installed; the message says how to get them."""


class PNet(nn.Module):
    """Proposal net, fully convolutional: N x 3 x H x W -> (box offsets N x 4 x h x w, face prob N x h x w)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)  # face / not face
        self.conv4_2 = nn.Conv2d(32, 4, 1)  # box offsets

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """12 x 12 input -> 1 x 1 output; each output cell sees a 12 x 12 window, stride 2."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)[:, 1]


class RNet(nn.Module):
    """Refine net: N x 3 x 24 x 24 crops -> (box offsets N x 4, face prob N)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1, self.pool1 = nn.Conv2d(3, 28, 3), nn.PReLU(28), nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2, self.pool2 = nn.Conv2d(28, 48, 3), nn.PReLU(48), nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N x 3 x 24 x 24 -> (N x 4, N)."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))  # N x 64 x 3 x 3
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).flatten(1)))  # Caffe's (w, h) order
        return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)[:, 1]


class ONet(nn.Module):
    """Output net: N x 3 x 48 x 48 crops -> (box offsets N x 4, landmarks N x 10, face prob N)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1, self.pool1 = nn.Conv2d(3, 32, 3), nn.PReLU(32), nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2, self.pool2 = nn.Conv2d(32, 64, 3), nn.PReLU(64), nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3, self.pool3 = nn.Conv2d(64, 64, 3), nn.PReLU(64), nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """N x 3 x 48 x 48 -> (N x 4, N x 10 landmarks: 5 x then 5 y as fractions of the box, N)."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))  # N x 128 x 3 x 3
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).flatten(1)))
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(dim=1)[:, 1]


def weights_dir() -> Path | None:
    """facenet_pytorch/data of the installed wheel, found without importing the package (None if absent)."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "data"
    return folder if folder.is_dir() else None


def load_nets(folder: Path | None = None) -> tuple[PNet, RNet, ONet]:
    """P-Net, R-Net, O-Net with the wheel's weights (eval mode); WeightsMissing with the install line otherwise."""
    folder = folder or weights_dir()
    nets = (PNet(), RNet(), ONet())
    for name, net in zip(("pnet", "rnet", "onet"), nets):
        path = folder / f"{name}.pt" if folder else None
        if path is None or not path.is_file():
            raise WeightsMissing(f"{name}.pt not found. " + INSTALL_HINT)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except Exception as exc:  # damaged file, another architecture
            raise WeightsMissing(f"{path} cannot be loaded ({type(exc).__name__}: {exc}). " + INSTALL_HINT) from exc
        net.eval()
    return nets


@dataclass
class Stage:
    """Boxes at one point of the cascade: k x 4 xyxy pixels of the photo and k scores."""

    name: str
    boxes: torch.Tensor
    scores: torch.Tensor
    note: str = ""


@dataclass
class MTCNNResult:
    """Everything the cascade did on one photo, for drawing: pyramid, P-Net maps, boxes per stage, landmarks."""

    scales: list[float]
    pnet_maps: list[torch.Tensor]  # one h x w face-probability map per pyramid scale
    stages: list[Stage]
    landmarks: torch.Tensor  # k x 5 x 2 (x, y) pixels of the final faces
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def faces(self) -> Stage:
        """The final boxes (after O-Net and its NMS)."""
        return self.stages[-1]


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each xyxy box to a square around its centre."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    x1, y1 = boxes[:, 0] + w / 2 - side / 2, boxes[:, 1] + h / 2 - side / 2
    return torch.stack([x1, y1, x1 + side, y1 + side], dim=1)


def _refine(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Apply the networks' box regression: each corner moves by offset x box size."""
    size = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, dim=1)
    return boxes + offsets * size


def _crops(image: torch.Tensor, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops of 1 x 3 x H x W at boxes (clipped to the image), resized to size x size; and which boxes were kept."""
    _, _, h, w = image.shape
    out, keep = [], []
    for k, (x1, y1, x2, y2) in enumerate(boxes.trunc().int().tolist()):
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        out.append(F.interpolate(image[:, :, y1:y2, x1:x2], size=(size, size), mode="area"))
        keep.append(k)
    if not out:
        return torch.zeros(0, 3, size, size), torch.zeros(0, dtype=torch.long)
    return torch.cat(out), torch.tensor(keep)


def _min_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """NMS with overlap = intersection / smaller area (MTCNN's last step): keeps nested boxes out."""
    order = torch.argsort(scores, descending=True).tolist()
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    for i in order:
        if keep:
            k = torch.tensor(keep)
            lt = torch.maximum(boxes[k, :2], boxes[i, :2])
            rb = torch.minimum(boxes[k, 2:], boxes[i, 2:])
            inter = (rb - lt).clamp_min(0).prod(1)
            if (inter / torch.minimum(area[k], area[i]).clamp_min(1e-9) > threshold).any():
                continue
        keep.append(i)
    return torch.tensor(keep, dtype=torch.long)


@torch.no_grad()
def detect_faces(nets: tuple[PNet, RNet, ONet], photo: np.ndarray, min_face: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), factor: float = 0.709,
                 nms_iou: tuple[float, float, float] = (0.7, 0.7, 0.7)) -> MTCNNResult:
    """Run the cascade on an H x W x 3 uint8 RGB photo; every stage's boxes are kept for display."""
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"MTCNN needs an H x W x 3 RGB photo, got shape {photo.shape}")
    if not 0 < factor < 1 or min_face < 12:
        raise ValueError("the pyramid factor must lie in (0, 1) and the smallest face be at least 12 px")
    pnet, rnet, onet = nets
    start = time.perf_counter()
    image = torch.from_numpy(np.array(photo, dtype=np.uint8)).permute(2, 0, 1)[None].float()  # 1 x 3 x H x W
    h, w = photo.shape[:2]
    scale, side, scales = 12.0 / min_face, min(h, w) * 12.0 / min_face, []
    while side >= 12:
        scales.append(scale)
        scale, side = scale * factor, side * factor
    maps, cand_boxes, cand_scores, cand_offsets = [], [], [], []
    for s in scales:
        level = F.interpolate(image, size=(int(h * s + 1), int(w * s + 1)), mode="area")
        offsets, prob = pnet(_normalize(level))  # 1 x 4 x h' x w', 1 x h' x w'
        maps.append(prob[0])
        rows, cols = torch.nonzero(prob[0] >= thresholds[0], as_tuple=True)
        xy = torch.stack([cols, rows], dim=1).float()
        boxes = torch.cat([((2 * xy + 1) / s).floor(), ((2 * xy + 12) / s).floor()], dim=1)  # 12 x 12 window
        scores, offs = prob[0, rows, cols], offsets[0, :, rows, cols].T
        keep = batched_nms(boxes, scores, torch.zeros_like(scores, dtype=torch.long), 0.5)  # within a scale
        cand_boxes.append(boxes[keep])
        cand_scores.append(scores[keep])
        cand_offsets.append(offs[keep])
    boxes, scores, offs = torch.cat(cand_boxes), torch.cat(cand_scores), torch.cat(cand_offsets)
    stages = [Stage("P-Net candidates", boxes, scores, f"windows with face probability >= {thresholds[0]} "
                                                        "(after NMS within each scale)")]
    keep = batched_nms(boxes, scores, torch.zeros_like(scores, dtype=torch.long), nms_iou[0])
    boxes, scores = _square(_refine(boxes[keep], offs[keep])), scores[keep]
    stages.append(Stage("P-Net after NMS", boxes, scores, f"NMS over all scales at IoU {nms_iou[0]}, refined, squared"))
    t_p = time.perf_counter()

    crops, kept = _crops(image, boxes, 24)
    boxes = boxes[kept]
    offs, scores = rnet(_normalize(crops)) if len(crops) else (torch.zeros(0, 4), torch.zeros(0))
    passed = scores > thresholds[1]
    boxes, scores, offs = boxes[passed], scores[passed], offs[passed]
    stages.append(Stage("R-Net accepted", boxes, scores, f"24 x 24 crops with R-Net score > {thresholds[1]}"))
    keep = batched_nms(boxes, scores, torch.zeros_like(scores, dtype=torch.long), nms_iou[1])
    boxes, scores = _square(_refine(boxes[keep], offs[keep])), scores[keep]
    stages.append(Stage("R-Net after NMS", boxes, scores, f"NMS at IoU {nms_iou[1]}, refined, squared"))
    t_r = time.perf_counter()

    crops, kept = _crops(image, boxes, 48)
    boxes = boxes[kept]
    offs, marks, scores = onet(_normalize(crops)) if len(crops) else (torch.zeros(0, 4), torch.zeros(0, 10),
                                                                       torch.zeros(0))
    passed = scores > thresholds[2]
    boxes, scores, offs, marks = boxes[passed], scores[passed], offs[passed], marks[passed]
    size = (boxes[:, 2:] - boxes[:, :2])  # k x 2
    landmarks = torch.stack([boxes[:, :1] + marks[:, :5] * size[:, :1],
                             boxes[:, 1:2] + marks[:, 5:] * size[:, 1:]], dim=2)  # k x 5 x 2
    boxes = _refine(boxes, offs)
    stages.append(Stage("O-Net accepted", boxes, scores, f"48 x 48 crops with O-Net score > {thresholds[2]}"))
    keep = _min_nms(boxes, scores, nms_iou[2]) if len(scores) else torch.zeros(0, dtype=torch.long)
    stages.append(Stage("Faces", boxes[keep], scores[keep],
                        f"NMS with overlap = intersection / smaller box > {nms_iou[2]} removed"))
    end = time.perf_counter()
    return MTCNNResult(scales, maps, stages, landmarks[keep], end - start,
                       {"P-Net": t_p - start, "R-Net": t_r - t_p, "O-Net": end - t_r})


@torch.no_grad()
def pnet_window_check(pnet: PNet, image: torch.Tensor, row: int, col: int) -> tuple[float, float]:
    """(score map value at (row, col), P-Net on the 12 x 12 window at (2 row, 2 col)): equal, P-Net is a sliding window."""
    _, prob = pnet(image)
    _, one = pnet(image[:, :, 2 * row:2 * row + 12, 2 * col:2 * col + 12])
    return float(prob[0, row, col]), float(one[0, 0, 0])


def iou_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box in a with every box in b (torchvision's box_iou), for comparisons in tests and pages."""
    return box_iou(a, b)
