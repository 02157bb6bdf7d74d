"""Runs of one architecture trained as one batched network: in this process, or one network per pool worker."""
from __future__ import annotations

import logging
from collections.abc import Hashable, Iterator, Mapping

import torch

from cnn_core.data import Dataset
from cnn_core.experiments.ensemble import NotGroupable, ensemble_runs
from cnn_core.experiments.executors.in_process import InProcessSubmission
from cnn_core.experiments.executors.pool import LocalProcessPool, PoolSubmission
from cnn_core.training import Record, TrainConfig

log = logging.getLogger(__name__)


class EnsembleSubmission(InProcessSubmission):
    """Runs of one architecture trained as one batched network in the calling thread (experiments.ensemble)."""

    def __init__(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None) -> None:
        self.training = ensemble_runs(configs, data)  # NotGroupable when they cannot be batched
        self.runs = self.training.runs
        self.outcomes = {}
        self.cancelled = False

    def __iter__(self) -> Iterator[tuple[Hashable, Record]]:
        units = self.training.batches()
        try:
            while not self.cancelled:  # Stop is seen between steps: each run's history matches its weights
                step = next(units, None)
                if step is None:
                    break
                yield from step
        finally:
            self.settle()


class EnsembleExecutor:
    """Several runs of one architecture as one batched network in this process, on its torch threads.

    On one torch thread (the server's) a 6-optimizer comparison of LeNet-5 takes 0.78 of the time the runs
    take in turns; on two threads 0.61 of six minimal loops one by one (benchmarks/compare_optimizers.py).
    Two worker processes are faster still when two cores are free, at ~0.5 GiB of memory each.
    """

    name = "one batched network (in-process)"

    def capacity(self) -> int:
        """It computes every run at once, on this process's torch threads."""
        return max(1, torch.get_num_threads())

    def submit(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None = None,
               parallel: int | None = None) -> InProcessSubmission:
        """Build the runs and their batched network now; they train while the submission is iterated. Runs
        that cannot be batched (a forward that is not its layers in order) take turns in-process instead."""
        try:
            return EnsembleSubmission(configs, data)
        except NotGroupable as exc:
            log.info("runs not batched (%s): in-process instead", exc)
            return InProcessSubmission(configs, data)


class BatchedPool:
    """The worker pool with each worker's runs of one architecture trained as one batched network: six
    LeNet-5 runs on two workers are two networks of three, not three runs in turn on each worker."""

    name = "local processes, batched"

    def __init__(self, pool: LocalProcessPool) -> None:
        self.pool = pool

    def capacity(self) -> int:
        """One batched network per worker process."""
        return self.pool.capacity()

    def submit(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None = None,
               parallel: int | None = None) -> PoolSubmission:
        """The configs split into `parallel` batched groups, one per worker (LocalProcessPool.submit)."""
        return self.pool.submit(configs, data, parallel, batched=True)
