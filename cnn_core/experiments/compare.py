"""Side-by-side runs: several configs trained in lock-step on the same data.

A config is a TrainConfig (a TrainingRun on a dataset) or any other run kind that builds its own run and data
(cnn_core.training.runs.RunConfig: the detector, the segmenter); the loop drives every kind through the Run protocol.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Hashable, Iterator, Mapping, Sequence

import pandas as pd

from cnn_core.data import Dataset, load_dataset
from cnn_core.errors import InvalidConfig
from cnn_core.models import ModelOptions
from cnn_core.models.cost import Estimate
from cnn_core.training import Record, TrainConfig, TrainingRun, records_to_frame, summarize_run
from cnn_core.training.budget import PricedRuns, price_runs
from cnn_core.training.config import RunStatus, epoch_records
from cnn_core.training.runs import Run, RunConfig
from cnn_core.training.optimizers import OptimizerConfig, ScheduleConfig, lr_factor

MAX_RUNS = 6


def _data_key(config: TrainConfig | RunConfig) -> tuple:
    # what a run trains and is scored on: a dataset and subset, or another kind's own scenes
    if isinstance(config, TrainConfig):
        return TrainConfig, config.dataset, config.per_class
    scenes = getattr(config, "scenes", None)
    return type(config), *((scenes("train"), scenes("val")) if callable(scenes) else ())


def check_same_data(configs: Mapping[Hashable, TrainConfig | RunConfig]) -> None:
    """All runs of a comparison must be of one kind on one dataset (and subset), or the comparison means nothing."""
    if not 1 <= len(configs) <= MAX_RUNS:
        raise InvalidConfig(f"Compare 1 to {MAX_RUNS} runs, got {len(configs)}")
    for config in configs.values():
        if not isinstance(config, (TrainConfig, RunConfig)):
            raise InvalidConfig(f"A {type(config).__name__} is not a run's config")
    if len({type(c) for c in configs.values()}) > 1:
        raise InvalidConfig("All runs of a comparison must be of one kind (classifiers, detectors or segmenters)")
    if len({_data_key(c) for c in configs.values()}) > 1:
        raise InvalidConfig("All runs of a comparison must use the same dataset and subset size")


def price(configs: Mapping[Hashable, TrainConfig | RunConfig], data: Dataset | None = None) -> PricedRuns:
    """Price a comparison once: BudgetExceeded (with what to change) before anything is built or queued.

    TrainConfigs are priced together (every run is held at once: memory and time add up); another run kind
    prices each run by its own check_budget, as it would alone.
    """
    check_same_data(configs)
    if isinstance(next(iter(configs.values())), TrainConfig):
        return price_runs(configs, data)
    estimates = [config.check_budget() for config in configs.values()]
    biggest = max(estimates, key=lambda e: e.seconds)
    return PricedRuns(dict(configs), Estimate(f"the comparison ({len(estimates)} runs)",
                                              sum(e.memory_bytes for e in estimates),
                                              sum(e.seconds for e in estimates), biggest.batch, None,
                                              runs=len(estimates)))


def make_run(config: TrainConfig | RunConfig, data: Dataset | None = None, priced: Estimate | None = None) -> Run:
    """The run of one config: a TrainingRun on `data` for a TrainConfig, else the config's own run."""
    if isinstance(config, TrainConfig):
        return TrainingRun(config, data, priced=priced)
    return config.make_run(priced)


def make_runs(configs: Mapping[Hashable, TrainConfig | RunConfig], data: Dataset | None = None) -> dict[Hashable, Run]:
    """One run per config, all on the same in-memory dataset; priced here unless `configs` is a PricedRuns
    (compare.price, budget.price_runs: priced once, when the page asked)."""
    check_same_data(configs)
    priced = configs if isinstance(configs, PricedRuns) else price(configs, data)
    first = next(iter(priced.values()))
    if isinstance(first, TrainConfig) and data is None:
        data = load_dataset(first.dataset, per_class=first.per_class)
    return {label: make_run(cfg, data, priced.estimate) for label, cfg in priced.items()}


def interleave(runs: Mapping[Hashable, Run], steps_per_turn: int = 10) -> Iterator[tuple[Hashable, Record]]:
    """Advance every run in turns of `steps_per_turn` steps (or to an epoch end), yielding (label, record).

    Each run keeps its own RNG streams, so taking turns does not change its records. A run that
    diverges or stops early drops out; the others go on. The yielded records' `seconds` and
    `epoch_seconds` count only the time spent in that run (not while the others took their turns),
    so the runs' times compare.
    """
    streams = {label: run.records() for label, run in runs.items()}
    busy = {label: 0.0 for label in runs}         # seconds spent computing each run so far
    epoch_start = {label: 0.0 for label in runs}  # busy time when the run's current epoch began
    while streams:
        for label in list(streams):
            steps = 0
            while steps < steps_per_turn:
                started = time.perf_counter()
                record = next(streams[label], None)
                busy[label] += time.perf_counter() - started
                if record is None:
                    del streams[label]
                    break
                if record.kind == "epoch":
                    record = replace(record, seconds=busy[label], epoch_seconds=busy[label] - epoch_start[label])
                    epoch_start[label] = busy[label]
                else:
                    record = replace(record, seconds=busy[label])
                yield label, record
                if record.kind == "step":
                    steps += 1
                elif record.kind == "epoch":
                    break  # give the others a turn at every epoch boundary


def compare(configs: Mapping[Hashable, TrainConfig | RunConfig], data: Dataset | None = None,
            steps_per_turn: int = 10) -> Iterator[tuple[Hashable, Record]]:
    """Train every config side by side, yielding (run label, record).

    Runs with the same seed start from identical weights and see identical batches, so the only
    difference between two runs is what their configs change.
    """
    return interleave(make_runs(configs, data), steps_per_turn)


def comparison_frame(histories: Mapping[str, list[Record]]) -> pd.DataFrame:
    """Tidy frame (run, epoch, step, split, metric, value) of several runs' records."""
    frames = [records_to_frame(records, label) for label, records in histories.items()]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return records_to_frame([], "")
    return pd.concat(frames, ignore_index=True)


NOT_LEARNING = RunStatus.NOT_LEARNING.label  # "not learning": the status of a run that neither diverged nor learned
CHANCE_MARGIN = 0.05           # 'at chance' = validation accuracy within 5 points of 1 / classes


def learning_problem(records: Sequence[Record], num_classes: int = 10) -> str | None:
    """Why a run did not learn (None if it did or has no finished epoch): chance accuracy, or a loss that did not fall."""
    epochs = epoch_records(records)
    steps = [r for r in records if r.kind == "step"]
    if not epochs or not steps or any(r.kind == "diverged" for r in records):
        return None
    last, chance = epochs[-1], 1.0 / max(num_classes, 1)
    if last.val_acc == last.val_acc and last.val_acc <= chance + CHANCE_MARGIN:
        return (f"validation accuracy {last.val_acc:.1%} after {len(epochs)} epoch(s) is chance level "
                f"({chance:.0%} for {num_classes} classes)")
    if last.train_loss == last.train_loss and last.train_loss >= steps[0].train_loss:
        return (f"training loss {last.train_loss:.3f} in epoch {last.epoch} is not below its start "
                f"({steps[0].train_loss:.3f})")
    return None


def summary_table(histories: Mapping[str, list[Record]], target_loss: float | None = None,
                  smoothing: float = 0.0, planned: Mapping[str, int] | None = None,
                  num_classes: int = 10) -> pd.DataFrame:
    """One row per run: status, final and best validation accuracy, epoch of best, final gap, time.

    A run with fewer epochs than its `planned` number (label -> epochs) is 'stopped'. With `target_loss`, 'steps_to_target' is the first step whose training loss (an exponential
    moving average with weight `smoothing`, 0 = raw batch losses) is at or below it. A run that did not
    diverge but did not learn (see learning_problem) has status 'not learning' and the reason in 'note'.
    """
    if not 0 <= smoothing < 1:
        raise InvalidConfig(f"Smoothing must be in [0, 1), got {smoothing}")
    rows = []
    for label, records in histories.items():
        steps = [r for r in records if r.kind == "step"]
        row = {"run": label, **summarize_run(records, planned.get(label) if planned else None).row()}
        problem = learning_problem(records, num_classes)
        if problem:
            row["status"] = NOT_LEARNING
        row["note"] = problem or ""
        if target_loss is not None:
            hit, average = None, None
            for r in steps:
                average = r.train_loss if average is None else smoothing * average + (1 - smoothing) * r.train_loss
                if average <= target_loss:
                    hit = r.step
                    break
            row["steps_to_target"] = hit
        rows.append(row)
    return pd.DataFrame(rows)


def unique_labels(optimizers: Sequence[OptimizerConfig]) -> list[str]:
    """One label per optimizer setting; identical settings get ' #2', ' #3', ... so labels stay unique."""
    labels: list[str] = []
    for config in optimizers:
        label, n = config.label(), 1
        while label in labels:
            n += 1
            label = f"{config.label()} #{n}"
        labels.append(label)
    return labels


def optimizer_configs(base: TrainConfig, optimizers: Sequence[OptimizerConfig],
                      schedule: ScheduleConfig | None = None) -> dict[str, TrainConfig]:
    """The runs of an optimizer comparison: `base` with each optimizer (and the shared schedule), uniquely labelled.

    Everything else (model, data, seed, batch size, epochs) is shared, so the runs start from the
    same weights and see the same batches.
    """
    if not 1 <= len(optimizers) <= MAX_RUNS:
        raise InvalidConfig(f"Compare 1 to {MAX_RUNS} optimizer settings, got {len(optimizers)}")
    schedule = schedule if schedule is not None else base.schedule
    return {label: replace(base, optimizer=opt, schedule=schedule)
            for label, opt in zip(unique_labels(optimizers), optimizers)}


def planned_steps(n_train: int, batch_size: int, epochs: int = 1) -> int:
    """Optimizer steps of a run: ceil(n_train / batch_size) per epoch (the last batch may be short), times epochs."""
    return math.ceil(n_train / batch_size) * epochs


def comparison_base(template: TrainConfig, *, dataset: str, per_class: int | None, model: str, epochs: int,
                    batch_size: int, seed: int) -> TrainConfig:
    """The config every run of a comparison shares: `template` with the page's choices.

    A plain CNN with default options gets 4 conv layers (the registry's 10 are slow on a CPU).
    """
    options = template.model_options
    if model == "plain-cnn" and options == ModelOptions():
        options = ModelOptions(depth=4)
    return replace(template, dataset=dataset, per_class=per_class or None, model=model, model_options=options,
                   epochs=int(epochs), batch_size=int(batch_size), seed=int(seed))


def run_steps(config: TrainConfig | RunConfig, data: Dataset | None = None) -> int:
    """Optimizer steps of all a config's epochs (a TrainConfig's from its dataset's training split)."""
    if isinstance(config, TrainConfig):
        data = data if data is not None else load_dataset(config.dataset, per_class=config.per_class)
        return planned_steps(len(data.train_y), config.batch_size, config.epochs)
    return config.planned_steps()


def lr_schedule_frame(configs: Mapping[str, TrainConfig], n_train: int, max_points: int = 400) -> pd.DataFrame:
    """The planned learning rate per optimizer step of each run (run, step, lr), at most ~max_points per run."""
    rows = []
    for label, cfg in configs.items():
        cfg.schedule.validate()
        total = planned_steps(n_train, cfg.batch_size, cfg.epochs)
        stride = max(1, total // max_points)
        base_lr = cfg.optimizer.resolved_lr()
        for step in [*range(0, total, stride), total - 1]:
            rows.append((label, step + 1, base_lr * lr_factor(step, total, cfg.schedule)))
    return pd.DataFrame(rows, columns=["run", "step", "lr"]).drop_duplicates(["run", "step"])
