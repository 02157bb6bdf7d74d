"""Hyper-parameter tuning: the learning-rate range test, and grid / random search as independent trials.

LR range test (Smith 2015, "Cyclical learning rates"): train a fresh, seeded model for a few
hundred steps while the learning rate grows exponentially from `min_lr` to `max_lr`; plot the
smoothed loss against the rate. The loss first stays flat (rate too small), then falls (the useful
range), then explodes (too large). Suggested rate, the rule used here: **the rate at the minimum of
the smoothed loss, divided by 10** (the minimum sits at the edge of divergence; a tenth of it is in
the falling part). The steepest-descent rate (most negative slope of the smoothed loss against
log lr) is reported too.

Search: every trial is an independent `(config, seed)` run of `TrainingRun`; a trial's result does not
depend on which other trials ran, or in which order.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from cnn_core.data import Dataset, load_dataset
from cnn_core.errors import InvalidConfig
from cnn_core.training import Record, TrainConfig, TrainingRun, summarize_run
from cnn_core.training.budget import check_runs
from cnn_core.training.optimizers import ScheduleConfig

MAX_TRIALS = 64
SEARCHED_FIELDS = ("lr", "batch_size", "weight_decay")  # the trial table's columns (not optimizer knobs)


# ------------------------------------------------------------------------------ LR range test

@dataclass(frozen=True)
class LRPoint:
    """One step of the range test: the rate used, the batch loss and its smoothed value."""

    step: int
    lr: float
    loss: float
    smoothed: float


@dataclass
class LRRangeResult:
    """The range test's curve and what it suggests."""

    frame: pd.DataFrame      # step, lr, loss, smoothed
    suggested_lr: float      # lr at the smoothed minimum / 10 (NaN when the curve is too short)
    min_loss_lr: float       # lr where the smoothed loss is lowest
    steepest_lr: float       # lr of the most negative slope d(smoothed) / d(log10 lr)
    min_lr: float
    max_lr: float
    stop_reason: str         # 'exploded', 'max_lr reached', or 'ended early' (diverged or stopped)


def range_test_config(config: TrainConfig, min_lr: float, max_lr: float, steps: int,
                      steps_per_epoch: int) -> TrainConfig:
    """The run behind the test: the config's model, loss, optimizer and seed, starting at min_lr.

    Its own schedule and early stopping are off; the exponential ramp is installed by lr_range_points.
    """
    if not (1e-8 <= min_lr < max_lr <= 10):
        raise InvalidConfig(f"Need 1e-8 <= min lr < max lr <= 10, got {min_lr:g} and {max_lr:g}")
    if not 10 <= steps <= 1000:
        raise InvalidConfig(f"The range test takes 10..1000 steps, got {steps}")
    epochs = math.ceil(steps / max(steps_per_epoch, 1))
    if epochs > 200:
        raise InvalidConfig("Too many steps for so few training samples: use a larger subset or fewer steps")
    reg = replace(config.regularization, early_stopping_patience=None)
    return replace(config, optimizer=replace(config.optimizer, lr=min_lr), epochs=epochs, regularization=reg,
                   schedule=ScheduleConfig())


def exponential_ramp(optimizer: torch.optim.Optimizer, ratio: float, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Step s (0-based) uses base_lr * ratio ** (s / (steps - 1)): from min_lr to max_lr in `steps` steps."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: ratio ** (s / (steps - 1)))


def lr_range_points(config: TrainConfig, data: Dataset | None = None, min_lr: float = 1e-5, max_lr: float = 1.0,
                    steps: int = 100, beta: float = 0.9, explode_factor: float = 4.0) -> Iterator[LRPoint]:
    """Run the range test, yielding one LRPoint per step (a generator: the consumer may stop early).

    The smoothed loss is a bias-corrected exponential moving average (weight `beta`). The test ends
    when the smoothed loss exceeds `explode_factor` times its minimum, when the run diverges, or after
    `steps` steps.
    """
    config.validate()
    data = data if data is not None else load_dataset(config.dataset, per_class=config.per_class)
    steps_per_epoch = math.ceil(len(data.train_y) / config.batch_size)
    run = TrainingRun(range_test_config(config, min_lr, max_lr, steps, steps_per_epoch), data)
    run.use_scheduler(exponential_ramp(run.optimizer, max_lr / min_lr, steps))  # stepped by the run after each step
    average, best = 0.0, math.inf
    for record in run.records():
        if record.kind == "diverged":  # NaN / inf / huge loss: the curve ends with an explosion
            yield LRPoint(record.step + 1, record.lr, math.nan, math.nan)
            return
        if record.kind != "step":
            continue
        i = record.step  # 1-based
        average = beta * average + (1 - beta) * record.train_loss
        smoothed = average / (1 - beta ** i)
        yield LRPoint(i, record.lr, record.train_loss, smoothed)
        if not math.isfinite(smoothed) or smoothed > explode_factor * best:
            return
        best = min(best, smoothed)
        if i >= steps:
            return


def summarize_lr_range(points: Sequence[LRPoint], min_lr: float, max_lr: float, steps: int,
                       explode_factor: float = 4.0) -> LRRangeResult:
    """The suggestion (smoothed minimum / 10, clipped to the tested range) from the points so far."""
    frame = pd.DataFrame([(p.step, p.lr, p.loss, p.smoothed) for p in points],
                         columns=["step", "lr", "loss", "smoothed"])
    if len(frame) < 5:
        return LRRangeResult(frame, math.nan, math.nan, math.nan, min_lr, max_lr, "ended early")
    finite = frame[np.isfinite(frame["smoothed"])]
    best = finite.loc[finite["smoothed"].idxmin()]
    last = frame.iloc[-1]
    if not math.isfinite(last["smoothed"]) or last["smoothed"] > explode_factor * best["smoothed"]:
        reason = "exploded"
    elif last["step"] >= steps:
        reason = "max_lr reached"
    else:
        reason = "ended early"
    # Slope of the smoothed loss against log10(lr), up to the minimum (after it the curve only rises).
    upto = finite[finite["step"] <= best["step"]]
    if len(upto) >= 3:
        slope = np.gradient(upto["smoothed"].to_numpy(), np.log10(upto["lr"].to_numpy()))
        steepest = float(upto["lr"].iloc[int(np.argmin(slope))])
    else:
        steepest = float(best["lr"])
    suggested = min(max(float(best["lr"]) / 10, min_lr), max_lr)
    return LRRangeResult(frame, suggested, float(best["lr"]), steepest, min_lr, max_lr, reason)


def lr_range_test(config: TrainConfig, data: Dataset | None = None, min_lr: float = 1e-5, max_lr: float = 1.0,
                  steps: int = 100, beta: float = 0.9, explode_factor: float = 4.0) -> LRRangeResult:
    """Run the whole range test and return its curve and suggested learning rate."""
    points = list(lr_range_points(config, data, min_lr, max_lr, steps, beta, explode_factor))
    return summarize_lr_range(points, min_lr, max_lr, steps, explode_factor)


# ------------------------------------------------------------------------------ grid / random search

def _check_values(name: str, values: Iterable[float], low: float, high: float) -> tuple:
    values = tuple(values)
    if not values:
        raise InvalidConfig(f"Pick at least one {name}")
    for v in values:
        if not (isinstance(v, (int, float)) and math.isfinite(v) and low <= v <= high):
            raise InvalidConfig(f"Each {name} must be in [{low:g}, {high:g}], got {v!r}")
    return values


def trial_config(base: TrainConfig, lr: float, batch_size: int, weight_decay: float,
                 seed: int | None = None) -> TrainConfig:
    """The base config with one trial's hyper-parameters (and seed) filled in."""
    return replace(base, batch_size=int(batch_size), seed=base.seed if seed is None else int(seed),
                   optimizer=replace(base.optimizer, lr=float(lr), weight_decay=float(weight_decay)))


def grid_configs(base: TrainConfig, lrs: Sequence[float], batch_sizes: Sequence[int],
                 weight_decays: Sequence[float] = (0.0,), seeds: Sequence[int] | None = None) -> list[TrainConfig]:
    """Every combination of the values (lr varies fastest within a batch size), one trial per seed."""
    lrs = _check_values("learning rate", lrs, 1e-8, 10)
    batch_sizes = _check_values("batch size", batch_sizes, 1, 4096)
    weight_decays = _check_values("weight decay", weight_decays, 0, 1)
    seeds = tuple(seeds) if seeds is not None else (base.seed,)
    configs = [trial_config(base, lr, bs, wd, seed)
               for seed in seeds for wd in weight_decays for bs in batch_sizes for lr in lrs]
    if len(configs) > MAX_TRIALS:
        raise InvalidConfig(f"{len(configs)} trials is too many for this playground; keep it at {MAX_TRIALS} or less")
    return configs


def random_configs(base: TrainConfig, trials: int, lr_range: tuple[float, float] = (1e-4, 1e-1),
                   batch_sizes: Sequence[int] = (32, 64, 128), weight_decay_range: tuple[float, float] = (0.0, 0.0),
                   seed: int = 0) -> list[TrainConfig]:
    """`trials` configs sampled with a seeded generator: lr log-uniform in lr_range, a batch size from the
    list, weight decay log-uniform in weight_decay_range (0 when its upper end is 0; a lower end of 0
    counts as 1e-6). Every trial trains with the base config's seed."""
    if not 1 <= trials <= MAX_TRIALS:
        raise InvalidConfig(f"Random search takes 1..{MAX_TRIALS} trials, got {trials}")
    lo, hi = _check_values("learning rate", lr_range, 1e-8, 10)
    if lo > hi:
        raise InvalidConfig("The learning-rate range must go from low to high")
    batch_sizes = _check_values("batch size", batch_sizes, 1, 4096)
    wd_lo, wd_hi = _check_values("weight decay", weight_decay_range, 0, 1)
    if wd_lo > wd_hi:
        raise InvalidConfig("The weight-decay range must go from low to high")
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(trials):
        lr = 10 ** rng.uniform(math.log10(lo), math.log10(hi))
        bs = int(batch_sizes[int(rng.integers(len(batch_sizes)))])
        if wd_hi == 0:
            wd = 0.0
        else:
            low = max(wd_lo, 1e-6)
            wd = 10 ** rng.uniform(math.log10(low), math.log10(max(wd_hi, low)))
        configs.append(trial_config(base, float(f"{lr:.3g}"), bs, float(f"{wd:.3g}")))
    return configs


def check_trials(configs: Sequence[TrainConfig], data: Dataset | None = None) -> None:
    """Refuse a search that is too big or mixes datasets (before anything is built or queued)."""
    if not 1 <= len(configs) <= MAX_TRIALS:
        raise InvalidConfig(f"Run 1..{MAX_TRIALS} trials, got {len(configs)}")
    if len({(c.dataset, c.per_class) for c in configs}) > 1:
        raise InvalidConfig("All trials of a search must use the same dataset and subset")
    for config in configs:
        config.validate()
    check_runs(configs, data, together=False)  # one trial at a time per core: times add up


def run_trials(configs: Sequence[TrainConfig], data: Dataset | None = None) -> Iterator[tuple[int, Record]]:
    """Train the trials one after another, yielding (trial index, record); stop iterating to stop."""
    check_trials(configs, data)
    data = data if data is not None else load_dataset(configs[0].dataset, per_class=configs[0].per_class)
    for index, config in enumerate(configs):
        for record in TrainingRun(config, data).records():
            yield index, record


def trial_row(index: int, config: TrainConfig, records: Sequence[Record]) -> dict:
    """One results-table row: the trial's hyper-parameters and final / best validation metrics."""
    summary = summarize_run(records, config.epochs)
    return {
        "trial": index + 1,
        "lr": config.optimizer.resolved_lr(),
        "batch_size": config.batch_size,
        "weight_decay": config.optimizer.weight_decay,
        "seed": config.seed,
        "status": summary.status.label,
        "epochs": summary.epochs,
        "val_accuracy": summary.final_val_acc,
        "best_val_accuracy": summary.best_val_acc,
        "val_loss": summary.final_val_loss,
        "train_loss": summary.final_train_loss,
        "seconds": summary.seconds,
    }


def results_frame(configs: Sequence[TrainConfig], histories: dict[int, list[Record]]) -> pd.DataFrame:
    """One row per trial that has records, best validation accuracy first."""
    rows = [trial_row(i, configs[i], histories[i]) for i in sorted(histories) if histories[i]]
    frame = pd.DataFrame(rows, columns=["trial", *SEARCHED_FIELDS, "seed", "status", "epochs", "val_accuracy",
                                        "best_val_accuracy", "val_loss", "train_loss", "seconds"])
    return frame.sort_values("val_accuracy", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


def search(configs: Sequence[TrainConfig], data: Dataset | None = None) -> pd.DataFrame:
    """Run every trial to the end and return the results frame."""
    histories: dict[int, list[Record]] = {i: [] for i in range(len(configs))}
    for index, record in run_trials(configs, data):
        histories[index].append(record)
    return results_frame(configs, histories)
