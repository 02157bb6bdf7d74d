"""Train the dense digit detector: (DetectConfig, seed) -> a generator of DetectRecords, a run like TrainingRun.

The loss has three parts, all averaged over the objects in the batch:
objectness (binary cross-entropy over every grid cell), box (smooth L1 on tx, ty, tw, th at the cells
that hold an object's centre) and class (cross-entropy at those cells).
"""
from __future__ import annotations

import io
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Iterator

import torch
import torch.nn.functional as F

from cnn_core.device import seed_everything
from cnn_core.errors import BudgetExceeded, CheckpointError, InvalidConfig
from cnn_core.models.cost import Estimate, human_seconds, time_budget_seconds
from cnn_core.training import Record, RunStatus
from cnn_core.training.checkpoints import describe_mismatch
from cnn_core.training.optimizers import ScheduleConfig, make_scheduler
from cnn_core.training.runs import DivergenceCheck
from cnn_core.vision.boxes import Detections, decode, encode_targets, mean_average_precision, postprocess
from cnn_core.vision.heads import BackboneConfig, VisionNet
from cnn_core.vision.scenes import SceneConfig, Scenes, scenes_from_config

CHECKPOINT_FORMAT = "cnn-playground-detector"


@dataclass(frozen=True)
class DetectConfig:
    """One detector training run, fully described (hashable: a cache key and a run label)."""

    train_scenes: int = 3000  # scenes generated for training (split 'train' digits)
    val_scenes: int = 300  # held-out scenes for the mAP (split 'val' digits)
    canvas: int = 64
    max_digits: int = 5
    clutter: int = 0  # distractor fragments per scene
    scene_seed: int = 0  # which scenes (the weights' seed is `seed`)
    width: int = 16  # backbone width (channels of its first block)
    epochs: int = 5  # benchmarks/detection.py: held-out mAP@0.5 >= 0.90 within 60 s on 2 cores
    batch_size: int = 32
    lr: float = 5e-3  # AdamW peak learning rate (warm-up over the first epoch, cosine decay to `epochs`)
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0  # linear warm-up length, in epochs
    box_weight: float = 2.0  # weights of the loss parts
    class_weight: float = 1.0
    score_threshold: float = 0.05  # for the mAP evaluation (low: AP needs the whole curve)
    nms_iou: float = 0.5
    seed: int = 0

    def validate(self) -> None:
        """Raise InvalidConfig naming the first value that cannot run."""
        checks = [(16 <= self.train_scenes <= 20_000, f"training scenes must be 16 .. 20,000, not {self.train_scenes}"),
                  (1 <= self.val_scenes <= 5_000, f"validation scenes must be 1 .. 5,000, not {self.val_scenes}"),
                  (self.canvas % 8 == 0 and 32 <= self.canvas <= 256, f"canvas must be a multiple of 8 in 32 .. 256, "
                                                                      f"not {self.canvas}"),
                  (1 <= self.max_digits <= 10, f"digits per scene must be 1 .. 10, not {self.max_digits}"),
                  (4 <= self.width <= 64, f"backbone width must be 4 .. 64, not {self.width}"),
                  (1 <= self.epochs <= 100, f"epochs must be 1 .. 100, not {self.epochs}"),
                  (1 <= self.batch_size <= 512, f"batch size must be 1 .. 512, not {self.batch_size}"),
                  (math.isfinite(self.lr) and 0 < self.lr <= 1, f"learning rate must be in (0, 1], not {self.lr}"),
                  (math.isfinite(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs,
                   f"warm-up must be 0 .. {self.epochs} epochs, not {self.warmup_epochs}"),
                  (0 <= self.score_threshold <= 1, "score threshold must lie in [0, 1]"),
                  (0 <= self.nms_iou <= 1, "NMS IoU must lie in [0, 1]")]
        for ok, message in checks:
            if not ok:
                raise InvalidConfig(message)

    def scenes(self, split: str) -> SceneConfig:
        """The SceneConfig of the training ('train') or held-out ('val' / 'test') scenes."""
        count = self.train_scenes if split == "train" else self.val_scenes
        return SceneConfig(split=split, count=count, seed=self.scene_seed, canvas=self.canvas,
                           max_digits=self.max_digits, clutter=self.clutter)

    def planned_steps(self) -> int:
        """Optimizer steps of all the config's epochs."""
        return self.epochs * math.ceil(self.train_scenes / self.batch_size)

    def estimated_seconds(self) -> float:
        """Training time on 2 CPU cores: about 4 ms per 64 x 64 scene and epoch at width 16 (benchmarks/detection.py:
        3,000 scenes x 5 epochs in under 60 s), scaling with the pixels and the square of the width."""
        return self.train_scenes * self.epochs * 4e-3 * (self.canvas / 64) ** 2 * (self.width / 16) ** 2

    def check_budget(self) -> Estimate:
        """BudgetExceeded before any work when the run would take longer than this server allows; else its price."""
        seconds, limit = self.estimated_seconds(), time_budget_seconds()
        if seconds > limit:
            raise BudgetExceeded(f"This detector would train for about {human_seconds(seconds)}; this server allows "
                                 f"{human_seconds(limit)} a run. Lower the epochs, the training scenes or the width.")
        return Estimate("this detector", 0, seconds, self.batch_size, None)

    def make_run(self, priced: Estimate | None = None) -> DetectionRun:
        """The run of this config (`priced`: its check_budget, so the run does not price it again)."""
        return DetectionRun(self, priced)


@dataclass(frozen=True)
class DetectRecord(Record):
    """A Record with the detector's loss parts and held-out mAP: kind 'step' (one batch; train_loss is the
    total), 'epoch' (the epoch's means and held-out mAP) or 'diverged' (the run ended)."""

    objectness: float = math.nan
    box: float = math.nan
    classes: float = math.nan
    val_map50: float = math.nan
    val_map: float = math.nan  # mAP@[.5:.95]


@lru_cache(maxsize=4)  # a 5,000-scene set (the page's largest) is ~250 MB with its masks: at most ~1 GB
def cached_scenes(cfg: SceneConfig) -> Scenes:
    """Scenes of a config, generated once per process (read-only: never mutate them)."""
    return scenes_from_config(cfg)


def detection_loss(output: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                   box_weight: float = 2.0, class_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Loss parts of a dense head output N x (5+K) x S x S against encode_targets' tensors."""
    obj_t, box_t, cls_t = targets
    positive = obj_t > 0  # N x S x S
    n_pos = positive.sum().clamp_min(1)
    objectness = F.binary_cross_entropy_with_logits(output[:, 0], obj_t, reduction="sum") / n_pos
    pred_box = torch.cat([output[:, 1:3].sigmoid(), output[:, 3:5]], dim=1)  # N x 4 x S x S
    box = F.smooth_l1_loss(pred_box.permute(0, 2, 3, 1)[positive], box_t.permute(0, 2, 3, 1)[positive],
                           reduction="sum", beta=0.1) / n_pos
    classes = F.cross_entropy(output[:, 5:].permute(0, 2, 3, 1)[positive], cls_t[positive], reduction="sum") / n_pos
    total = objectness + box_weight * box + class_weight * classes
    return {"loss": total, "objectness": objectness, "box": box, "classes": classes}


@torch.no_grad()
def detect(model: VisionNet, images: torch.Tensor, score_threshold: float = 0.05, nms_iou: float | None = 0.5,
           batch_size: int = 256) -> list[Detections]:
    """Detections of a dense-head model on N x 1 x H x W images (eval mode, restored afterwards)."""
    was_training = model.training
    model.eval()
    out: list[Detections] = []
    try:
        for i in range(0, len(images), batch_size):
            raw = model(images[i:i + batch_size])
            boxes, scores, labels = decode(raw, model.backbone.stride, model.cfg.prior)
            out += [postprocess(b, s, lab, score_threshold, nms_iou, (images.shape[-2], images.shape[-1]))
                    for b, s, lab in zip(boxes, scores, labels)]
    finally:
        model.train(was_training)
    return out


def evaluate_detector(model: VisionNet, scenes: Scenes, score_threshold: float = 0.05, nms_iou: float = 0.5
                      ) -> dict[str, float]:
    """mAP@0.5, mAP@[.5:.95] (and per-class AP@0.5) of a model on a set of scenes."""
    dets = detect(model, scenes.images, score_threshold, nms_iou)
    return mean_average_precision([d.as_dict() for d in dets], scenes.targets(), scenes.num_classes)


class DetectionRun:
    """A detector, its optimizer and scenes; iterate `records()` to train, call it again to continue (a Run)."""

    def __init__(self, config: DetectConfig, priced: Estimate | None = None) -> None:
        config.validate()
        self.estimate = priced if priced is not None else config.check_budget()
        self.config = config
        self.train = cached_scenes(config.scenes("train"))
        self.val = cached_scenes(config.scenes("val"))
        seed_everything(config.seed)
        # channels_last (N x H x W x C in memory): oneDNN's NHWC kernels train this backbone about 1.6x faster on
        # the CPU than the default layout (same numbers up to rounding; checkpoints are saved contiguous)
        self.model = VisionNet("detection", BackboneConfig(width=config.width)).to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.steps_per_epoch = math.ceil(config.train_scenes / config.batch_size)
        total = self.steps_per_epoch * config.epochs
        warm = max(1, round(self.steps_per_epoch * config.warmup_epochs))
        # linear warm-up over `warmup_epochs`, then cosine decay to 2 % at the last planned step
        self.scheduler = make_scheduler(self.optimizer, ScheduleConfig("cosine", warmup_steps=warm, min_factor=0.02),
                                        total)
        self.generator = torch.Generator().manual_seed(config.seed)
        grid = config.canvas // self.model.backbone.stride
        self.targets = encode_targets(list(self.train.boxes), list(self.train.labels), grid,
                                      self.model.backbone.stride, self.model.cfg.prior)
        self.epoch, self.step, self.status = 0, 0, RunStatus.READY
        self.history: list[DetectRecord] = []
        self._divergence = DivergenceCheck()

    def records(self, epochs: int | None = None) -> Iterator[DetectRecord]:
        """Train `epochs` more epochs (default: the config's), yielding step and epoch records."""
        cfg = self.config
        if self.status == RunStatus.DIVERGED:
            return
        start = time.perf_counter() - (self.history[-1].seconds if self.history else 0.0)
        self.status = RunStatus.RUNNING
        for _ in range(epochs or cfg.epochs):
            self.epoch += 1
            self.model.train()
            epoch_start = time.perf_counter()
            order = torch.randperm(len(self.train), generator=self.generator)
            sums = {"loss": 0.0, "objectness": 0.0, "box": 0.0, "classes": 0.0}
            for b in range(0, len(order), cfg.batch_size):
                idx = order[b:b + cfg.batch_size]
                out = self.model(self.train.images[idx])
                parts = detection_loss(out, tuple(t[idx] for t in self.targets), cfg.box_weight, cfg.class_weight)
                if self._divergence(parts["loss"].item()):
                    self.status = RunStatus.DIVERGED
                    rec = DetectRecord("diverged", self.epoch, self.step, lr=self.optimizer.param_groups[0]["lr"],
                                       seconds=time.perf_counter() - start,
                                       message=self._divergence.message(self.step))
                    self.history.append(rec)
                    yield rec
                    return
                self.optimizer.zero_grad(set_to_none=True)
                parts["loss"].backward()
                self.optimizer.step()
                self.scheduler.step()
                self.step += 1
                values = {k: float(v.detach()) for k, v in parts.items()}
                for k in sums:
                    sums[k] += values[k] * len(idx)
                rec = DetectRecord("step", self.epoch, self.step, lr=self.optimizer.param_groups[0]["lr"],
                                   seconds=time.perf_counter() - start, **_named(values))
                self.history.append(rec)
                yield rec
            metrics = evaluate_detector(self.model, self.val, cfg.score_threshold, cfg.nms_iou)
            means = {k: v / len(order) for k, v in sums.items()}
            rec = DetectRecord("epoch", self.epoch, self.step, lr=self.optimizer.param_groups[0]["lr"],
                               val_map50=metrics["map_50"], val_map=metrics["map"],
                               seconds=time.perf_counter() - start, epoch_seconds=time.perf_counter() - epoch_start,
                               **_named(means))
            self.history.append(rec)
            yield rec
        self.status = RunStatus.FINISHED

    def checkpoint(self) -> bytes:
        """The model's weights and config as bytes (a file the page offers for download)."""
        return detector_checkpoint_bytes(self.model, self.config, self.history)


def _named(parts: dict[str, float]) -> dict[str, float]:
    # detection_loss's "loss" (the weighted total) is a Record's train_loss
    return {("train_loss" if k == "loss" else k): v for k, v in parts.items()}


def detector_checkpoint_bytes(model: VisionNet, config: DetectConfig, history: list[DetectRecord] | None = None
                              ) -> bytes:
    """Weights + DetectConfig (as JSON) + the last epoch's metrics, saved with torch.save."""
    last = next((r for r in reversed(history or []) if r.kind == "epoch"), None)
    meta = {"format": CHECKPOINT_FORMAT, "config": asdict(config),
            "metrics": {"val_map50": last.val_map50, "val_map": last.val_map, "epoch": last.epoch} if last else {}}
    buffer = io.BytesIO()
    torch.save({"meta_json": json.dumps(meta), "state_dict": {k: v.detach().cpu().contiguous() for k, v in
                                                              model.state_dict().items()}}, buffer)
    return buffer.getvalue()


def load_detector(data: bytes) -> tuple[VisionNet, DetectConfig, dict]:
    """Bytes of a detector checkpoint -> (model in eval mode, its config, its metrics); CheckpointError otherwise."""
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, unsafe pickle, not a torch file at all
        raise CheckpointError(f"This file is not a readable PyTorch checkpoint ({type(exc).__name__}).") from exc
    meta = json.loads(payload["meta_json"]) if isinstance(payload, dict) and "meta_json" in payload else {}
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("This checkpoint is not a digit detector from this page (for example a classifier "
                              "from the Train page): train a detector here and download its checkpoint.")
    known = {f.name for f in fields(DetectConfig)}
    try:
        config = DetectConfig(**{k: v for k, v in meta["config"].items() if k in known})
        config.validate()
    except (TypeError, InvalidConfig) as exc:
        raise CheckpointError(f"The checkpoint's settings are not valid: {exc}") from exc
    model = VisionNet("detection", BackboneConfig(width=config.width))
    state = payload.get("state_dict", {})
    problem = describe_mismatch(model, state) if isinstance(state, dict) else "no weights"
    if problem:
        raise CheckpointError(f"The checkpoint does not fit the detector: {problem}.")
    model.load_state_dict(state)
    return model.to(memory_format=torch.channels_last).eval(), config, meta.get("metrics", {})  # as trained
