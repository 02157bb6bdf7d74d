"""From a dense score map to boxes and back: grid targets, decoding, thresholds, NMS, anchors, IoU, AP.

IoU and NMS are torchvision.ops; the average precision is written here (it is the lesson) with COCO's
rules and is tested against pycocotools' COCOeval itself:
detections of a class are sorted by score over all images (at most 100 per image), each one matches
the unmatched ground-truth box of the same class it overlaps most, if that IoU >= the threshold;
precision is made monotone and read at the 101 recall points 0, 0.01, ..., 1 (float64, as COCO's
np.linspace: in float32 0.6 would be 0.6000000238 and a recall of exactly 3/5 would miss it); AP
averages those; mAP averages the classes that have ground truth; mAP@[.5:.95] averages over the ten IoU thresholds 0.50, 0.55, ..., 0.95.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import batched_nms, box_iou

IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
RECALL_POINTS = torch.from_numpy(np.linspace(0.0, 1.0, 101))  # float64, exactly COCOeval's recThrs
MAX_DETECTIONS = 100


# ------------------------------------------------------------------ dense grid <-> boxes

def encode_targets(boxes: list[torch.Tensor], labels: list[torch.Tensor], grid: int, stride: int, prior: float
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ground truth -> grid targets: objectness N x S x S, box N x 4 x S x S (tx, ty in 0..1, log w/prior,
    log h/prior), class N x S x S (-1 where no object). The cell holding a box's centre is responsible;
    when two centres share a cell the larger box wins."""
    n = len(boxes)
    obj = torch.zeros(n, grid, grid)
    box_t = torch.zeros(n, 4, grid, grid)
    cls = torch.full((n, grid, grid), -1, dtype=torch.long)
    for b, (bx, lab) in enumerate(zip(boxes, labels)):
        if len(bx) == 0:
            continue
        wh = (bx[:, 2:] - bx[:, :2]).clamp_min(1e-3)  # k x 2
        centre = (bx[:, :2] + bx[:, 2:]) / 2  # k x 2
        cell = (centre / stride).floor().long().clamp(0, grid - 1)  # k x 2 (col, row)
        order = torch.argsort(wh.prod(1))  # small first: the larger box is written last and wins
        for k in order.tolist():
            j, i = cell[k].tolist()
            obj[b, i, j] = 1.0
            box_t[b, 0, i, j] = centre[k, 0] / stride - j
            box_t[b, 1, i, j] = centre[k, 1] / stride - i
            box_t[b, 2:, i, j] = torch.log(wh[k] / prior)
            cls[b, i, j] = lab[k]
    return obj, box_t, cls


def decode(output: torch.Tensor, stride: int, prior: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dense head output N x (5+K) x S x S -> (boxes N x S*S x 4 xyxy pixels, scores N x S*S, labels N x S*S).

    score = sigmoid(objectness) x the largest class probability; label = that class."""
    n, _, gh, gw = output.shape  # any grid: S x S for training scenes, other sizes for uploads
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")  # gh x gw
    cx = (cols + output[:, 1].sigmoid()) * stride  # N x S x S
    cy = (rows + output[:, 2].sigmoid()) * stride
    w = output[:, 3].clamp(-6, 6).exp() * prior
    h = output[:, 4].clamp(-6, 6).exp() * prior
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1).reshape(n, gh * gw, 4)
    probs = output[:, 5:].softmax(dim=1)  # N x K x S x S
    best, labels = probs.max(dim=1)
    scores = output[:, 0].sigmoid() * best
    return boxes, scores.reshape(n, -1), labels.reshape(n, -1)


@dataclass(frozen=True)
class Detections:
    """One image's detections: boxes k x 4 xyxy pixels, scores k, labels k (torchmetrics' format)."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        """{'boxes', 'scores', 'labels'} for torchmetrics / torchvision."""
        return {"boxes": self.boxes, "scores": self.scores, "labels": self.labels}

    def __len__(self) -> int:
        return len(self.scores)


def postprocess(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, score_threshold: float = 0.05,
                nms_iou: float | None = 0.5, image_size: int | tuple[int, int] | None = None,
                max_detections: int = MAX_DETECTIONS) -> Detections:
    """One image's raw boxes (M x 4), scores (M), labels (M) -> kept detections.

    Keeps scores >= score_threshold (a threshold of 0 keeps everything, 1 keeps only a perfect 1.0),
    drops boxes of zero area, clips to the image, then class-wise NMS (torchvision's batched_nms) at
    nms_iou, highest scores first. NMS drops a box only when its IoU with a kept box is strictly greater
    than nms_iou, so 1 removes nothing (not even exact duplicates, whose IoU is exactly 1) and 0 keeps one
    box per overlapping group; None skips NMS."""
    if not 0 <= score_threshold <= 1:
        raise ValueError(f"score threshold must lie in [0, 1], not {score_threshold}")
    if nms_iou is not None and not 0 <= nms_iou <= 1:
        raise ValueError(f"NMS IoU threshold must lie in [0, 1], not {nms_iou}")
    if image_size is not None:  # a side, or (height, width)
        h, w = image_size if isinstance(image_size, tuple) else (image_size, image_size)
        boxes = torch.stack([boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h), boxes[:, 2].clamp(0, w),
                             boxes[:, 3].clamp(0, h)], dim=1)
    keep = (scores >= score_threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if nms_iou is not None and len(scores):
        idx = batched_nms(boxes.float(), scores.float(), labels, nms_iou)
    else:
        idx = torch.argsort(scores, descending=True, stable=True)
    idx = idx[:max_detections]
    return Detections(boxes[idx], scores[idx], labels[idx])


# ------------------------------------------------------------------ anchors

def grid_anchors(grid: int, stride: int, sizes: tuple[float, ...] = (16.0, 32.0),
                 ratios: tuple[float, ...] = (0.5, 1.0, 2.0)) -> torch.Tensor:
    """Anchor boxes centred on every cell: (S*S*len(sizes)*len(ratios)) x 4 xyxy pixels.

    ratio = height / width, the area of each anchor is size^2 (torchvision's AnchorGenerator convention),
    ordered cell by cell (row-major), then size, then ratio."""
    base = []
    for size in sizes:
        for ratio in ratios:
            w, h = size / ratio ** 0.5, size * ratio ** 0.5
            base.append([-w / 2, -h / 2, w / 2, h / 2])
    base_t = torch.tensor(base)  # A x 4
    centres = (torch.arange(grid) + 0.5) * stride
    cy, cx = torch.meshgrid(centres, centres, indexing="ij")
    shifts = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)  # S*S x 1 x 4
    return (shifts + base_t[None]).reshape(-1, 4)


def match_anchors(anchors: torch.Tensor, gt: torch.Tensor, iou_threshold: float = 0.5
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each anchor: (index of its best ground-truth box or -1 below the threshold, that IoU).

    Every ground-truth box also keeps its single best anchor even below the threshold (Faster R-CNN's rule),
    so no object is left without an anchor."""
    if len(gt) == 0:
        return torch.full((len(anchors),), -1, dtype=torch.long), torch.zeros(len(anchors))
    iou = box_iou(anchors, gt)  # A x G
    best_iou, best_gt = iou.max(dim=1)
    matched = torch.where(best_iou >= iou_threshold, best_gt, torch.full_like(best_gt, -1))
    best_anchor = iou.argmax(dim=0)  # G
    matched[best_anchor] = torch.arange(len(gt))
    return matched, best_iou


# ------------------------------------------------------------------ average precision

@dataclass(frozen=True)
class PRCurve:
    """One class at one IoU threshold: precision/recall after each detection (score order) and the AP."""

    scores: torch.Tensor  # D, sorted high to low
    precision: torch.Tensor  # D, raw (not yet made monotone)
    recall: torch.Tensor  # D
    ap: float  # COCO 101-point interpolated AP; nan when the class has no ground truth
    num_gt: int


def _match_image(det_boxes: torch.Tensor, gt_boxes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy COCO matching for one image and class; det boxes in score order -> true-positive flags D."""
    tp = torch.zeros(len(det_boxes), dtype=torch.bool)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return tp
    iou = box_iou(det_boxes.double(), gt_boxes.double()).tolist()  # D x G in float64 (COCO's precision), as lists
    taken = [False] * len(gt_boxes)
    for d, row in enumerate(iou):
        best, best_g = min(iou_threshold, 1 - 1e-10), -1
        for g, value in enumerate(row):  # COCO: the last of equal best IoUs wins
            if taken[g] or value < best:
                continue
            best, best_g = value, g
        if best_g >= 0:
            taken[best_g] = True
            tp[d] = True
    return tp


def pr_curve(preds: list[dict[str, torch.Tensor]], targets: list[dict[str, torch.Tensor]], label: int,
             iou_threshold: float = 0.5) -> PRCurve:
    """Precision-recall curve and AP of one class over a set of images (lists of torchmetrics-style dicts)."""
    all_scores, all_tp, num_gt = [], [], 0
    for pred, target in zip(preds, targets):
        gt = target["boxes"][target["labels"] == label]
        num_gt += len(gt)
        mine = pred["labels"] == label
        scores, boxes = pred["scores"][mine], pred["boxes"][mine]
        order = torch.argsort(scores, descending=True, stable=True)[:MAX_DETECTIONS]
        all_scores.append(scores[order])
        all_tp.append(_match_image(boxes[order], gt, iou_threshold))
    scores = torch.cat(all_scores) if all_scores else torch.empty(0)
    tp = torch.cat(all_tp) if all_tp else torch.empty(0, dtype=torch.bool)
    order = torch.argsort(scores, descending=True, stable=True)
    scores, tp = scores[order], tp[order].double()
    tps, fps = tp.cumsum(0), (1 - tp).cumsum(0)
    recall = tps / num_gt if num_gt else torch.zeros_like(tps)
    precision = tps / (tps + fps + torch.finfo(torch.float64).eps)
    if num_gt == 0:
        return PRCurve(scores, precision, recall, float("nan"), 0)
    return PRCurve(scores, precision, recall, _interpolated_ap(precision, recall), num_gt)


def _interpolated_ap(precision: torch.Tensor, recall: torch.Tensor) -> float:
    """COCO's AP: precision made non-increasing, read at 101 recall points (0 beyond the last recall)."""
    if len(precision) == 0:
        return 0.0
    envelope = precision.flip(0).cummax(0).values.flip(0)
    idx = torch.searchsorted(recall.double().contiguous(), RECALL_POINTS, side="left")  # np.searchsorted's rule
    valid = idx < len(recall)
    values = torch.zeros(len(RECALL_POINTS), dtype=torch.float64)
    values[valid] = envelope[idx[valid]]
    return float(values.mean())


def mean_average_precision(preds: list[dict[str, torch.Tensor]], targets: list[dict[str, torch.Tensor]],
                           num_classes: int, iou_thresholds: tuple[float, ...] = IOU_THRESHOLDS
                           ) -> dict[str, float]:
    """{'map_50', 'map_75', 'map' (= mAP@[.5:.95]), 'ap_50_class_<k>'}: the mean over classes that have ground truth."""
    table = torch.full((len(iou_thresholds), num_classes), float("nan"))
    for t, thr in enumerate(iou_thresholds):
        for k in range(num_classes):
            table[t, k] = pr_curve(preds, targets, k, thr).ap
    result: dict[str, float] = {}
    has_gt = ~torch.isnan(table[0])
    if not has_gt.any():
        return {"map": float("nan"), "map_50": float("nan"), "map_75": float("nan")}
    result["map"] = float(table[:, has_gt].mean())
    for name, thr in (("map_50", 0.5), ("map_75", 0.75)):
        if thr in iou_thresholds:
            result[name] = float(table[iou_thresholds.index(thr), has_gt].mean())
    if 0.5 in iou_thresholds:
        for k in range(num_classes):
            result[f"ap_50_class_{k}"] = float(table[iou_thresholds.index(0.5), k])
    return result
