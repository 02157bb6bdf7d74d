"""Exercises on CNNs for computer-vision tasks: localization, detection and segmentation."""
from __future__ import annotations

import torch
from torchvision.ops import box_convert, box_iou, nms

from cnn_core.lessons import labels
from cnn_core.lessons.core import Exercise, Params, Structure, layer
from cnn_core.lessons.exercises.common import structural
from cnn_core.lessons.measure import measure
from cnn_core.vision.boxes import grid_anchors
from cnn_core.vision.heads import DenseHead, LocalizationHead
from cnn_core.vision.segmentation import UNet, confusion_matrix, iou_per_class

DET_PAGE, SEG_PAGE = "10_Detection.py", "11_Segmentation.py"


def _head_outputs(head_cls: type, p: Params) -> tuple[int, ...]:
    with torch.device("meta"):
        head = head_cls(p["channels"], p["classes"])
        out = head(torch.empty(1, p["channels"], p["grid"], p["grid"]))  # 1 x F x S x S backbone features
    return tuple(int(v) for v in out.shape[1:])


def _boxes(p: Params) -> torch.Tensor:
    return torch.tensor([p["a"], p["b"]], dtype=torch.float32)  # 2 x 4, xyxy pixels


def _iou_variant(p: Params, kind: str) -> float:
    a, b = _boxes(p)
    inter_w = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    inter_h = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    inter = inter_w * inter_h
    area_a = float((a[2] - a[0]) * (a[3] - a[1]))
    area_b = float((b[2] - b[0]) * (b[3] - b[1]))
    return inter / area_a if kind == "over_a" else inter / (area_a + area_b)


def _draw_boxes(r) -> dict:
    while True:
        a = sorted(r.sample(range(0, 65, 5), 2)), sorted(r.sample(range(0, 65, 5), 2))
        b = sorted(r.sample(range(0, 65, 5), 2)), sorted(r.sample(range(0, 65, 5), 2))
        box_a = (a[0][0], a[1][0], a[0][1], a[1][1])
        box_b = (b[0][0], b[1][0], b[0][1], b[1][1])
        if float(box_iou(torch.tensor([box_a], dtype=torch.float32),
                         torch.tensor([box_b], dtype=torch.float32))) > 0.05:  # overlapping: a real question
            return {"a": box_a, "b": box_b}


def _box_left(p: Params, corner: bool = False, full_width: bool = False) -> float:
    cx, cy, w, h = p["box"]
    if corner:
        return cx * p["side"]
    if full_width:
        return (cx - w) * p["side"]
    xyxy = box_convert(torch.tensor([[cx, cy, w, h]]) * p["side"], "cxcywh", "xyxy")  # 1 x 4 pixels
    return float(xyxy[0, 0])


LOCALIZATION = [
    Exercise(
        id="loc-head-outputs", section="Localization", kind="compute", title="What a localization head outputs",
        page=DET_PAGE,
        question="The page's localization head classifies **{classes}** classes and predicts one box. How many "
                 "numbers does it output per image?",
        answer="number",
        draw=lambda r: {"classes": r.choice([2, 10, 20, 80]), "channels": 32, "grid": 8},
        solve=lambda p: _head_outputs(LocalizationHead, p)[0],
        link=lambda p: {"det_section": "Three heads", "hd_head": "localization"},
        hints=("Class scores, plus the box: centre x, centre y, width and height.",),
        explanation="K class logits + 4 box numbers (cx, cy, w, h as fractions of the image). The page's table "
                    "names every output slice.",
        misconceptions=((lambda p: p["classes"], "forgot the box"),
                        (lambda p: p["classes"] + 2, "described a box with 2 numbers"),
                        (lambda p: 4, "forgot the class scores"))),
    Exercise(
        id="loc-iou", section="Localization", kind="compute", title="Intersection over union",
        page=DET_PAGE,
        question="Box A = **{a}**, box B = **{b}** (x1, y1, x2, y2 in pixels). Their IoU?",
        answer="number", tolerance=0.01,
        draw=_draw_boxes,
        solve=lambda p: float(box_iou(_boxes(p)[:1], _boxes(p)[1:])),
        link=lambda p: {"det_section": "Scores to boxes", "iou_ax": [str(p["a"][0]), str(p["a"][2])],
                        "iou_ay": [str(p["a"][1]), str(p["a"][3])], "iou_bx": [str(p["b"][0]), str(p["b"][2])],
                        "iou_by": [str(p["b"][1]), str(p["b"][3])]},
        hints=("Overlap area / (area A + area B − overlap area).",),
        explanation="IoU = intersection / union; the union counts the overlap once. Drag the boxes on the page "
                    "and watch both areas.",
        misconceptions=((lambda p: _iou_variant(p, "over_a"), "divided by one box's area"),
                        (lambda p: _iou_variant(p, "over_sum"), "forgot to subtract the overlap from the union"))),
    Exercise(
        id="loc-box-pixels", section="Localization", kind="compute", title="From fractions to pixels",
        page=DET_PAGE,
        question="The localization head predicts (cx, cy, w, h) = **{box}** as fractions of a **{side} x {side}** "
                 "image. Where is the box's left edge, in pixels?",
        answer="number", tolerance=0.01, unit="px",
        draw=lambda r: {"side": r.choice([64, 96, 128, 224]),
                        "box": (r.choice([0.4, 0.5, 0.6]), r.choice([0.3, 0.5]), r.choice([0.2, 0.3, 0.5]),
                                r.choice([0.2, 0.4]))},
        solve=_box_left,
        link=lambda p: {"det_section": "Three heads", "hd_head": "localization"},
        hints=("left = (cx − w / 2) · image width.",),
        explanation="(cx − w/2) · side: the head predicts the centre and the size, drawing needs the corners.",
        misconceptions=((lambda p: _box_left(p, corner=True), "used the centre as the corner"),
                        (lambda p: _box_left(p, full_width=True), "subtracted the whole width"))),
]


def _anchor_count(p: Params, grid: int | None = None) -> int:
    sizes = tuple(float(s) for s in p["sizes"])
    return int(grid_anchors(p["grid"] if grid is None else grid, 8, sizes, tuple(p["ratios"])).shape[0])


def _nms_boxes(p: Params) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(p["seed"])
    centres = torch.tensor([[20.0, 20.0], [44.0, 40.0]])[torch.randint(0, 2, (p["n"],), generator=generator)]
    centres = centres + torch.randint(-4, 5, (p["n"], 2), generator=generator)  # n x 2 jittered around 2 objects
    boxes = torch.cat([centres - 10, centres + 10], dim=1)  # n x 4 xyxy, 20 x 20 boxes
    scores = torch.rand(p["n"], generator=generator)
    return boxes, scores


def _nms_kept(p: Params) -> int:
    boxes, scores = _nms_boxes(p)
    return int(nms(boxes, scores, p["thr"]).numel())


def _boxes_text(p: Params) -> str:
    boxes, scores = _nms_boxes(p)
    return "; ".join(f"({', '.join(str(int(v)) for v in b)}) score {s:.2f}" for b, s in zip(boxes.tolist(), scores))


DETECTION = [
    Exercise(
        id="det-anchor-count", section="Detection", kind="compute", title="How many anchors",
        page=DET_PAGE,
        question="A **{grid} x {grid}** grid, anchor sizes **{sizes}** and aspect ratios **{ratios}** at every "
                 "cell: how many anchor boxes in all?",
        answer="number",
        draw=lambda r: {"grid": r.choice([4, 8, 16]), "sizes": tuple(sorted(r.sample([8, 12, 16, 24, 32, 48],
                                                                                     r.choice([1, 2, 3])))),
                        "ratios": tuple(sorted(r.sample([0.5, 1.0, 2.0, 3.0], r.choice([1, 2, 3]))))},
        solve=_anchor_count,
        link=lambda p: {"det_section": "Scores to boxes", "an_sizes": [str(s) for s in p["sizes"]],
                        "an_ratios": [str(v) for v in p["ratios"]]},
        hints=("Every cell gets every (size, ratio) pair.",),
        explanation="grid² x sizes x ratios. The page draws the anchors of one scene and which ones match a "
                    "digit.",
        misconceptions=((lambda p: p["grid"] ** 2 * (len(p["sizes"]) + len(p["ratios"])),
                         "added sizes and ratios instead of multiplying"),
                        (lambda p: len(p["sizes"]) * len(p["ratios"]), "counted the anchors of one cell"),
                        (lambda p: p["grid"] * len(p["sizes"]) * len(p["ratios"]), "counted one row of cells"))),
    Exercise(
        id="det-nms", section="Detection", kind="compute", title="Non-maximum suppression",
        page=DET_PAGE,
        question="These {n} detections (x1, y1, x2, y2, score) go through NMS with an IoU threshold of "
                 "**{thr}**: {text}. How many boxes remain?",
        answer="number",
        draw=lambda r: (lambda p: {**p, "text": _boxes_text(p)})(
            {"n": r.choice([4, 5, 6]), "thr": r.choice([0.3, 0.5, 0.7]), "seed": r.randrange(10_000)}),
        solve=_nms_kept,
        link=lambda p: {"det_section": "Scores to boxes", "nms_iou": p["thr"]},
        hints=("Keep the best box, drop every box overlapping it by more than the threshold, repeat.",),
        explanation="NMS keeps the highest score and removes its near-duplicates; a lower threshold removes "
                    "more. Slide the page's NMS threshold and count the boxes.",
        misconceptions=((lambda p: 1, "kept only the single best box"),
                        (lambda p: p["n"], "thought NMS removes nothing here"))),
    Exercise(
        id="det-dense-shape", section="Detection", kind="compute", title="The output of a dense head",
        page=DET_PAGE,
        question="The page's detection head on a **{grid} x {grid}** grid of backbone features ({channels} "
                 "channels) for **{classes}** classes: the output shape per image (C x H x W)?",
        answer="shape",
        draw=lambda r: {"grid": r.choice([4, 8, 16]), "channels": r.choice([16, 32]),
                        "classes": r.choice([1, 10, 20])},
        solve=lambda p: _head_outputs(DenseHead, p),
        link=lambda p: {"det_section": "Three heads", "hd_head": "detection"},
        hints=("Per cell: objectness, 4 box numbers and the class scores.",),
        explanation="(5 + K) x S x S: one prediction per grid cell. The page lists what each channel means.",
        misconceptions=((lambda p: (p["classes"], p["grid"], p["grid"]), "forgot objectness and the box"),
                        (lambda p: (5 + p["classes"],), "forgot the grid"),
                        (lambda p: (4 + p["classes"], p["grid"], p["grid"]), "forgot the objectness score"))),
]


def _transposed(p: Params, padding: int | None = None, kind: str = "convT") -> Structure:
    options = {"out": p["out"], "k": p["k"], "s": p["s"], "p": p["p"] if padding is None else padding}
    return Structure("output_shape", (p["cin"], p["h"], p["h"]), (layer(kind, **options),))


def _unet_shape(p: Params) -> tuple[int, ...]:
    with torch.device("meta"):
        model = UNet(1, p["classes"], base=8, depth=p["depth"])
        out = model(torch.empty(1, 1, p["h"], p["h"]))  # 1 x K x H x W
    return tuple(int(v) for v in out.shape[1:])


def _confusion(p: Params) -> torch.Tensor:
    generator = torch.Generator().manual_seed(p["seed"])
    target = (torch.rand(400, generator=generator) < 0.3).long()  # 400 pixels, ~30% foreground
    flip = torch.rand(400, generator=generator) < p["noise"]
    return confusion_matrix(torch.where(flip, 1 - target, target), target, 2)  # 2 x 2


def _confusion_text(p: Params) -> str:
    c = _confusion(p)  # rows: true class, columns: predicted class
    return (f"true background predicted background {int(c[0, 0])}, predicted digit {int(c[0, 1])}; true digit "
            f"predicted background {int(c[1, 0])}, predicted digit {int(c[1, 1])}")


def _digit_iou(p: Params, kind: str = "iou") -> float:
    c = _confusion(p).double()
    if kind == "accuracy":
        return float(c.diag().sum() / c.sum())
    if kind == "dice":
        return float(2 * c[1, 1] / (2 * c[1, 1] + c[0, 1] + c[1, 0]))
    return float(iou_per_class(_confusion(p))[1])


SEGMENTATION = [
    Exercise(
        id="seg-transposed-shape", section="Segmentation", kind="compute", title="Upsampling with a transposed conv",
        page=SEG_PAGE,
        question="`nn.ConvTranspose2d({cin}, {out}, kernel_size={k}, stride={s}, padding={p})` on a "
                 "**{cin} x {h} x {h}** map: output shape?",
        answer="shape",
        draw=lambda r: (lambda k: {"cin": r.choice([8, 16, 32]), "out": r.choice([4, 8, 16]), "k": k,
                                   "s": r.choice([2, 3]), "p": r.choice(range(0, k // 2 + 1)),
                                   "h": r.choice([4, 7, 8, 14])})(r.choice([2, 3, 4])),
        **structural(_transposed),
        link=lambda p: {},
        hints=("out = (in − 1)·s − 2p + k (no output padding).",),
        explanation="(h − 1)·s − 2p + k: the reverse of a convolution's size formula. The 'Grow the map' tab "
                    "shows how each input pixel spreads into a k x k patch.",
        misconceptions=((lambda p: measure(_transposed(p, padding=0)) if p["p"] else None, "forgot the padding"),
                        (lambda p: (p["out"], p["h"] * p["s"], p["h"] * p["s"]), "multiplied the size by the stride"),
                        (lambda p: measure(_transposed(p, kind="conv")) if p["h"] + 2 * p["p"] >= p["k"] else None,
                         "used the convolution's size formula"))),
    Exercise(
        id="seg-output-shape", section="Segmentation", kind="compute", title="What a segmenter outputs",
        page=SEG_PAGE,
        question="The page's U-Net (depth {depth}) segments **{classes}** classes on a 1 x {h} x {h} image. "
                 "Its output shape per image (C x H x W)?",
        answer="shape",
        draw=lambda r: {"classes": r.choice([2, 11]), "depth": r.choice([2, 3]), "h": r.choice([32, 64, 96])},
        solve=_unet_shape,
        link=lambda p: {"seg_mode": labels.seg_mode("foreground" if p["classes"] == 2 else "digits")},
        hints=("A score for every class at every pixel.",),
        explanation="K x H x W: one score map per class, as large as the input; argmax over K gives the mask. "
                    "The page shows the masks next to the scenes.",
        misconceptions=((lambda p: (1, p["h"], p["h"]), "gave one channel for all classes"),
                        (lambda p: (p["classes"],), "gave one score per image, as a classifier"),
                        (lambda p: (p["classes"], p["h"] // 2 ** p["depth"], p["h"] // 2 ** p["depth"]),
                         "stopped at the bottleneck's size"))),
    Exercise(
        id="seg-iou", section="Segmentation", kind="compute", title="IoU of the digit class",
        page=SEG_PAGE,
        question="A foreground segmenter on 400 pixels gives this confusion: {text}. What is the IoU of the "
                 "digit class?",
        answer="number", tolerance=0.01,
        draw=lambda r: (lambda p: {**p, "text": _confusion_text(p)})(
            {"seed": r.randrange(10_000), "noise": r.choice([0.05, 0.1, 0.2])}),
        solve=_digit_iou,
        link=lambda p: {"seg_mode": labels.seg_mode("foreground")},
        hints=("IoU = true positives / (true positives + false positives + false negatives).",),
        explanation="TP / (TP + FP + FN): background pixels do not count, so a mostly-background image cannot "
                    "hide a bad digit mask the way pixel accuracy can.",
        misconceptions=((lambda p: _digit_iou(p, "accuracy"), "gave the pixel accuracy"),
                        (lambda p: _digit_iou(p, "dice"), "gave the Dice score"))),
]

EXERCISES = [*LOCALIZATION, *DETECTION, *SEGMENTATION]
