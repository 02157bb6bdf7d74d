"""What a training run is (TrainConfig), what it reports (Record, RunStatus), as frozen data."""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import pandas as pd

from cnn_core.data.augment import AugmentConfig
from cnn_core.errors import InvalidConfig
from cnn_core.models import MODELS, LayerSpec, ModelOptions, output_shapes
from cnn_core.models.init_schemes import INIT_SCHEMES
from cnn_core.training.losses import LOSSES
from cnn_core.training.optimizers import OptimizerConfig, ScheduleConfig

DIVERGENCE_LOSS = 1e4    # a loss above this (or NaN/inf) ends a run as 'diverged'
DIVERGENCE_FACTOR = 10.0  # ... and so does a loss above this many times the run's first loss


@dataclass(frozen=True)
class RegularizationConfig:
    """Regularizers that act in the training loop (dropout and batch norm live in ModelOptions)."""

    l1: float = 0.0                 # coefficient of sum |w| added to the loss
    l2_penalty: float = 0.0         # coefficient of sum w^2 added to the loss (vs optimizer weight_decay)
    label_smoothing: float = 0.0    # for the cross-entropy losses
    early_stopping_patience: int | None = None  # epochs without val-loss improvement before stopping
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class TrainConfig:
    """One training run, fully described (hashable: a cache key and a run label)."""

    dataset: str = "mnist-5k"
    per_class: int | None = None    # keep at most this many training samples per class
    model: str = "lenet5-modern"
    model_options: ModelOptions = field(default_factory=ModelOptions)  # input size / classes come from the data
    init: str = "default"
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: str = "cross-entropy"
    regularization: RegularizationConfig = field(default_factory=RegularizationConfig)
    batch_size: int = 64
    epochs: int = 5
    seed: int = 0
    device: str = "auto"            # auto = CUDA when available, else CPU
    max_grad_norm: float | None = None  # clip the gradient norm (None = off)
    divergence_loss: float = DIVERGENCE_LOSS      # a loss above this (or NaN/inf) ends the run as 'diverged'
    divergence_factor: float = DIVERGENCE_FACTOR  # ... and so does a loss above this many times the first one

    def validate(self) -> None:
        """Raise InvalidConfig naming the first value that cannot run."""
        if self.model not in MODELS:
            raise InvalidConfig(f"Unknown model '{self.model}'")
        if MODELS[self.model].fixed_input is not None:
            raise InvalidConfig(f"{MODELS[self.model].label} is drawn for {MODELS[self.model].fixed_input} inputs "
                                "only; train LeNet-5, an MLP or a custom network instead")
        if self.init not in INIT_SCHEMES:
            raise InvalidConfig(f"Unknown init scheme '{self.init}'")
        if self.loss not in LOSSES:
            raise InvalidConfig(f"Unknown loss '{self.loss}'")
        if not 1 <= self.batch_size <= 4096:
            raise InvalidConfig(f"Batch size must be 1..4096, got {self.batch_size}")
        if not 1 <= self.epochs <= 200:
            raise InvalidConfig(f"Epochs must be 1..200, got {self.epochs}")
        if self.per_class is not None and not 1 <= self.per_class <= 100_000:
            raise InvalidConfig("Samples per class must be at least 1")
        reg = self.regularization
        for name, value in (("L1", reg.l1), ("L2 penalty", reg.l2_penalty)):
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise InvalidConfig(f"{name} coefficient must be in [0, 1], got {value}")
        if not 0 <= reg.label_smoothing < 1:
            raise InvalidConfig("Label smoothing must be in [0, 1)")
        if reg.early_stopping_patience is not None and reg.early_stopping_patience < 1:
            raise InvalidConfig("Early-stopping patience must be at least 1 epoch")
        reg.augment.validate()
        if not self.divergence_factor > 1 or not self.divergence_loss > 0:
            raise InvalidConfig("Divergence limits must be positive (factor above 1)")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise InvalidConfig("Gradient clipping norm must be positive")


@dataclass(frozen=True)
class Record:
    """One thing that happened in a run (every run kind's; a detector's or segmenter's adds its own metrics).

    kind: 'step' (one optimizer step: batch loss/accuracy, lr, grad norm), 'epoch' (epoch means and
    validation metrics), 'diverged' (loss became NaN/inf or too large: the run ended), or
    'early_stop' (patience ran out: best weights restored, `epoch` is the best epoch).
    """

    kind: str
    epoch: int                       # 1-based epoch the record belongs to
    step: int                        # optimizer steps taken so far in this run
    train_loss: float = math.nan
    train_acc: float = math.nan
    val_loss: float = math.nan
    val_acc: float = math.nan
    lr: float = math.nan
    grad_norm: float = math.nan
    seconds: float = 0.0             # wall time since the run started (epoch records: of this epoch in epoch_seconds)
    epoch_seconds: float = math.nan
    message: str = ""


def check_custom_network(specs: Sequence[LayerSpec], input_shape: Sequence[int], image_shape: Sequence[int],
                         num_classes: int, dataset_label: str) -> None:
    """Raise InvalidConfig unless a network of layer specs takes the dataset's images and ends in one
    output per class."""
    if tuple(input_shape) != tuple(image_shape):
        raise InvalidConfig(f"The network from the Architecture page takes {'x'.join(map(str, input_shape))} inputs, "
                            f"but {dataset_label} images are {'x'.join(map(str, image_shape))}. Pick a matching "
                            "dataset or rebuild the network with that input shape.")
    out = output_shapes(tuple(specs), tuple(input_shape))[-1]
    if tuple(out) != (num_classes,):
        raise InvalidConfig(f"The network from the Architecture page ends with shape {out}; it must end in "
                            f"{num_classes} outputs (one per class), e.g. a final Linear layer with {num_classes} "
                            "units.")


class RunStatus(enum.StrEnum):
    """Where a run stands: the one spelling used by runs, summaries, searches and pages (a str)."""

    READY = "ready"                  # built, not trained yet
    RUNNING = "running"              # records are being produced
    FINISHED = "finished"            # trained every planned epoch
    STOPPED = "stopped"              # interrupted (Stop, a rerun, a time limit) before its last epoch
    DIVERGED = "diverged"            # the loss became NaN, infinite or too large: the run ended
    EARLY_STOPPED = "early_stopped"  # patience ran out: the best weights were restored
    NOT_LEARNING = "not_learning"    # a summary's verdict: finished without diverging, yet did not learn
    FAILED = "failed"                # the run raised or its worker process died (an executor's outcome)

    @property
    def label(self) -> str:
        """The words shown in tables and legends ('early stopped')."""
        return self.value.replace("_", " ")


def epoch_records(records: Iterable[Record]) -> list[Record]:
    """The records that close an epoch (epoch means and validation metrics), in order."""
    return [r for r in records if r.kind == "epoch"]


@dataclass(frozen=True)
class RunSummary:
    """What one run's records add up to: status, epochs, final / best validation metrics, time."""

    status: RunStatus
    epochs: int                      # completed epochs
    final_val_acc: float
    best_val_acc: float
    best_epoch: int | None           # epoch of the best validation accuracy
    final_train_loss: float
    final_val_loss: float
    final_gap: float                 # final validation loss minus training loss
    seconds: float                   # the last record's wall time
    diverged_step: int | None        # 1-based step at which the loss diverged

    def row(self) -> dict:
        """The summary as a table row (status as its label)."""
        return {"status": self.status.label, "epochs": self.epochs, "final_val_acc": self.final_val_acc,
                "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch,
                "final_train_loss": self.final_train_loss, "final_val_loss": self.final_val_loss,
                "final_gap": self.final_gap, "seconds": self.seconds}


def run_status(records: Sequence[Record], planned_epochs: int | None = None) -> RunStatus:
    """A run's status from its records: diverged / early stopped / ready (no records), else finished when
    it completed `planned_epochs` (or when that is unknown) and stopped otherwise."""
    if any(r.kind == "diverged" for r in records):
        return RunStatus.DIVERGED
    if any(r.kind == "early_stop" for r in records):
        return RunStatus.EARLY_STOPPED
    if not records:
        return RunStatus.READY
    if planned_epochs is not None and len(epoch_records(records)) < planned_epochs:
        return RunStatus.STOPPED
    return RunStatus.FINISHED


def summarize_run(records: Sequence[Record], planned_epochs: int | None = None) -> RunSummary:
    """The one per-run summary behind every results table (comparisons, searches, init runs, Train)."""
    epochs = epoch_records(records)
    last = epochs[-1] if epochs else None
    best = max(epochs, key=lambda r: r.val_acc) if epochs else None
    diverged = next((r for r in records if r.kind == "diverged"), None)
    return RunSummary(
        status=run_status(records, planned_epochs), epochs=len(epochs),
        final_val_acc=last.val_acc if last else math.nan, best_val_acc=best.val_acc if best else math.nan,
        best_epoch=best.epoch if best else None, final_train_loss=last.train_loss if last else math.nan,
        final_val_loss=last.val_loss if last else math.nan,
        final_gap=(last.val_loss - last.train_loss) if last else math.nan,
        seconds=records[-1].seconds if records else 0.0,
        diverged_step=diverged.step + 1 if diverged else None)


def records_to_frame(records: list[Record], run: str = "run") -> pd.DataFrame:
    """Tidy long frame with columns run, epoch, step, split, metric, value."""
    rows = []
    for r in records:
        if r.kind == "step":
            for metric, value in (("loss", r.train_loss), ("accuracy", r.train_acc), ("lr", r.lr),
                                  ("grad_norm", r.grad_norm)):
                rows.append((run, r.epoch, r.step, "train_step", metric, value))
        elif r.kind == "epoch":
            for split, loss, acc in (("train", r.train_loss, r.train_acc), ("val", r.val_loss, r.val_acc)):
                rows.append((run, r.epoch, r.step, split, "loss", loss))
                rows.append((run, r.epoch, r.step, split, "accuracy", acc))
    return pd.DataFrame(rows, columns=["run", "epoch", "step", "split", "metric", "value"])
