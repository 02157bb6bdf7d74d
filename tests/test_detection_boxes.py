"""Boxes, anchors, NMS and AP: checked against torchvision and pycocotools' COCOeval."""
import math

import numpy as np
import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import box_iou, nms

from cnn_core.vision.boxes import (decode, encode_targets, grid_anchors, match_anchors, mean_average_precision,
                                   postprocess, pr_curve)
from tests.test_truth_ap_coco import coco_ap, coco_precision


def _random_set(seed: int, images: int = 25, classes: int = 3):
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(images):
        k = int(torch.randint(0, 5, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * 40
        gt = torch.cat([xy, xy + torch.rand(k, 2, generator=g) * 20 + 4], 1)
        lab = torch.randint(0, classes, (k,), generator=g)
        m = int(torch.randint(0, 6, (1,), generator=g))
        xy2 = torch.rand(m, 2, generator=g) * 40
        extra = torch.cat([xy2, xy2 + torch.rand(m, 2, generator=g) * 20 + 4], 1)
        boxes = torch.cat([gt + torch.randn(k, 4, generator=g) * 1.5, extra])
        flip = torch.rand(k, generator=g) < 0.2
        labels = torch.cat([torch.where(flip, torch.randint(0, classes, (k,), generator=g), lab),
                            torch.randint(0, classes, (m,), generator=g)])
        preds.append({"boxes": boxes, "scores": torch.rand(len(labels), generator=g), "labels": labels})
        targets.append({"boxes": gt, "labels": lab})
    return preds, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_matches_cocoeval(seed):
    # torchmetrics is no reference here: it reads precision at float32 recall points (0.6 -> 0.6000000238)
    preds, targets = _random_set(seed)
    ours = mean_average_precision(preds, targets, num_classes=3)
    ap = coco_ap(coco_precision(preds, targets, 3))  # 10 IoU thresholds x 3 classes
    theirs = {"map": np.nanmean(ap), "map_50": np.nanmean(ap[0]), "map_75": np.nanmean(ap[5])}
    for key in ("map", "map_50", "map_75"):
        assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-6), key
    assert 0.05 < ours["map_50"] < 0.95  # a non-trivial case


def test_perfect_and_empty_predictions():
    _, targets = _random_set(4)
    perfect = [{"boxes": t["boxes"], "scores": torch.ones(len(t["labels"])), "labels": t["labels"]} for t in targets]
    assert mean_average_precision(perfect, targets, 3)["map"] == pytest.approx(1.0)
    none = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}
            for _ in targets]
    assert mean_average_precision(none, targets, 3)["map_50"] == 0.0
    no_gt = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)} for _ in targets]
    assert math.isnan(mean_average_precision(perfect, no_gt, 3)["map"])  # honest: nothing to find


def test_pr_curve_counts():
    preds, targets = _random_set(5)
    curve = pr_curve(preds, targets, label=1)
    assert curve.num_gt == sum(int((t["labels"] == 1).sum()) for t in targets)
    assert (curve.scores[:-1] >= curve.scores[1:]).all() and (curve.recall.diff() >= 0).all()


def test_postprocess_uses_torchvision_nms_and_thresholds():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(40, 2, generator=g) * 30
    boxes = torch.cat([xy, xy + 10 + torch.rand(40, 2, generator=g) * 10], 1)
    scores = torch.rand(40, generator=g)
    labels = torch.zeros(40, dtype=torch.long)
    kept = postprocess(boxes, scores, labels, score_threshold=0.0, nms_iou=0.3)
    ref = nms(boxes, scores, 0.3)
    assert torch.equal(kept.boxes, boxes[ref]) and torch.equal(kept.scores, scores[ref])
    assert len(postprocess(boxes, scores, labels, 0.0, None)) == 40  # no NMS: everything, sorted
    assert len(postprocess(boxes, scores, labels, 1.0, 0.5)) == 0  # threshold 1: only perfect scores
    assert len(postprocess(boxes, scores, labels, 0.0, 1.0)) == 40  # NMS at IoU 1 removes nothing here
    zero = postprocess(torch.tensor([[5.0, 5, 5, 9]]), torch.tensor([0.9]), torch.tensor([0]))
    assert len(zero) == 0  # a zero-area box is dropped
    with pytest.raises(ValueError, match="threshold"):
        postprocess(boxes, scores, labels, 1.5)


def test_encode_decode_round_trip():
    boxes = [torch.tensor([[3.0, 4, 20, 30], [40, 40, 60, 50]]), torch.zeros(0, 4)]
    labels = [torch.tensor([7, 2]), torch.zeros(0, dtype=torch.long)]
    obj, box_t, cls = encode_targets(boxes, labels, grid=8, stride=8, prior=16.0)
    assert obj.sum() == 2 and obj[0, 2, 1] == 1 and obj[0, 5, 6] == 1 and cls[0, 2, 1] == 7
    logits = torch.full((2, 15, 8, 8), -20.0)
    logits[:, 0] = torch.where(obj > 0, 20.0, -20.0)
    logits[:, 1:3] = torch.logit(box_t[:, :2].clamp(1e-6, 1 - 1e-6))
    logits[:, 3:5] = box_t[:, 2:]
    for b in range(2):
        for i, j in obj[b].nonzero().tolist():
            logits[b, 5 + cls[b, i, j], i, j] = 20.0
    dec_boxes, scores, dec_labels = decode(logits, stride=8, prior=16.0)
    top = scores[0].argsort(descending=True)[:2]
    got = sorted(zip(dec_boxes[0, top].tolist(), dec_labels[0, top].tolist()), key=lambda t: t[0][0])
    assert torch.allclose(torch.tensor([g[0] for g in got]), boxes[0], atol=1e-3)
    assert [g[1] for g in got] == [7, 2]
    assert scores[1].max() < 1e-6


def test_anchors_match_torchvision_anchor_generator():
    ours = grid_anchors(grid=8, stride=8, sizes=(16.0, 32.0), ratios=(0.5, 1.0, 2.0))
    gen = AnchorGenerator(sizes=((16, 32),), aspect_ratios=((0.5, 1.0, 2.0),))
    images = ImageList(torch.zeros(1, 1, 64, 64), [(64, 64)])
    theirs = gen(images, [torch.zeros(1, 4, 8, 8)])[0]  # torchvision: ratio-major, anchors at cell corners
    assert ours.shape == theirs.shape == (8 * 8 * 6, 4)
    shift = torch.tensor([4.0, 4, 4, 4])  # we centre anchors in the cells; torchvision rounds its base anchors
    ours_sorted = sorted(map(tuple, (ours - shift).round().tolist()))
    theirs_sorted = sorted(map(tuple, theirs.round(decimals=2).tolist()))
    assert ours_sorted == theirs_sorted


def test_match_anchors_threshold_and_best_anchor():
    anchors = grid_anchors(8, 8, (16.0,), (1.0,))
    gt = torch.tensor([[8.0, 8, 24, 24], [50, 2, 53, 5]])  # one anchor-sized box, one tiny box
    matched, best = match_anchors(anchors, gt, 0.5)
    assert (matched == 0).sum() >= 1
    assert (matched == 1).sum() == 1  # the tiny box gets its single best anchor despite a low IoU
    assert torch.allclose(best, box_iou(anchors, gt).max(1).values)
    none, _ = match_anchors(anchors, torch.zeros(0, 4))
    assert (none == -1).all()
