"""What every executor shares: a run's outcome, the Submission and Executor protocols, and how a run ended.

A run is pure data, `(TrainConfig) -> records`, so the page does not care where it runs. Every executor
returns a `Submission`: iterate it for `(label, Record)` pairs as they happen, call `cancel()` to stop
(what ran so far stays valid), and read `outcomes` (status and final weights per run) once it is exhausted.
"""
from __future__ import annotations

import math
import time
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import astuple, dataclass, replace
from typing import Protocol

import torch

from cnn_core.data import Dataset
from cnn_core.training import Record, RunStatus, TrainConfig


@dataclass
class RunOutcome:
    """How one run ended: its RunStatus (finished, stopped, diverged, early_stopped, failed), its final
    weights (CPU tensors, None when the run failed or never started) and a message for the page."""

    status: RunStatus
    state: dict[str, torch.Tensor] | None = None
    message: str = ""


class Submission(Protocol):
    """A batch of runs in flight."""

    outcomes: dict[Hashable, RunOutcome]

    def __iter__(self) -> Iterator[tuple[Hashable, Record]]: ...

    def cancel(self) -> None: ...


class Executor(Protocol):
    """Runs configs somewhere and streams their records back."""

    name: str

    def capacity(self) -> int:
        """How many runs it can compute at the same time."""
        ...

    def submit(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None = None,
               parallel: int | None = None) -> Submission:
        """Start every config (at most `parallel` at once); the records stream back through the Submission."""
        ...


def final_status(status: RunStatus, cancelled: bool = False) -> RunStatus:
    """A run's final status: one still running (or never started) when its records stopped is 'stopped'."""
    if cancelled or status in (RunStatus.RUNNING, RunStatus.READY):
        return RunStatus.STOPPED
    return RunStatus(status)


def strip_timing(record: Record) -> tuple:
    """A record's fields without wall-clock times, NaN as None: what must be equal wherever the run executed."""
    plain = replace(record, seconds=0.0, epoch_seconds=0.0)
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in astuple(plain))


def wait_all(submission: Submission, timeout: float = 600.0) -> dict[Hashable, list[Record]]:
    """Consume a submission to the end (scripts and tests): records per label."""
    histories: dict[Hashable, list[Record]] = {}
    deadline = time.monotonic() + timeout
    for label, record in submission:
        histories.setdefault(label, []).append(record)
        if time.monotonic() > deadline:
            submission.cancel()
    return histories
