"""Where runs execute: in this process, in a pool of local worker processes, or on a Ray cluster.

A run is pure data, `(TrainConfig) -> records`, so the page does not care where it runs. Every executor
returns a `Submission`: iterate it for `(label, Record)` pairs as they happen, call `cancel()` to stop
(what ran so far stays valid), and read `outcomes` (status and final weights per run) once it is exhausted.
`stream()` wraps submit + iterate + cancel-in-a-finally for pages.
"""
from __future__ import annotations

import atexit
import io
import logging
import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import astuple, dataclass, field, replace
from typing import Protocol

import torch

from cnn_core.data import Dataset, load_dataset
from cnn_core.experiments.compare import interleave, make_runs
from cnn_core.experiments.ensemble import NotGroupable, ensemble_runs, groupable
from cnn_core.training import Record, RunStatus, TrainConfig, TrainingRun

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often the dispatcher looks for dead workers and cancelled runs
CRASH_LOOP = (5, 30.0)  # this many worker deaths within this many seconds: stop respawning (it cannot start)


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


def _cpu_state(run: TrainingRun) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}


def _ended(status: RunStatus, cancelled: bool = False) -> RunStatus:
    """A run's final status: one still running (or never started) when its records stopped is 'stopped'."""
    if cancelled or status in (RunStatus.RUNNING, RunStatus.READY):
        return RunStatus.STOPPED
    return RunStatus(status)


# ------------------------------------------------------------------ in this process


class InProcessSubmission:
    """Runs trained in lock-step in the calling thread (compare.interleave)."""

    def __init__(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None) -> None:
        self.runs = make_runs(configs, data)
        self.outcomes: dict[Hashable, RunOutcome] = {}
        self._cancelled = False

    def __iter__(self) -> Iterator[tuple[Hashable, Record]]:
        try:
            for label, record in interleave(self.runs):
                if self._cancelled:
                    break
                yield label, record
        finally:
            for label, run in self.runs.items():
                self.outcomes[label] = RunOutcome(_ended(run.status), _cpu_state(run))

    def cancel(self) -> None:
        """Stop after the current step."""
        self._cancelled = True


class InProcessExecutor:
    """Today's behaviour: every run in the Streamlit process, side by side. The default for one-run pages."""

    name = "in-process"

    def capacity(self) -> int:
        """One run computes at a time (they take turns)."""
        return 1

    def submit(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None = None,
               parallel: int | None = None) -> InProcessSubmission:
        """Build the runs now; they train while the submission is iterated (`parallel` is ignored: one core)."""
        return InProcessSubmission(configs, data)


class EnsembleSubmission(InProcessSubmission):
    """Runs of one architecture trained as one batched network in the calling thread (experiments.ensemble)."""

    def __init__(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None) -> None:
        self.training = ensemble_runs(configs, data)  # NotGroupable when they cannot be batched
        self.runs = self.training.runs
        self.outcomes = {}
        self._cancelled = False

    def __iter__(self) -> Iterator[tuple[Hashable, Record]]:
        units = self.training.batches()
        try:
            while not self._cancelled:  # Stop is seen between steps: each run's history matches its weights
                step = next(units, None)
                if step is None:
                    break
                yield from step
        finally:
            for label, run in self.runs.items():
                self.outcomes[label] = RunOutcome(_ended(run.status), _cpu_state(run))


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


# ------------------------------------------------------------------ local worker processes


def _state_bytes(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _state_from_bytes(data: bytes) -> dict[str, torch.Tensor]:
    return torch.load(io.BytesIO(data), weights_only=True)


def _worker_main(conn) -> None:  # pragma: no cover - runs in a child process
    """A worker: one torch thread, a dataset cache, one task at a time, obeys 'cancel' between records.

    A task is one run, or several runs of one architecture that train as one batched network here (issue
    19: a worker's runs side by side beat the same runs in turn on its one thread). One duplex pipe per
    worker carries both the parent's commands and the worker's results, so a worker that is killed
    mid-write can corrupt nothing shared: the parent sees its pipe close and replaces it.
    """
    torch.set_num_threads(1)
    datasets: dict[tuple[str, int | None], Dataset] = {}
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return  # the parent went away
        if message[0] == "exit":
            return
        if message[0] != "run":
            continue  # a late 'cancel' for a task that already ended
        _, task_id, runs = message  # runs: [(run_id, config), ...]
        try:
            key = (runs[0][1].dataset, runs[0][1].per_class)
            if key not in datasets:
                datasets[key] = load_dataset(runs[0][1].dataset, per_class=runs[0][1].per_class)
            if _worker_task(conn, task_id, runs, datasets[key]) == "exit":
                return
        except (EOFError, BrokenPipeError):
            return
        except Exception as exc:  # the parent shows the message; the worker lives on
            for run_id, _ in runs:
                conn.send(("done", run_id, str(RunStatus.FAILED), None, f"{type(exc).__name__}: {exc}"))


def _worker_task(conn, task_id: int, runs: list[tuple[int, TrainConfig]], data: Dataset) -> str:  # pragma: no cover
    """Train one task's runs (batched when there are several and they can be), streaming their records;
    'exit' when the parent asked the worker to exit, else 'done'."""
    configs = dict(runs)
    training = None
    if len(runs) > 1:
        try:
            training = ensemble_runs(configs, data)
        except NotGroupable as exc:  # the parent checked the configs; a probe can still refuse
            log.info("a worker's runs not batched (%s): in turn instead", exc)
    trainings = {run_id: TrainingRun(config, data) for run_id, config in runs} if training is None \
        else training.runs
    units = training.batches() if training is not None else (
        [(run_id, record)] for run_id, run in trainings.items() for record in run.records())
    cancelled = False
    for unit in units:  # a unit: one step of every batched run, or one record of a run in turn
        for run_id, record in unit:
            conn.send(("record", run_id, record))
        while conn.poll():
            control = conn.recv()
            if control[0] == "cancel" and control[1] == task_id:
                cancelled = True
            elif control[0] == "exit":
                return "exit"
        if cancelled:
            break
    for run_id, run in trainings.items():
        conn.send(("done", run_id, str(_ended(run.status, cancelled)), _state_bytes(_cpu_state(run)), ""))
    return "done"


@dataclass(eq=False)
class _Worker:
    process: object
    conn: object
    task: "_Task | None" = None  # what it computes now


@dataclass(eq=False)
class _Task:
    """What one worker computes at a time: one run, or several batched as one network."""

    task_id: int
    labels: dict[int, Hashable]   # run id -> the submission's label
    configs: dict[int, TrainConfig]
    submission: "PoolSubmission"


class PoolSubmission:
    """Runs queued on or running in the pool's workers; records arrive through a thread-safe queue."""

    def __init__(self, pool: "LocalProcessPool", labels: list[Hashable], parallel: int) -> None:
        self._pool = pool
        self._inbox: queue.Queue = queue.Queue()
        self._open = set(labels)
        self.parallel = max(1, parallel)  # at most this many of its runs compute at once
        self.run_ids: dict[int, Hashable] = {}
        self.outcomes: dict[Hashable, RunOutcome] = {}

    def deliver(self, item: tuple) -> None:
        """Called by the dispatcher thread."""
        self._inbox.put(item)

    def __iter__(self) -> Iterator[tuple[Hashable, Record]]:
        try:
            while self._open:
                try:
                    kind, label, payload = self._inbox.get(timeout=POLL_S)
                except queue.Empty:
                    if not self._pool.alive():  # closed, or its dispatcher died: nothing will ever arrive
                        for label in self._open:
                            self.outcomes[label] = RunOutcome(RunStatus.FAILED, None, "The worker pool stopped.")
                        self._open.clear()
                    continue
                if kind == "record":
                    yield label, payload
                else:
                    self.outcomes[label] = payload
                    self._open.discard(label)
        finally:
            if self._open:  # the consumer went away (Stop, rerun, closed tab): free the workers now
                self.cancel()

    def cancel(self) -> None:
        """Stop every run of this submission: queued ones never start, running ones stop after a step."""
        self._pool.cancel(self)


class LocalProcessPool:
    """A pool of spawned worker processes shared by the whole server, fed first come, first served.

    It starts with `workers` processes and grows (never shrinks) when a later caller asks for more, up to
    the machine's cores; each submission computes on at most its `parallel` workers at once.
    """

    name = "local processes"

    def __init__(self, workers: int | None = None) -> None:
        import torch.multiprocessing as mp

        self._ctx = mp.get_context("spawn")  # fork is unsafe in a multi-threaded server
        self._lock = threading.Lock()
        self._pending: deque[_Task] = deque()
        self._running: dict[int, _Task] = {}
        self._next_id = 0
        self._closed = False  # no more work: closed, or its workers kept dying
        self._shut = False    # close() ran
        self._pool: list[_Worker] = []
        self._deaths: deque[float] = deque(maxlen=CRASH_LOOP[0])
        self.grow(max(1, workers or (os.cpu_count() or 1)))
        self._thread = threading.Thread(target=self._dispatch, name="cnn-playground-pool", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # before multiprocessing's own exit handler kills the workers

    @property
    def workers(self) -> int:
        """How many worker processes the pool has."""
        return len(self._pool)

    def grow(self, workers: int) -> None:
        """Have at least `workers` processes (at most the machine's cores, or what was asked if more)."""
        with self._lock:
            while len(self._pool) < workers:
                self._pool.append(self._spawn())

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main, args=(child,), daemon=True)
        process.start()
        child.close()  # the worker holds its end; ours would keep the pipe open after the worker died
        return _Worker(process, parent)

    def capacity(self) -> int:
        """One run per worker process."""
        return self.workers

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and the server log)."""
        return [w.process.pid for w in self._pool]

    def alive(self) -> bool:
        """True while the pool runs (not closed, dispatcher thread alive)."""
        return not self._closed and self._thread.is_alive()

    def submit(self, configs: Mapping[Hashable, TrainConfig], data: Dataset | None = None,
               parallel: int | None = None, batched: bool = False) -> PoolSubmission:
        """Queue every config, at most `parallel` (default: all workers) computing at once; workers load
        their own copy of the dataset (`data` is not sent). `batched`: runs of one architecture are split
        into `parallel` groups, each trained by one worker as one batched network (else one run per task)."""
        for config in configs.values():
            config.validate()
        submission = PoolSubmission(self, list(configs), parallel or self.workers)
        labels = list(configs)
        groups = [[label] for label in labels]
        if batched and len(labels) > 1 and groupable(configs) is None:
            groups = [labels[i::submission.parallel] for i in range(min(submission.parallel, len(labels)))]
        with self._lock:
            for group in groups:
                task = _Task(self._next_id + 1, {}, {}, submission)
                for label in group:
                    self._next_id += 1
                    submission.run_ids[self._next_id] = label
                    task.labels[self._next_id], task.configs[self._next_id] = label, configs[label]
                self._pending.append(task)
        return submission

    def cancel(self, submission: PoolSubmission) -> None:
        """Drop the submission's queued runs and tell the workers running its runs to stop."""
        with self._lock:
            for task in [t for t in self._pending if t.submission is submission]:
                self._pending.remove(task)
                for label in task.labels.values():
                    submission.deliver(("done", label, RunOutcome(RunStatus.STOPPED, None, "Stopped before it started.")))
            for worker in self._pool:
                if worker.task is not None and worker.task.submission is submission:
                    self._send(worker, ("cancel", worker.task.task_id))

    @staticmethod
    def _send(worker: _Worker, message: tuple) -> bool:
        try:
            worker.conn.send(message)
            return True
        except (BrokenPipeError, EOFError, OSError):  # it died: _reap_dead fails its run and replaces it
            return False

    def _dispatch(self) -> None:
        from multiprocessing.connection import wait

        while not self._closed:
            try:
                with self._lock:
                    self._assign()
                    conns = {w.conn: w for w in self._pool}
                for conn in wait(list(conns), timeout=POLL_S):
                    with self._lock:
                        self._receive(conns[conn])
                with self._lock:
                    self._reap_dead()
            except Exception:  # never let the dispatcher die silently: every page would wait forever
                if self._closed:
                    return
                log.exception("worker pool dispatcher error")
                time.sleep(POLL_S)

    def _assign(self) -> None:
        for worker in self._pool:
            if worker.task is not None or not self._pending or not worker.process.is_alive():
                continue
            busy: dict[int, int] = {}  # workers each submission computes on now
            for other in self._pool:
                if other.task is not None:
                    busy[id(other.task.submission)] = busy.get(id(other.task.submission), 0) + 1
            task = next((t for t in self._pending if busy.get(id(t.submission), 0) < t.submission.parallel), None)
            if task is None:
                return  # every queued task belongs to a submission already at its limit
            self._pending.remove(task)
            worker.task = task
            for run_id in task.labels:
                self._running[run_id] = task
            self._send(worker, ("run", task.task_id, list(task.configs.items())))

    def _receive(self, worker: _Worker) -> None:
        while True:
            try:
                if not worker.conn.poll():
                    return
                message = worker.conn.recv()
            except (EOFError, OSError):
                return  # its pipe closed: the worker died; _reap_dead handles it
            self._route(message)

    def _route(self, message: tuple) -> None:
        kind, run_id = message[0], message[1]
        task = self._running.get(run_id)
        if task is None:
            return  # a late record of a run already ended (its worker died and was replaced)
        if kind == "record":
            task.submission.deliver(("record", task.labels[run_id], message[2]))
            return
        _, _, status, state, text = message
        outcome = RunOutcome(RunStatus(status), _state_from_bytes(state) if state is not None else None, text)
        self._finish(run_id, outcome)

    def _finish(self, run_id: int, outcome: RunOutcome) -> None:
        task = self._running.pop(run_id)
        if not any(self._running.get(other) is task for other in task.labels):  # its last run: the worker is free
            for worker in self._pool:
                if worker.task is task:
                    worker.task = None
        task.submission.deliver(("done", task.labels[run_id], outcome))

    def _reap_dead(self) -> None:
        for index, worker in enumerate(self._pool):
            if worker.process.is_alive() or self._closed:
                continue
            code = worker.process.exitcode
            self._deaths.append(time.monotonic())
            if len(self._deaths) == CRASH_LOOP[0] and self._deaths[-1] - self._deaths[0] < CRASH_LOOP[1]:
                log.error("training workers keep dying (last exit code %s): the pool stops", code)
                self._closed = True  # submissions end as failed; local_pool() starts a fresh pool next time
                return
            log.warning("training worker %s died (exit code %s); starting a new one", worker.process.pid, code)
            worker.conn.close()
            self._pool[index] = self._spawn()  # the replacement first: whoever hears of the failure finds it
            task = worker.task
            for run_id in [r for r in (task.labels if task is not None else ()) if self._running.get(r) is task]:
                self._finish(run_id, RunOutcome(
                    RunStatus.FAILED, None, f"The worker process running this run died (exit code {code}, e.g. "
                                            "out of memory); the other runs go on. Try a smaller model or batch."))

    def close(self) -> None:
        """Stop the workers (tests, benchmarks, interpreter exit; a server keeps its pool for its lifetime)."""
        if self._shut:
            return
        self._shut = self._closed = True
        self._thread.join(timeout=2)
        for worker in self._pool:
            self._send(worker, ("exit",))
        for worker in self._pool:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()


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


_POOL: LocalProcessPool | None = None
_POOL_LOCK = threading.Lock()


def local_pool(workers: int | None = None) -> LocalProcessPool:
    """The process-wide worker pool, started on first use (spawning costs a torch import per worker) and
    grown when a caller needs more workers than it has."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._closed:
            _POOL = LocalProcessPool(workers)
        elif workers and workers > _POOL.workers:
            _POOL.grow(workers)
        return _POOL


def strip_timing(record: Record) -> tuple:
    """A record's fields without wall-clock times, NaN as None: what must be equal wherever the run executed."""
    plain = replace(record, seconds=0.0, epoch_seconds=0.0)
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in astuple(plain))


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
    return os.environ.get("CNN_PLAYGROUND_EXECUTOR", "").strip()


def _local_choice(runs: int, free_cores: int | None, configs: Mapping[Hashable, TrainConfig] | None = None,
                  crowded: bool = False) -> ExecutorChoice:
    cores = free_cores if free_cores is not None else (os.cpu_count() or 1)
    mode = _mode()
    batchable = runs > 1 and configs is not None and mode != "in-process" and groupable(configs) is None
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


def choose_executor(runs: int, free_cores: int | None = None, configs: Mapping[Hashable, TrainConfig] | None = None,
                    crowded: bool = False) -> ExecutorChoice:
    """Where `runs` runs compute, the fastest first: Ray when CNN_PLAYGROUND_RAY_ADDRESS is set (falling back
    to this server with a note); the local worker pool when more than one core is free (one torch thread per
    worker; a worker given several runs of one architecture trains them as one batched network); with one
    core free and other jobs waiting (`crowded`), one worker, so that no training holds the server; with one
    core, runs of one architecture (`configs`) as one batched network; else in-process, taking turns.
    CNN_PLAYGROUND_EXECUTOR=batched prefers the batched network to the pool (no worker processes: less
    memory), =in-process uses neither."""
    address = os.environ.get("CNN_PLAYGROUND_RAY_ADDRESS", "").strip()
    if address:
        from cnn_core.experiments.ray_executor import RayUnavailable, ray_executor
        try:
            return ExecutorChoice(ray_executor(address), tried=["Ray"], parallel=0)
        except RayUnavailable as exc:
            fallback = _local_choice(runs, free_cores, configs, crowded)
            fallback.tried = ["Ray"]
            fallback.note = f"{exc} Running on this server instead ({fallback.executor.name})."
            return fallback
    return _local_choice(runs, free_cores, configs, crowded)


def stream(choice: ExecutorChoice, configs: Mapping[Hashable, TrainConfig], data: Dataset | None = None,
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


def wait_all(submission: Submission, timeout: float = 600.0) -> dict[Hashable, list[Record]]:
    """Consume a submission to the end (scripts and tests): records per label."""
    histories: dict[Hashable, list[Record]] = {}
    deadline = time.monotonic() + timeout
    for label, record in submission:
        histories.setdefault(label, []).append(record)
        if time.monotonic() > deadline:
            submission.cancel()
    return histories
