"""Which executor a page's runs use, and `stream()`: submit, iterate, and cancel in a finally.

The fastest place that is free wins: a Ray cluster when one is configured, the local worker pool when
more than one core is free, one batched network when runs share an architecture, else in-process.
"""
from __future__ import annotations

import os
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field

import cnn_core.experiments.executors.ray as ray_cluster
from cnn_core.data import Dataset
from cnn_core.experiments.ensemble import groupable
from cnn_core.experiments.executors.base import Executor
from cnn_core.experiments.executors.batched import BatchedPool, EnsembleExecutor
from cnn_core.experiments.executors.in_process import InProcessExecutor
from cnn_core.experiments.executors.pool import local_pool
from cnn_core.training import Record, TrainConfig
from cnn_core.training.runs import RunConfig

MODE_ENV = "CNN_PLAYGROUND_EXECUTOR"  # 'batched': no worker processes; 'in-process': neither pool nor batching
RAY_ADDRESS_ENV = "CNN_PLAYGROUND_RAY_ADDRESS"


@dataclass
class ExecutorChoice:
    """The executor a page should use now, how many runs of it may compute at once (`parallel`: the
    admission slots it should hold; 0 for Ray, whose cluster does its own admission), and a note for the
    page when it is not the one asked for."""

    executor: Executor
    note: str = ""
    tried: list[str] = field(default_factory=list)
    parallel: int = 1


def _mode() -> str:
    return os.environ.get(MODE_ENV, "").strip()


def _local_choice(runs: int, free_cores: int | None, configs: Mapping[Hashable, TrainConfig | RunConfig] | None = None,
                  crowded: bool = False) -> ExecutorChoice:
    cores = free_cores if free_cores is not None else (os.cpu_count() or 1)
    mode = _mode()
    # only classifiers batch into one network; another run kind (the segmenter) takes a worker per run
    classifiers = configs is not None and all(isinstance(c, TrainConfig) for c in configs.values())
    batchable = runs > 1 and classifiers and mode != "in-process" and groupable(configs) is None
    if batchable and mode == "batched":  # a server short of memory: no worker processes
        return ExecutorChoice(EnsembleExecutor(), parallel=max(1, min(cores, os.cpu_count() or 1)))
    if runs > 1 and cores > 1 and mode != "in-process":
        parallel = min(runs, cores, os.cpu_count() or 1)
        if parallel > 1:  # more runs than workers: each worker's share as one batched network, when it can be
            pool = local_pool(parallel)
            return ExecutorChoice(BatchedPool(pool) if batchable and runs > parallel else pool, parallel=parallel)
    if crowded and runs > 1 and mode != "in-process" and (os.cpu_count() or 1) > 1:
        # others wait for a slot: the server's one interpreter (the GIL) is what a queue of 30 waits behind,
        # so the runs compute on one worker process (as one batched network when they can) instead of in it
        pool = local_pool(os.cpu_count())
        return ExecutorChoice(BatchedPool(pool) if batchable else pool, parallel=1)
    if batchable:  # one core: one batched network beats the runs taking turns on it
        return ExecutorChoice(EnsembleExecutor())
    return ExecutorChoice(InProcessExecutor())


def choose_executor(runs: int, free_cores: int | None = None,
                    configs: Mapping[Hashable, TrainConfig | RunConfig] | None = None,
                    crowded: bool = False) -> ExecutorChoice:
    """Where `runs` runs compute, the fastest first: Ray when CNN_PLAYGROUND_RAY_ADDRESS is set (falling back
    to this server with a note); the local worker pool when more than one core is free (one torch thread per
    worker; a worker given several runs of one architecture trains them as one batched network); with one
    core free and other jobs waiting (`crowded`), one worker, so that no training holds the server; with one
    core, classifiers of one architecture (`configs`) as one batched network; else in-process, taking turns.
    Any run kind (classifiers, segmenters) may go to the pool or Ray; only classifiers batch.
    CNN_PLAYGROUND_EXECUTOR=batched prefers the batched network to the pool (no worker processes: less
    memory), =in-process uses neither."""
    address = os.environ.get(RAY_ADDRESS_ENV, "").strip()
    if address:
        try:  # looked up on the module at call time, so a test can stand in for the cluster
            return ExecutorChoice(ray_cluster.ray_executor(address), tried=["Ray"], parallel=0)
        except ray_cluster.RayUnavailable as exc:
            fallback = _local_choice(runs, free_cores, configs, crowded)
            fallback.tried = ["Ray"]
            fallback.note = f"{exc} Running on this server instead ({fallback.executor.name})."
            return fallback
    return _local_choice(runs, free_cores, configs, crowded)


def stream(choice: ExecutorChoice, configs: Mapping[Hashable, TrainConfig | RunConfig], data: Dataset | None = None,
           submissions: list | None = None) -> Iterator[tuple[Hashable, Record]]:
    """Submit the configs when first iterated (so nothing is built while a page waits in the queue), yield
    (label, record) as they happen, and cancel the submission in a finally, however the consumer leaves
    (Stop, a rerun, a closed tab, an error). The submission is appended to `submissions` for its outcomes."""
    submission = choice.executor.submit(configs, data, parallel=max(choice.parallel, 1))
    if submissions is not None:
        submissions.append(submission)
    try:
        yield from submission
    finally:
        submission.cancel()
