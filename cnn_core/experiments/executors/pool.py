"""A pool of spawned worker processes shared by the whole server: one torch thread and one task per worker.

A task is one run, or several runs of one architecture that a worker trains as one batched network
(on its one thread, runs side by side beat the same runs in turn). Records stream back through one
duplex pipe per worker, so a worker that dies mid-write corrupts nothing shared: its pipe closes, its
runs fail with a message, and a fresh worker takes its place.
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass

import torch

from cnn_core.data import Dataset, load_dataset
from cnn_core.experiments.compare import make_run
from cnn_core.experiments.ensemble import NotGroupable, ensemble_runs, groupable
from cnn_core.experiments.executors.base import RunOutcome, final_status
from cnn_core.experiments.executors.state_transfer import cpu_state, state_bytes, state_from_bytes
from cnn_core.models.cost import Estimate
from cnn_core.training import Record, RunStatus, TrainConfig
from cnn_core.training.budget import PricedRuns
from cnn_core.training.runs import RunConfig

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often the dispatcher looks for dead workers and cancelled runs
CRASH_LOOP = (5, 30.0)  # this many worker deaths within this many seconds: stop respawning (it cannot start)


def _worker_main(conn) -> None:  # pragma: no cover - runs in a child process
    """A worker: one torch thread, a dataset cache, one task at a time, obeys 'cancel' between records.

    A task is one run, or several runs of one architecture that train as one batched network here (on one
    thread, runs side by side beat the same runs in turn). One duplex pipe per worker carries both the
    parent's commands and the worker's results, so a worker that is killed mid-write can corrupt nothing
    shared: the parent sees its pipe close and replaces it.
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
        _, task_id, runs, priced = message  # runs: [(run_id, config), ...]; priced: the caller's Estimate or None
        try:
            data = None  # a RunConfig (the segmenter) builds its own scenes
            first = runs[0][1]
            if isinstance(first, TrainConfig):
                key = (first.dataset, first.per_class)
                if key not in datasets:
                    datasets[key] = load_dataset(first.dataset, per_class=first.per_class)
                data = datasets[key]
            if _worker_task(conn, task_id, runs, data, priced) == "exit":
                return
        except (EOFError, BrokenPipeError):
            return
        except Exception as exc:  # the parent shows the message; the worker lives on
            for run_id, _ in runs:
                conn.send(("done", run_id, str(RunStatus.FAILED), None, f"{type(exc).__name__}: {exc}"))


def _worker_task(conn, task_id: int, runs: list[tuple[int, TrainConfig | RunConfig]], data: Dataset | None,
                 priced: Estimate | None = None) -> str:  # pragma: no cover
    """Train one task's runs (batched when there are several classifiers and they can be), streaming their
    records; `priced`: the price the caller's runs passed, so no run is priced again here. 'exit' when the
    parent asked the worker to exit, else 'done'."""
    configs = dict(runs)
    training = None
    if len(runs) > 1 and isinstance(runs[0][1], TrainConfig):
        try:
            training = ensemble_runs(PricedRuns(configs, priced) if priced is not None else configs, data)
        except NotGroupable as exc:  # the parent checked the configs; a probe can still refuse
            log.info("a worker's runs not batched (%s): in turn instead", exc)
    trainings = {run_id: make_run(config, data, priced) for run_id, config in runs} if training is None \
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
        conn.send(("done", run_id, str(final_status(run.status, cancelled)), state_bytes(cpu_state(run.model)), ""))
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
    configs: dict[int, TrainConfig | RunConfig]
    submission: "PoolSubmission"
    priced: Estimate | None = None  # the caller's price of the runs (sent along: a worker never prices again)


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

    def submit(self, configs: Mapping[Hashable, TrainConfig | RunConfig], data: Dataset | None = None,
               parallel: int | None = None, batched: bool = False) -> PoolSubmission:
        """Queue every config (classifiers, or another run kind: compare.make_run builds each in its worker),
        at most `parallel` (default: all workers) computing at once; workers load their own copy of the
        dataset (`data` is not sent). A PricedRuns's price goes along, so the workers do not price the runs
        again. `batched`: classifiers of one architecture are split into `parallel` groups, each trained by
        one worker as one batched network (else one run per task)."""
        for config in configs.values():
            config.validate()
        priced = configs.estimate if isinstance(configs, PricedRuns) else None
        submission = PoolSubmission(self, list(configs), parallel or self.workers)
        labels = list(configs)
        groups = [[label] for label in labels]
        classifiers = all(isinstance(config, TrainConfig) for config in configs.values())
        if batched and classifiers and len(labels) > 1 and groupable(configs) is None:
            groups = [labels[i::submission.parallel] for i in range(min(submission.parallel, len(labels)))]
        with self._lock:
            for group in groups:
                task = _Task(self._next_id + 1, {}, {}, submission, priced)
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
                    never_started = RunOutcome(RunStatus.STOPPED, None, "Stopped before it started.")
                    submission.deliver(("done", label, never_started))
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
            self._send(worker, ("run", task.task_id, list(task.configs.items()), task.priced))

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
        outcome = RunOutcome(RunStatus(status), state_from_bytes(state) if state is not None else None, text)
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
