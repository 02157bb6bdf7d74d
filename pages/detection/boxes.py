"""Detection page, part 2: IoU, anchors, confidence threshold + NMS, precision-recall and (m)AP with sliders."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
import torch
from torchvision.ops import box_iou

from cnn_core.vision.boxes import (IOU_THRESHOLDS, Detections, grid_anchors, match_anchors, mean_average_precision,
                                   postprocess, pr_curve)
from cnn_core.vision.detect_train import cached_scenes, detect
from cnn_core.vision.heads import VisionNet
from cnn_core.vision.scenes import SceneConfig, Scenes
from pages.common import links
from pages.common.wording import plural
from pages.detection.heads_and_scenes import color_key, digit_colors, draw_boxes

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


def iou_section() -> None:
    """Two boxes, their intersection, union and IoU."""
    st.markdown("**IoU** = area of the intersection / area of the union: 1 for the same box, 0 for disjoint boxes.")
    c = ui.columns(2)
    a = c[0].slider("Box A x range", 0, 64, (10, 40), key="iou_ax"), c[0].slider("Box A y range", 0, 64, (10, 40),
                                                                                 key="iou_ay")
    b = c[1].slider("Box B x range", 0, 64, (25, 55), key="iou_bx"), c[1].slider("Box B y range", 0, 64, (20, 50),
                                                                                 key="iou_by")
    boxes = torch.tensor([[a[0][0], a[1][0], a[0][1], a[1][1]], [b[0][0], b[1][0], b[0][1], b[1][1]]], dtype=torch.float)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lt, rb = torch.maximum(boxes[0, :2], boxes[1, :2]), torch.minimum(boxes[0, 2:], boxes[1, 2:])
    inter = float((rb - lt).clamp_min(0).prod())
    left, right = ui.columns([1, 1])
    left.image(draw_boxes(torch.zeros(64, 64), boxes, ["A", "B"], scale=5), width="stretch",
               alt=f"boxes A {boxes[0].int().tolist()} and B {boxes[1].int().tolist()} on a 64 x 64 canvas")
    if (area == 0).any():
        right.warning("A box of zero area has no IoU with anything (torchvision's box_iou gives 0 or NaN): "
                      "widen it.")
        return
    iou = float(box_iou(boxes[:1], boxes[1:])[0, 0])
    right.metric("IoU (torchvision.ops.box_iou)", f"{iou:.3f}")
    right.markdown(f"intersection **{inter:.0f}** px, union = {area[0]:.0f} + {area[1]:.0f} - {inter:.0f} = "
                   f"**{float(area.sum()) - inter:.0f}** px")


def anchors_section(scenes: Scenes) -> None:
    """Anchor boxes on the grid and which of them match a ground-truth box at an IoU threshold."""
    st.markdown("**Anchors** are fixed boxes of a few sizes and aspect ratios centred on every grid cell; during "
                "training an anchor is responsible for a ground-truth box when their IoU is above a threshold "
                "(and every object keeps its best anchor). Our detector uses one size prior per cell instead.")
    c = ui.columns(4)
    sizes = c[0].multiselect("Sizes (px)", [8, 12, 16, 24, 32, 48], [16, 32], key="an_sizes")
    ratios = c[1].multiselect("Aspect ratios h/w", [0.5, 1.0, 2.0, 3.0], [0.5, 1.0, 2.0], key="an_ratios")
    thr = c[2].slider("Match IoU threshold", 0.1, 0.9, 0.5, 0.05, key="an_thr")
    index = c[3].number_input("Scene", 0, len(scenes) - 1, 0, key="an_scene")
    if not sizes or not ratios:
        st.warning("Pick at least one size and one aspect ratio.")
        return
    anchors = grid_anchors(8, 8, tuple(float(s) for s in sizes), tuple(ratios))
    gt = scenes.boxes[int(index)]
    matched, best = match_anchors(anchors, gt, thr)
    picked = anchors[matched >= 0]
    left, right = ui.columns(2)
    per_cell = len(sizes) * len(ratios)
    centre = anchors[27 * per_cell:28 * per_cell]  # cell (3, 3): anchors are stored cell by cell
    left.image(draw_boxes(scenes.images[int(index), 0], centre, scale=5), width="stretch",
               caption=f"{plural(per_cell, 'anchor')} of one cell ({len(anchors)} on the 8 x 8 grid); the colours "
                       "only tell them apart", alt=(f"{plural(per_cell, 'anchor')} of one cell ({len(anchors)} on the 8 x 8 grid); the colours "
                       "only tell them apart"))
    right.image(draw_boxes(scenes.images[int(index), 0], torch.cat([gt, picked]), scale=5,
                           colors=["#ffffff"] * len(gt) + ["#3cb44b"] * len(picked), width=1), width="stretch",
                caption=f"white: ground truth; green: {plural(len(picked), 'matched anchor')}", alt=f"white: ground truth; green: {plural(len(picked), 'matched anchor')}")
    if len(gt):
        table = pd.DataFrame({"object": range(len(gt)), "digit": scenes.labels[int(index)].tolist(),
                              "matched anchors": [(matched == g).sum().item() for g in range(len(gt))],
                              "best anchor IoU": box_iou(anchors, gt).max(0).values.numpy().round(3)})
        st.dataframe(table, hide_index=True)
    else:
        st.info("This scene has no objects: no anchor is positive, all of them teach 'background'.")


def simulated_raw(scenes: Scenes, seed: int = 0) -> list[Detections]:
    """A stand-in detector when none is trained: jittered copies of every true box plus random false boxes."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for gt, lab in zip(scenes.boxes, scenes.labels):
        copies = gt.repeat(4, 1) + torch.randn(len(gt) * 4, 4, generator=g) * 2.5
        xy = torch.rand(6, 2, generator=g) * 48
        false = torch.cat([xy, xy + 8 + torch.rand(6, 2, generator=g) * 16], 1)
        scores = torch.cat([torch.rand(len(copies), generator=g) * 0.6 + 0.4, torch.rand(6, generator=g) * 0.7])
        labels = torch.cat([lab.repeat(4), torch.randint(0, 10, (6,), generator=g)])
        out.append(Detections(torch.cat([copies, false]), scores, labels))
    return out


def scores_to_boxes_section(model: VisionNet | None) -> None:
    """Confidence threshold and NMS on one scene, then the PR curve and AP over the held-out scenes."""
    scenes = cached_scenes(SceneConfig(split="val", count=100, seed=7))
    iou_section()
    st.divider()
    anchors_section(scenes)
    st.divider()
    st.markdown("**Confidence threshold and non-maximum suppression** (torchvision's `batched_nms`, per class).")
    if model is None:
        st.info("No detector trained yet: these boxes come from a *simulated* detector (jittered copies of the "
                "true boxes plus random false ones). Train one in *Train the detector* to use its real output.")
        raw = simulated_raw(scenes)
    else:
        raw = detect(model, scenes.images, score_threshold=0.0, nms_iou=None)
    c = ui.columns(3)
    conf = c[0].slider("Confidence threshold", 0.0, 1.0, 0.3, 0.01, key="nms_conf")
    nms_iou = c[1].slider("NMS IoU threshold", 0.0, 1.0, 0.5, 0.05, key="nms_iou",
                          help="A box is removed when it overlaps a higher-scoring box of its class by *more* than "
                               "this IoU. At 1 nothing is removed (even exact duplicates have IoU = 1, not more); "
                               "at 0 every overlapping box goes.")
    index = int(c[2].number_input("Scene ", 0, len(scenes) - 1, 0, key="nms_scene"))
    shown = raw[index]
    before = postprocess(shown.boxes, shown.scores, shown.labels, conf, None, 64)
    after = postprocess(shown.boxes, shown.scores, shown.labels, conf, nms_iou, 64)
    left, right = ui.columns(2)
    names = lambda d: [f"{int(l)} {s:.2f}" for l, s in zip(d.labels, d.scores.tolist())]  # noqa: E731
    left.image(draw_boxes(scenes.images[index, 0], before.boxes[:40], names(before)[:40], scale=5, width=1,
                          colors=digit_colors(before.labels[:40])),
               caption=f"{plural(len(before), 'box', 'boxes')} above the threshold", alt=f"{plural(len(before), 'box', 'boxes')} above the threshold", width="stretch")
    right.image(draw_boxes(scenes.images[index, 0], after.boxes, names(after), scale=5,
                           colors=digit_colors(after.labels)), width="stretch",
                caption=f"{len(after)} kept after NMS (ground truth: {plural(len(scenes.boxes[index]), 'digit')})", alt=f"{len(after)} kept after NMS (ground truth: {plural(len(scenes.boxes[index]), 'digit')})")
    color_key("Each box's label is its predicted digit and score; its colour is the digit")
    if conf >= 1.0:
        st.caption("A threshold of 1 keeps only perfectly sure boxes: usually none.")
    st.divider()
    precision_recall(scenes, raw, conf, nms_iou)


def precision_recall(scenes: Scenes, raw: list[Detections], conf: float, nms_iou: float) -> None:
    """PR curve of one class, AP@0.5 and mAP@[.5:.95] over the 100 held-out scenes at the chosen settings."""
    st.markdown("**Precision-recall and AP** over 100 held-out scenes: detections sorted by score, each one "
                "true when it overlaps an unmatched true box of its class by at least the IoU threshold.")
    preds = [postprocess(d.boxes, d.scores, d.labels, conf, nms_iou, 64).as_dict() for d in raw]
    c = ui.columns(2)
    digit = c[0].selectbox("Class", list(range(10)), key="pr_class")
    thr = c[1].select_slider("IoU threshold for a match", list(IOU_THRESHOLDS), 0.5, key="pr_thr")
    curve = pr_curve(preds, scenes.targets(), digit, thr)
    metrics = mean_average_precision(preds, scenes.targets(), 10)
    m = ui.columns(3)
    m[0].metric(f"AP@{thr:g} of digit {digit}", "n/a" if curve.num_gt == 0 else f"{curve.ap:.3f}")
    m[1].metric("mAP@0.5", f"{metrics['map_50']:.3f}")
    m[2].metric("mAP@[.5:.95]", f"{metrics['map']:.3f}")
    if len(curve.scores) == 0:
        st.info("No detections of this class at these thresholds: precision is undefined, AP = 0.")
        return
    frame = pd.DataFrame({"recall": curve.recall.numpy(), "precision": curve.precision.numpy(),
                          "score": curve.scores.numpy()})
    frame["precision (monotone)"] = frame["precision"][::-1].cummax()[::-1]
    base = alt.Chart(frame).encode(x=alt.X("recall", scale=alt.Scale(domain=[0, 1])))
    chart = (base.mark_line(color="#bbbbbb").encode(y=alt.Y("precision", scale=alt.Scale(domain=[0, 1.02])),
                                                    tooltip=["score", "precision", "recall"])
             + base.mark_line(interpolate="step-after").encode(y="precision (monotone)"))
    st.altair_chart(chart.properties(height=260), width="stretch")
    st.caption(f"{plural(curve.num_gt, f'true digit-{digit} box', f'true digit-{digit} boxes')}; AP = mean of the "
               "monotone precision at the 101 recall points 0, 0.01, ..., 1 (COCO's rule; tested against "
               "pycocotools' COCOeval).")
