"""Runs in the calling thread, taking turns step by step: no process to spawn, nothing to send."""
from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping

from cnn_core.data import Dataset
from cnn_core.experiments.compare import interleave, make_runs
from cnn_core.experiments.executors.base import RunOutcome, final_status
from cnn_core.experiments.executors.state_transfer import cpu_state
from cnn_core.training import Record, TrainConfig, TrainingRun


class InProcessSubmission:
    """Runs trained in lock-step in the calling thread (compare.interleave)."""

    def __init__(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None) -> None:
        self.runs: dict[Hashable, TrainingRun] = make_runs(configs, data)
        self.outcomes: dict[Hashable, RunOutcome] = {}
        self.cancelled = False  # read between steps, so a Stop never cuts a step in half

    def __iter__(self) -> Iterator[tuple[Hashable, Record]]:
        try:
            for label, record in interleave(self.runs):
                if self.cancelled:
                    break
                yield label, record
        finally:
            self.settle()

    def settle(self) -> None:
        """Record every run's outcome as it stands now (its status and a CPU copy of its weights)."""
        for label, run in self.runs.items():
            self.outcomes[label] = RunOutcome(final_status(run.status), cpu_state(run.model))

    def cancel(self) -> None:
        """Stop after the current step."""
        self.cancelled = True


class InProcessExecutor:
    """Every run in the Streamlit process, side by side: the default for one-run pages, where a worker
    process would cost a torch import and a copy of the dataset for nothing."""

    name = "in-process"

    def capacity(self) -> int:
        """One run computes at a time (they take turns)."""
        return 1

    def submit(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None = None,
               parallel: int | None = None) -> InProcessSubmission:
        """Build the runs now; they train while the submission is iterated (`parallel` is ignored: one core)."""
        return InProcessSubmission(configs, data)
