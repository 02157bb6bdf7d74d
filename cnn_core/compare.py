"""Side-by-side runs: several TrainConfigs trained in lock-step on the same data."""
from __future__ import annotations

from typing import Iterator, Mapping

import pandas as pd

from .data import Dataset, load_dataset
from .errors import InvalidConfig
from .training import Record, TrainConfig, TrainingRun, records_to_frame

MAX_RUNS = 6


def check_same_data(configs: Mapping[str, TrainConfig]) -> None:
    """All runs of a comparison must use one dataset and subset, or the comparison means nothing."""
    if not 1 <= len(configs) <= MAX_RUNS:
        raise InvalidConfig(f"Compare 1 to {MAX_RUNS} runs, got {len(configs)}")
    keys = {(c.dataset, c.per_class) for c in configs.values()}
    if len(keys) > 1:
        raise InvalidConfig("All runs of a comparison must use the same dataset and subset size")


def make_runs(configs: Mapping[str, TrainConfig], data: Dataset | None = None) -> dict[str, TrainingRun]:
    """One TrainingRun per config, all on the same in-memory dataset."""
    check_same_data(configs)
    first = next(iter(configs.values()))
    data = data if data is not None else load_dataset(first.dataset, per_class=first.per_class)
    return {label: TrainingRun(cfg, data) for label, cfg in configs.items()}


def interleave(runs: Mapping[str, TrainingRun], steps_per_turn: int = 10) -> Iterator[tuple[str, Record]]:
    """Advance every run in turns of `steps_per_turn` steps (or to an epoch end), yielding (label, record).

    Each run keeps its own RNG streams, so taking turns does not change its records. A run that
    diverges or stops early drops out; the others go on.
    """
    streams = {label: run.records() for label, run in runs.items()}
    while streams:
        for label in list(streams):
            steps = 0
            while steps < steps_per_turn:
                record = next(streams[label], None)
                if record is None:
                    del streams[label]
                    break
                yield label, record
                if record.kind == "step":
                    steps += 1
                elif record.kind == "epoch":
                    break  # give the others a turn at every epoch boundary


def compare(configs: Mapping[str, TrainConfig], data: Dataset | None = None,
            steps_per_turn: int = 10) -> Iterator[tuple[str, Record]]:
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


def summary_table(histories: Mapping[str, list[Record]], target_loss: float | None = None) -> pd.DataFrame:
    """One row per run: final and best validation accuracy, epoch of best, final gap, time, status."""
    rows = []
    for label, records in histories.items():
        epochs = [r for r in records if r.kind == "epoch"]
        steps = [r for r in records if r.kind == "step"]
        status = "diverged" if any(r.kind == "diverged" for r in records) else (
            "stopped early" if any(r.kind == "early_stop" for r in records) else "ok")
        best = max(epochs, key=lambda r: r.val_acc) if epochs else None
        row = {
            "run": label,
            "status": status,
            "epochs": len(epochs),
            "final_val_acc": epochs[-1].val_acc if epochs else float("nan"),
            "best_val_acc": best.val_acc if best else float("nan"),
            "best_epoch": best.epoch if best else None,
            "final_train_loss": epochs[-1].train_loss if epochs else float("nan"),
            "final_val_loss": epochs[-1].val_loss if epochs else float("nan"),
            "final_gap": (epochs[-1].val_loss - epochs[-1].train_loss) if epochs else float("nan"),
            "seconds": records[-1].seconds if records else 0.0,
        }
        if target_loss is not None:
            hit = next((r.step for r in steps if r.train_loss <= target_loss), None)
            row["steps_to_target"] = hit
        rows.append(row)
    return pd.DataFrame(rows)
