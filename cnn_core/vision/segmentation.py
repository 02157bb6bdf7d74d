"""Semantic segmentation of digit scenes: a small U-Net (skip connections on or off), its metrics and its run.

(SegConfig, seed) -> a generator of SegRecords, a run like TrainingRun: the same seed gives the same
curves on the CPU. The network shrinks the image with max-pooling and grows it back with transposed
convolutions; with skips on, each decoder level also sees the encoder's feature maps of the same size
(concatenated), which is what gives sharp borders. With `ema` > 0 the network that is scored, shown and saved
is a moving average of the trained network's weights (SegConfig.ema, ema_decay).
"""
from __future__ import annotations

import io
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from cnn_core.device import seed_everything
from cnn_core.errors import BudgetExceeded, CheckpointError, InvalidConfig
from cnn_core.inspect.field_trace import trace_fields
from cnn_core.inspect.hooks import capture_forward, eval_mode
from cnn_core.models.cost import Estimate, human_seconds, time_budget_seconds
from cnn_core.training import Record, RunStatus, epoch_records, run_status
from cnn_core.training.checkpoints import describe_mismatch
from cnn_core.training.optimizers import OptimizerConfig, ScheduleConfig, make_optimizer
from cnn_core.training.optimizers import lr_factor as schedule_factor
from cnn_core.training.runs import DivergenceCheck
from cnn_core.vision.scenes import DIGIT_CLASSES, SceneConfig, Scenes, scenes_from_config

CHECKPOINT_FORMAT = "cnn-playground-segmenter"
LOSSES = ("cross-entropy", "dice", "cross-entropy + dice")
SCHEDULES = ("decay", "cosine", "constant")
MODES = ("digits", "foreground")  # 11 classes (background + 10 digits) or 2 (background, ink)
# training seconds per 64 x 64 scene and epoch at base 16, batch 8, 2 cores: the default (1000 scenes of 48 x 48,
# 10 epochs) is priced 56 s and measured 50.5 s (100 CPU s) on a quiet machine (benchmarks/segmentation.py)
SECONDS_PER_SCENE = 10e-3
NORMS = ("batch", "group")  # batch norm, or group norm (4 channels a group: no batch statistics)


def class_names(mode: str) -> tuple[str, ...]:
    """The label of every output channel."""
    return ("background", *DIGIT_CLASSES) if mode == "digits" else ("background", "digit")


def _norm(kind: str, channels: int) -> nn.Module:
    # group norm normalizes each scene by itself: training and evaluation see the same statistics, where batch
    # norm's running averages lag behind weights that a high learning rate moves fast
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.GroupNorm(max(1, channels // 4), channels)


def _double_conv(c_in: int, c_out: int, norm: str = "batch") -> nn.Sequential:
    # two 3x3 convs, padding 1: the size is kept, the receptive field grows by 4 px
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), _norm(norm, c_out), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1), _norm(norm, c_out), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """Encoder (double conv + 2x2 max-pool, `depth` times), bottleneck, decoder (2x2 stride-2 transposed conv +
    double conv). skips=True concatenates the encoder map of the same size before each decoder conv (U-Net,
    Ronneberger et al. 2015); skips=False is the same network without them (a plain encoder-decoder)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 11, base: int = 16, depth: int = 3,
                 skips: bool = True, norm: str = "batch") -> None:
        super().__init__()
        self.skips = skips
        widths = [base * 2 ** i for i in range(depth + 1)]  # e.g. 16, 32, 64, 128
        self.down = nn.ModuleList()
        c = in_channels
        for w in widths[:-1]:
            self.down.append(_double_conv(c, w, norm))
            c = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(widths[-2], widths[-1], norm)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w_low, w in zip(reversed(widths[1:]), reversed(widths[:-1])):
            self.up.append(nn.ConvTranspose2d(w_low, w, kernel_size=2, stride=2))  # H x W -> 2H x 2W
            self.dec.append(_double_conv(2 * w if skips else w, w, norm))
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)  # a class score per pixel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W (H, W multiples of 2**depth) -> N x K x H x W per-pixel class logits."""
        saved = []
        for block in self.down:
            x = block(x)
            saved.append(x)          # N x w x H' x W', kept for the skip connection
            x = self.pool(x)         # halves H' and W'
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(saved)):
            x = up(x)                # doubles the size back
            x = dec(torch.cat([skip, x], dim=1) if self.skips else x)
        return self.head(x)


# ------------------------------------------------------------------ metrics


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """K x K counts: row = true class, column = predicted class, over every pixel."""
    index = target.reshape(-1) * num_classes + pred.reshape(-1)
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_per_class(confusion: torch.Tensor) -> torch.Tensor:
    """IoU = TP / (TP + FP + FN) per class from a confusion matrix; NaN for a class absent from both."""
    tp = confusion.diag().double()
    union = confusion.sum(0).double() + confusion.sum(1).double() - tp
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))


def mean_iou(confusion: torch.Tensor, skip_background: bool = True) -> float:
    """Mean IoU over the classes present (the digit classes only, by default)."""
    ious = iou_per_class(confusion)[1:] if skip_background else iou_per_class(confusion)
    ious = ious[~torch.isnan(ious)]
    return float(ious.mean()) if len(ious) else math.nan


def boundary_band(mask: torch.Tensor, width: int = 2) -> torch.Tensor:
    """N x H x W bool: pixels within `width` px of a change of class (where blurry borders show)."""
    m = mask.unsqueeze(1).float()
    k = 2 * width + 1
    hi = F.max_pool2d(m, k, stride=1, padding=width)
    lo = -F.max_pool2d(-m, k, stride=1, padding=width)
    return (hi != lo).squeeze(1)


def boundary_accuracy(pred: torch.Tensor, target: torch.Tensor, width: int = 2) -> float:
    """Pixel accuracy inside the band around the true borders (an edge-band accuracy)."""
    band = boundary_band(target, width)
    return float((pred[band] == target[band]).float().mean()) if band.any() else math.nan


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - mean soft Dice over classes: 2 |P * T| / (|P| + |T|) with softmax probabilities."""
    probs = logits.softmax(dim=1)                                          # N x K x H x W
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).float()
    inter = (probs * onehot).sum(dim=(0, 2, 3))
    total = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    return 1 - ((2 * inter + eps) / (total + eps)).mean()


def class_weights(num_classes: int, background: float) -> torch.Tensor:
    """Cross-entropy weights: `background` for class 0, 1 for the others. Background is ~93 % of the pixels;
    down-weighting it makes a confused digit cost as much as it should."""
    weights = torch.ones(num_classes)
    weights[0] = background
    return weights


def segmentation_loss(name: str, logits: torch.Tensor, target: torch.Tensor, background_weight: float = 1.0
                      ) -> torch.Tensor:
    """Per-pixel cross-entropy (background weighted), soft Dice, or their sum."""
    weight = class_weights(logits.shape[1], background_weight) if background_weight != 1.0 else None
    if name == "cross-entropy":
        return F.cross_entropy(logits, target, weight=weight)
    if name == "dice":
        return dice_loss(logits, target)
    return F.cross_entropy(logits, target, weight=weight) + dice_loss(logits, target)


# ------------------------------------------------------------------ the run


@dataclass(frozen=True)
class SegConfig:
    """One segmenter training run, fully described (hashable: a cache key and a run label)."""

    skips: bool = True            # U-Net (True) or the same encoder-decoder without skip connections
    mode: str = "digits"          # 'digits': background + 10 classes; 'foreground': background / ink
    loss: str = "cross-entropy + dice"  # Dice scores the overlap that mIoU measures: 0.43 -> 0.66 at 12 epochs
    # 16 channels at 48 x 48: with 8, the last decoder levels carry 11 classes' identity in 8 channels (group norm,
    # batch 16, seed 2: mIoU 0.23 in 14 epochs, 0.77 with 16); the time per step grows ~1.7x, not 4x (small convs)
    base: int = 16                # channels of the first level (doubling per level)
    depth: int = 3                # poolings: the canvas must be a multiple of 2**depth
    train_scenes: int = 1000
    val_scenes: int = 200
    canvas: int = 48              # digits of 12-24 px; 48 x 48 costs half of 64 x 64 per epoch
    max_digits: int = 4
    scene_seed: int = 0
    epochs: int = 10              # under 60 s on 2 cores for the U-Net (benchmarks/segmentation.py)
    # 8 scenes a step: twice the Adam steps per epoch for ~1.1x the time; the digits' identities are learned
    # per step, and at batch 16 the first epochs stayed near mIoU 0 (seed 2: 0.23 -> 0.57 at base 8, 14 epochs)
    batch_size: int = 8
    lr: float = 3e-3              # Adam's (peak) learning rate (2e-3, 5e-3 and 1e-2 learned slower)
    schedule: str = "cosine"      # see lr_factor: a 5 % warm-up, then a cosine to 0.02 of the rate
    background_weight: float = 0.1  # cross-entropy weight of the background class (the digits weigh 1)
    # batch norm learns the digits' identities much faster here (seed 2, 10 epochs: mIoU 0.84 vs 0.74 with group
    # norm); its running statistics lag weights that move fast, and the raw network's validation mIoU fell by up
    # to 0.22 between epochs, so what is scored (and kept) is the weights' moving average (`ema`)
    norm: str = "batch"           # 'batch' or 'group' normalization after every conv
    # after every optimizer step the evaluated network becomes d * itself + (1 - d) * the trained network,
    # parameters and batch-norm buffers alike, with d = ema_decay(ema, updates so far) (see there); 0.99: an average
    # over the last ~100 steps (under an epoch of 125) once warmed up; 0 = score the trained network itself
    ema: float = 0.99
    seed: int = 0

    def validate(self) -> None:
        """Raise InvalidConfig naming the first value that cannot run."""
        checks = [
            (self.mode in MODES, f"mode must be one of {', '.join(MODES)}"),
            (self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}"),
            (4 <= self.base <= 64, f"base channels must be 4 .. 64, not {self.base}"),
            (1 <= self.depth <= 4, f"depth must be 1 .. 4, not {self.depth}"),
            (16 <= self.train_scenes <= 10_000, f"training scenes must be 16 .. 10,000, not {self.train_scenes}"),
            (1 <= self.val_scenes <= 2_000, f"validation scenes must be 1 .. 2,000, not {self.val_scenes}"),
            (32 <= self.canvas <= 256 and self.canvas % 2 ** self.depth == 0,
             f"canvas must be 32 .. 256 and a multiple of 2**depth = {2 ** self.depth}, not {self.canvas}"),
            (1 <= self.max_digits <= 10, f"digits per scene must be 1 .. 10, not {self.max_digits}"),
            (1 <= self.epochs <= 100, f"epochs must be 1 .. 100, not {self.epochs}"),
            (1 <= self.batch_size <= 256, f"batch size must be 1 .. 256, not {self.batch_size}"),
            (math.isfinite(self.lr) and 0 < self.lr <= 1, f"learning rate must be in (0, 1], not {self.lr}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.norm in NORMS, f"normalization must be one of {', '.join(NORMS)}"),
            (math.isfinite(self.ema) and 0 <= self.ema < 1,
             f"weight averaging (ema) must be in [0, 1), not {self.ema}"),
            (math.isfinite(self.background_weight) and 0 < self.background_weight <= 1,
             f"background weight must be in (0, 1], not {self.background_weight}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidConfig(message)

    def estimated_seconds(self) -> float:
        """Training time on 2 CPU cores: SECONDS_PER_SCENE per 64 x 64 scene and epoch at base 16
        (benchmarks/segmentation.py), scaling with the pixels and linearly with the width."""
        # linear, not quadratic, in the width: at these widths memory traffic costs more than the multiply-adds
        # (base 16 takes ~1.7x base 8's time per step; linear over-prices small widths a little, never under-prices)
        return self.train_scenes * self.epochs * SECONDS_PER_SCENE * (self.canvas / 64) ** 2 * (self.base / 16)

    def check_budget(self) -> Estimate:
        """BudgetExceeded before any work when the run would take longer than this server allows; else its price."""
        seconds, limit = self.estimated_seconds(), time_budget_seconds()
        if seconds > limit:
            raise BudgetExceeded(f"This segmenter would train for about {human_seconds(seconds)}; this server allows "
                                 f"{human_seconds(limit)} a run. Lower the epochs or the training scenes.")
        return Estimate("this segmenter", 0, seconds, self.batch_size, None)

    def planned_steps(self) -> int:
        """Optimizer steps of all the config's epochs."""
        return self.epochs * math.ceil(self.train_scenes / self.batch_size)

    def make_run(self, priced: Estimate | None = None) -> SegmentationRun:
        """The run of this config (`priced`: its check_budget, so the run does not price it again)."""
        return SegmentationRun(self, priced)

    @property
    def num_classes(self) -> int:
        """Output channels: 11 or 2."""
        return len(class_names(self.mode))

    def scenes(self, split: str) -> SceneConfig:
        """The scene generator's settings for a split."""
        count = self.train_scenes if split == "train" else self.val_scenes
        return SceneConfig(split=split, count=count, seed=self.scene_seed, canvas=self.canvas,
                           max_digits=self.max_digits)

    def build(self) -> UNet:
        """A fresh network of this config (seeded by the caller)."""
        return UNet(1, self.num_classes, self.base, self.depth, self.skips, self.norm)


def ema_decay(ema: float, updates: int) -> float:
    """The averaged network's weight on itself at update number n = `updates` (1, 2, ...): min(ema, (1+n)/(10+n)).

    The warm-up (TensorFlow's ExponentialMovingAverage num_updates rule) keeps a short run's average close to
    the trained weights: 0.55 after 10 steps, 0.92 after 100, `ema` from (10 ema - 1) / (1 - ema) steps on
    (890 for 0.99), where a flat 0.99 would still be mostly the random start after 189 steps (3 short epochs).
    """
    return min(ema, (1 + updates) / (10 + updates))


def ema_average_fn(ema: float) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """AveragedModel's avg_fn for ema_decay: (averaged, current, updates) -> the new averaged tensor."""
    def average(averaged: torch.Tensor, current: torch.Tensor, updates: torch.Tensor) -> torch.Tensor:
        decay = ema_decay(ema, int(updates))
        return averaged * decay + current * (1 - decay)  # integer buffers (num_batches_tracked) are copied back
    return average


def lr_factor(step: int, total: int, schedule: str = "decay") -> float:
    """Learning-rate multiplier at `step` of `total` planned steps (and after them, for a continued run).

    'decay': the full rate, then a linear decay to 0.02 over the last quarter (warm-up-stable-decay without the
    warm-up): fast learning while far from a minimum, and a quiet final model. 'cosine': a 5 % warm-up, then a
    cosine from 1 to 0.02. 'constant': always 1.
    """
    if schedule == "decay":
        start = int(total * 0.75)
        return 1.0 if step < start else max(0.02, 1 - (step - start) / max(1, total - start))
    if schedule == "constant":
        return schedule_factor(step, total, ScheduleConfig("none"))
    return schedule_factor(step, total, ScheduleConfig("cosine", warmup_steps=max(1, total // 20), min_factor=0.02))


@dataclass(frozen=True)
class SegRecord(Record):
    """A Record with the segmenter's validation metrics: a 'step' (batch loss), an 'epoch' (validation loss,
    pixel accuracy, IoU) or 'diverged'."""

    pixel_acc: float = math.nan
    miou: float = math.nan          # mean IoU over the digit classes (background left out)
    boundary_acc: float = math.nan  # accuracy within 2 px of the true borders
    class_iou: tuple[float, ...] = ()


@lru_cache(maxsize=3)  # a 4,000-scene set is ~200 MB (images + int64 masks)
def cached_scenes(cfg: SceneConfig) -> Scenes:
    """Scenes are pure functions of their config: generate each set once per process (read-only)."""
    return scenes_from_config(cfg)


def target_masks(scenes: Scenes, mode: str) -> torch.Tensor:
    """N x H x W class targets for a mode (foreground collapses the digit classes into 1)."""
    return scenes.masks if mode == "digits" else (scenes.masks > 0).long()


@torch.no_grad()
def predict_masks(model: nn.Module, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """N x H x W predicted classes (eval mode, restored afterwards)."""
    with eval_mode(model):
        return torch.cat([model(images[i:i + batch]).argmax(1) for i in range(0, len(images), batch)])


def evaluate_segmenter(model: nn.Module, scenes: Scenes, mode: str, loss: str = "cross-entropy") -> dict:
    """Validation loss, pixel accuracy, per-class IoU, mIoU (digit classes) and boundary accuracy."""
    target = target_masks(scenes, mode)
    k = len(class_names(mode))
    with eval_mode(model), torch.no_grad():
        logits = torch.cat([model(scenes.images[i:i + 64]) for i in range(0, len(scenes), 64)])
    pred = logits.argmax(1)
    confusion = confusion_matrix(pred, target, k)
    return {"val_loss": float(segmentation_loss(loss, logits, target)),
            "pixel_acc": float((pred == target).float().mean()),
            "class_iou": tuple(float(v) for v in iou_per_class(confusion)),
            "miou": mean_iou(confusion), "boundary_acc": boundary_accuracy(pred, target)}


class SegmentationRun:
    """A segmenter, its optimizer and its scenes; `records()` trains and yields SegRecords (a Run)."""

    def __init__(self, config: SegConfig, priced: Estimate | None = None) -> None:
        config.validate()
        self.estimate = priced if priced is not None else config.check_budget()
        self.config = config
        seed_everything(config.seed)
        # channels_last: oneDNN's NHWC kernels train the U-Net about 1.3x faster on the CPU (checkpoints: contiguous)
        # `net` is the network the optimizer trains; `model` is the one scored, shown and saved: with ema > 0 the
        # moving average of net's weights and buffers (a separate UNet, updated after each step), else net itself
        self.net = config.build().to(memory_format=torch.channels_last)
        # AveragedModel deep-copies net; its first update copies net's weights, later ones call the avg_fn with
        # the number of updates so far (1, 2, ...)
        self._average = (AveragedModel(self.net, avg_fn=ema_average_fn(config.ema), use_buffers=True)
                         if config.ema > 0 else None)
        self.model: UNet = self._average.module if self._average is not None else self.net
        self.optimizer = make_optimizer(self.net.parameters(), OptimizerConfig("adam", lr=config.lr))
        steps = config.epochs * math.ceil(config.train_scenes / config.batch_size)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factor(step, steps,
                                                                                                   config.schedule))
        self.train = cached_scenes(config.scenes("train"))
        self.val = cached_scenes(config.scenes("val"))
        self._targets = target_masks(self.train, config.mode)
        self._order = torch.Generator().manual_seed(config.seed)
        self.history: list[SegRecord] = []
        self.epoch = self.step = 0
        self.status = RunStatus.READY
        self._elapsed = 0.0
        self._divergence = DivergenceCheck()

    def records(self, epochs: int | None = None) -> Iterator[SegRecord]:
        """Train `epochs` more epochs (default: the config's), yielding step and epoch records."""
        cfg = self.config
        if self.status == RunStatus.DIVERGED:
            return
        self.status = RunStatus.RUNNING
        start = time.perf_counter() - self._elapsed
        for _ in range(epochs or cfg.epochs):
            self.epoch += 1
            self.net.train()
            epoch_start = time.perf_counter()
            order = torch.randperm(len(self.train), generator=self._order)
            losses = []
            for first in range(0, len(order), cfg.batch_size):
                idx = order[first:first + cfg.batch_size]
                logits = self.net(self.train.images[idx])                    # B x K x H x W
                loss = segmentation_loss(cfg.loss, logits, self._targets[idx], cfg.background_weight)
                value = loss.item()
                self._elapsed = time.perf_counter() - start
                if self._divergence(value):
                    self.status = RunStatus.DIVERGED
                    record = SegRecord("diverged", self.epoch, self.step, lr=self.optimizer.param_groups[0]["lr"],
                                       seconds=self._elapsed, message=self._divergence.message(self.step))
                    self.history.append(record)
                    yield record
                    return
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                self.scheduler.step()
                if self._average is not None:
                    self._average.update_parameters(self.net)  # the first call copies net, later ones average
                self.step += 1
                losses.append(value)
                record = SegRecord("step", self.epoch, self.step, train_loss=value, seconds=self._elapsed)
                self.history.append(record)
                yield record
            metrics = evaluate_segmenter(self.model, self.val, cfg.mode, cfg.loss)
            self._elapsed = time.perf_counter() - start
            record = SegRecord("epoch", self.epoch, self.step, train_loss=sum(losses) / len(losses),
                               seconds=self._elapsed, epoch_seconds=time.perf_counter() - epoch_start, **metrics)
            self.history.append(record)
            yield record
        self.status = RunStatus.FINISHED

    def checkpoint(self) -> bytes:
        """The weights, the config and the history as one torch.save file."""
        return segmenter_checkpoint_bytes(self.model, self.config, self.history)


@dataclass
class TrainedSegmenter:
    """A segmenter trained elsewhere (an executor, the run cache): config, weights and records for the views."""

    config: SegConfig
    model: UNet          # eval mode
    history: list[SegRecord]

    @property
    def val(self) -> Scenes:
        """The validation scenes it was scored on."""
        return cached_scenes(self.config.scenes("val"))

    @property
    def status(self) -> RunStatus:
        """How its records ended (finished, stopped, diverged)."""
        return run_status(self.history, self.config.epochs)


def trained_segmenter(config: SegConfig, state: dict[str, torch.Tensor], history: list[SegRecord]
                      ) -> TrainedSegmenter:
    """A TrainedSegmenter from a run's final weights (a state dict of config.build()'s network) and records."""
    model = config.build()
    model.load_state_dict(state)
    return TrainedSegmenter(config, model.to(memory_format=torch.channels_last).eval(), list(history))


def segmenter_checkpoint_bytes(model: nn.Module, config: SegConfig, history: list[SegRecord] | None = None) -> bytes:
    """A checkpoint that load_segmenter reads back (plain tensors and JSON text: weights_only-safe)."""
    meta = {"format": CHECKPOINT_FORMAT, "config": asdict(config),
            "history": [asdict(r) for r in epoch_records(history or [])]}
    buffer = io.BytesIO()
    torch.save({"meta": json.dumps(meta), "state_dict": {k: v.contiguous() for k, v in model.state_dict().items()}}, buffer)
    return buffer.getvalue()


def load_segmenter(data: bytes) -> tuple[UNet, SegConfig]:
    """Rebuild a segmenter from checkpoint bytes; another model's checkpoint is refused naming the layers."""
    try:
        payload = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:
        raise CheckpointError("This file is not a readable PyTorch checkpoint.") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), str):
        raise CheckpointError("This checkpoint was not saved by the Segmentation page (no segmenter metadata).")
    try:
        meta = json.loads(payload["meta"])
        known = {f.name for f in fields(SegConfig)}
        config = SegConfig(**{k: v for k, v in meta["config"].items() if k in known})
        config.validate()
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"The segmenter metadata is malformed: {str(exc)[:80]}") from exc
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("This checkpoint was not saved by the Segmentation page.")
    model = config.build()
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError("The checkpoint has no state dict.")
    problem = describe_mismatch(model, state)
    if problem:
        raise CheckpointError(f"This checkpoint does not fit the segmenter it describes: {problem}")
    model.load_state_dict(state)
    return model.to(memory_format=torch.channels_last).eval(), config  # the layout it was trained in



def class_gradcam(model: UNet, image: torch.Tensor, class_index: int, layer: str = "bottleneck"
                  ) -> tuple[torch.Tensor, int]:
    """Grad-CAM for a segmentation class: the gradient of the summed logits of every pixel predicted as
    `class_index`, pooled per channel of `layer`, weighting that layer's maps (ReLU, upsampled to the input).
    Returns an H x W map in [0, 1] and how many pixels were predicted as the class (0: an all-zero map)."""
    with eval_mode(model), torch.enable_grad(), capture_forward(model, [layer], keep_graph=True) as calls:
        logits = model(image)                                   # 1 x K x H x W
        chosen = logits.argmax(1, keepdim=True) == class_index  # 1 x 1 x H x W
        pixels = int(chosen.sum())
        if pixels == 0:
            return torch.zeros(image.shape[-2:]), 0
        (logits[:, class_index:class_index + 1] * chosen).sum().backward()
        maps = calls[-1].output                                 # 1 x C x h x w
        weights = maps.grad.mean(dim=(2, 3), keepdim=True)      # one weight per channel
        cam = F.relu((weights * maps).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    return cam / cam.max() if cam.max() > 0 else cam, pixels


def pixel_receptive_field(model: UNet, image: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """Effective receptive field of one output pixel: |d logit(predicted class at (row, col)) / d input|,
    normalized to [0, 1] (H x W). In a U-Net it reaches as far as the bottleneck sees."""
    with eval_mode(model), torch.enable_grad():
        x = image.clone().requires_grad_(True)
        logits = model(x)
        k = int(logits[0, :, row, col].argmax())
        logits[0, k, row, col].backward()
    grad = x.grad[0].abs().sum(0)
    return grad / grad.max() if grad.max() > 0 else grad


@lru_cache(maxsize=8)
def theoretical_receptive_field(depth: int) -> int:
    """Side of the widest input window one output pixel of a `depth`-level U-Net can see, followed along its
    graph (cnn_core.inspect.field_trace): a 2x2 stride-2 transposed conv reads one pixel, so it adds nothing,
    and after it neighbouring output pixels see windows shifted by different amounts (the widest is given)."""
    side = 2 ** depth * 8   # a few units per pooling period, so every phase of the pattern is present
    tracer, node, _ = trace_fields(UNet(1, 2, base=1, depth=depth).eval(), (1, side, side))
    return tracer.field_sizes([node], side)[node]

# Background black, then ten distinct colours (the digit classes 0-9): the page's legend uses the same list.
MASK_PALETTE = ((0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212))


def mask_to_rgb(mask: torch.Tensor) -> np.ndarray:
    """H x W class indices -> H x W x 3 uint8 picture in MASK_PALETTE colours."""
    palette = np.array(MASK_PALETTE, dtype=np.uint8)
    return palette[mask.clamp(0, len(MASK_PALETTE) - 1).numpy()]


def fit_to_network(image: torch.Tensor, depth: int) -> tuple[torch.Tensor, str]:
    """Pad a 1 x 1 x H x W image (zeros = background) to multiples of 2**depth; says what it did."""
    multiple = 2 ** depth
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not ph and not pw:
        return image, ""
    padded = F.pad(image, (0, pw, 0, ph))
    return padded, (f"Padded from {h} x {w} to {h + ph} x {w + pw} pixels (a multiple of {multiple}: the network "
                    f"halves the size {depth} times).")
