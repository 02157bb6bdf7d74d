"""AP and mAP against pycocotools' COCOeval itself (not torchmetrics, which reads float32 recall points)."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision.ops import batched_nms, nms

from cnn_core.vision.boxes import IOU_THRESHOLDS, mean_average_precision, postprocess, pr_curve


def _xywh(box: torch.Tensor) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def coco_precision(preds: list[dict], targets: list[dict], num_classes: int) -> np.ndarray:
    """COCOeval's precision array T x R x K (area 'all', 100 detections) for torchmetrics-style dicts."""
    images = [{"id": i + 1} for i in range(len(targets))]
    gts = []
    for i, t in enumerate(targets):
        for box, label in zip(t["boxes"], t["labels"]):
            xywh = _xywh(box)
            gts.append({"id": len(gts) + 1, "image_id": i + 1, "category_id": int(label) + 1, "bbox": xywh,
                        "area": xywh[2] * xywh[3], "iscrowd": 0})
    dts = [{"image_id": i + 1, "category_id": int(label) + 1, "bbox": _xywh(box), "score": float(score)}
           for i, p in enumerate(preds) for box, label, score in zip(p["boxes"], p["labels"], p["scores"])]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        gt = COCO()
        gt.dataset = {"images": images, "annotations": gts,
                      "categories": [{"id": k + 1, "name": str(k)} for k in range(num_classes)]}
        gt.createIndex()
        dt = gt.loadRes(dts) if dts else COCO()
        if not dts:  # loadRes refuses an empty list: an empty result set with the same images
            dt.dataset = {"images": images, "annotations": [], "categories": gt.dataset["categories"]}
            dt.createIndex()
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator.eval["precision"][:, :, :, 0, -1]  # T x R x K


def coco_ap(precision: np.ndarray) -> np.ndarray:
    """AP per (IoU threshold, class) from COCOeval's precision; NaN where the class has no ground truth (-1)."""
    ap = precision.mean(axis=1)
    ap[(precision == -1).all(axis=1)] = np.nan
    return ap


def _box(x: float, y: float, side: float = 10.0) -> list[float]:
    return [x, y, x + side, y + side]


def test_named_case_tp_tp_tp_fp_tp_tp_is_0_933993():
    # five true boxes far apart; detections in score order hit 1, 2, 3, miss, hit 4, 5
    gt = torch.tensor([_box(20.0 * i, 0) for i in range(5)])
    det = torch.tensor([_box(0, 0), _box(20, 0), _box(40, 0), _box(200, 200), _box(60, 0), _box(80, 0)])
    preds = [{"boxes": det, "scores": torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), "labels": torch.zeros(6).long()}]
    targets = [{"boxes": gt, "labels": torch.zeros(5).long()}]
    ours = pr_curve(preds, targets, label=0, iou_threshold=0.5).ap
    by_hand = (61 * 1.0 + 40 * 5 / 6) / 101  # recall 0..0.60 at precision 1, 0.61..1 at 5/6
    theirs = float(coco_ap(coco_precision(preds, targets, 1))[0, 0])
    assert ours == pytest.approx(by_hand, abs=1e-12)
    assert ours == pytest.approx(theirs, abs=1e-6)
    assert round(ours, 6) == 0.933993


def _random_set(seed: int, images: int = 6, classes: int = 3, per_class: int = 5):
    """Each class has exactly `per_class` true boxes (recalls are multiples of 1/5), jittered detections,
    false positives and some mislabelled ones, random scores."""
    g = torch.Generator().manual_seed(seed)
    owner = torch.randint(0, images, (classes * per_class,), generator=g)  # which image holds each true box
    labels = torch.arange(classes).repeat_interleave(per_class)
    preds, targets = [], []
    for i in range(images):
        mine = owner == i
        k = int(mine.sum())
        xy = torch.rand(k, 2, generator=g, dtype=torch.float64) * 60
        gt = torch.cat([xy, xy + torch.rand(k, 2, generator=g, dtype=torch.float64) * 20 + 6], 1)
        m = int(torch.randint(0, 4, (1,), generator=g))
        xy2 = torch.rand(m, 2, generator=g, dtype=torch.float64) * 60
        extra = torch.cat([xy2, xy2 + torch.rand(m, 2, generator=g, dtype=torch.float64) * 20 + 6], 1)
        boxes = torch.cat([gt + torch.randn(k, 4, generator=g, dtype=torch.float64) * 2.5, extra])
        lab = labels[mine]
        flip = torch.rand(k, generator=g) < 0.15
        det_labels = torch.cat([torch.where(flip, torch.randint(0, classes, (k,), generator=g), lab),
                                torch.randint(0, classes, (m,), generator=g)])
        scores = torch.rand(len(det_labels), generator=g, dtype=torch.float64)
        preds.append({"boxes": boxes, "scores": scores, "labels": det_labels})
        targets.append({"boxes": gt, "labels": lab})
    return preds, targets


@pytest.mark.parametrize("seed", range(8))
def test_ap_and_map_equal_cocoeval_on_random_sets(seed):
    preds, targets = _random_set(seed)
    reference = coco_ap(coco_precision(preds, targets, 3))  # 10 x 3
    for t, threshold in enumerate(IOU_THRESHOLDS):
        for k in range(3):
            assert pr_curve(preds, targets, k, threshold).ap == pytest.approx(reference[t, k], abs=1e-6), (t, k)
    ours = mean_average_precision(preds, targets, num_classes=3)
    assert ours["map_50"] == pytest.approx(np.nanmean(reference[0]), abs=1e-6)
    assert ours["map_75"] == pytest.approx(np.nanmean(reference[5]), abs=1e-6)
    assert ours["map"] == pytest.approx(np.nanmean(reference), abs=1e-6)  # mAP@[.5:.95]


def test_random_sets_do_reach_recalls_that_float32_points_miss():
    # the random cases above are only a real check if some curve hits a recall of exactly 3/5
    hits = 0
    for seed in range(8):
        preds, targets = _random_set(seed)
        for k in range(3):
            curve = pr_curve(preds, targets, k, 0.5)
            hits += int((curve.recall == 0.6).any())
    assert hits > 0


def test_class_without_detections_is_zero_and_without_truth_is_left_out():
    preds, targets = _random_set(3)
    preds = [{key: v[p["labels"] != 2] for key, v in p.items()} for p in preds]  # class 2: nothing detected
    targets = [{key: v[t["labels"] != 1] for key, v in t.items()} for t in targets]  # class 1: no truth
    reference = coco_ap(coco_precision(preds, targets, 3))
    ours = mean_average_precision(preds, targets, num_classes=3)
    assert ours["ap_50_class_2"] == reference[0, 2] == 0.0
    assert np.isnan(ours["ap_50_class_1"]) and np.isnan(reference[0, 1])
    assert ours["map"] == pytest.approx(np.nanmean(reference), abs=1e-6)


def test_nms_at_iou_1_removes_nothing_like_torchvision():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(12, 2, generator=g) * 30
    boxes = torch.cat([xy, xy + 10], 1)
    boxes = torch.cat([boxes, boxes[:4]])  # four exact duplicates: IoU exactly 1
    scores = torch.rand(len(boxes), generator=g)
    labels = torch.zeros(len(boxes), dtype=torch.long)
    assert len(nms(boxes, scores, 1.0)) == len(boxes)  # torchvision removes only IoU > threshold
    assert len(postprocess(boxes, scores, labels, 0.0, 1.0)) == len(batched_nms(boxes, scores, labels, 1.0))
    assert len(postprocess(boxes, scores, labels, 0.0, 1.0)) == len(boxes)
    # just below 1 the exact duplicates go, as in torchvision
    assert len(postprocess(boxes, scores, labels, 0.0, 0.999)) == len(nms(boxes, scores, 0.999)) < len(boxes)
