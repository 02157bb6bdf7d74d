"""Runs on a Ray cluster, for a class that outgrows one machine (optional: `pip install -r requirements-cluster.txt`).

Each run is one Ray task that is a streaming generator: it yields the run's records one by one, and they
reach the page as they happen. `ray.init` is called once per process (guarded), never on every rerun.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterator, Mapping

from cnn_core.data import Dataset
from cnn_core.errors import PlaygroundError
from cnn_core.experiments.executors.base import RunOutcome
from cnn_core.experiments.executors.state_transfer import cpu_state, state_bytes, state_from_bytes
from cnn_core.models.cost import Estimate
from cnn_core.training import Record, RunStatus, TrainConfig
from cnn_core.training.budget import PricedRuns
from cnn_core.training.runs import RunConfig

CONNECT_TIMEOUT_S = 10.0
RETRY_S = 120.0  # after a failed connect, fall back at once for this long instead of waiting again


class RayUnavailable(PlaygroundError):
    """Ray is not installed, or the cluster address does not answer."""


_LOCK = threading.Lock()
_REMOTE = None
_FAILED: dict[str, tuple[float, str]] = {}  # address -> (when, why) of the last failed connect


def _remote_run():
    """The Ray task (defined lazily so that importing this module does not import Ray)."""
    global _REMOTE
    if _REMOTE is None:
        import ray

        @ray.remote(num_returns="streaming", num_cpus=1)
        def run_config(config: TrainConfig | RunConfig, priced: Estimate | None = None):  # pragma: no cover
            import torch

            from cnn_core.experiments.compare import make_run
            torch.set_num_threads(1)
            run = make_run(config, None, priced)  # a classifier loads its dataset; the caller's price is kept
            for record in run.records():
                yield ("record", record)
            yield ("done", str(run.status), state_bytes(cpu_state(run.model)))

        _REMOTE = run_config
    return _REMOTE


def connect(address: str, **init_kwargs) -> None:
    """Connect this process to Ray once ('auto', 'ray://host:10001', or 'local' to start a small local one)."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("Ray is not installed (pip install -r requirements-cluster.txt).") from exc
    with _LOCK:
        if ray.is_initialized():
            return
        failed = _FAILED.get(address)
        if failed is not None and time.monotonic() - failed[0] < RETRY_S:
            raise RayUnavailable(failed[1])  # do not make every click wait CONNECT_TIMEOUT_S again
        if address == "local":  # start a small cluster in this machine (tests, a teacher trying Ray out)
            ray.init(include_dashboard=False, log_to_driver=False, **init_kwargs)
            return
        result: dict[str, BaseException] = {}

        def attempt() -> None:  # a cluster that does not answer must not hang the page: time-boxed
            try:
                ray.init(address=address, log_to_driver=False, **init_kwargs)
            except BaseException as exc:  # ConnectionError, RuntimeError, grpc errors...
                result["error"] = exc

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(CONNECT_TIMEOUT_S)
        if thread.is_alive() or "error" in result:
            detail = "did not answer" if thread.is_alive() else f"failed ({type(result['error']).__name__})"
            message = f"The Ray cluster at '{address[:60]}' {detail}."
            _FAILED[address] = (time.monotonic(), message)
            raise RayUnavailable(message)


class RaySubmission:
    """Ray streaming generators, one per run, read round-robin so every run's records arrive as they happen."""

    def __init__(self, configs: Mapping[Hashable, TrainConfig | RunConfig]) -> None:
        remote = _remote_run()
        priced = configs.estimate if isinstance(configs, PricedRuns) else None  # priced once, by the caller
        self.generators = {label: remote.remote(config, priced) for label, config in configs.items()}
        self.outcomes: dict[Hashable, RunOutcome] = {}
        self._cancelled = False

    def __iter__(self) -> Iterator[tuple[Hashable, Record]]:
        import ray

        open_runs = dict(self.generators)
        try:
            while open_runs and not self._cancelled:
                ready, _ = ray.wait(list(open_runs.values()), num_returns=1, timeout=0.2)
                for generator in ready:
                    label = next(k for k, g in open_runs.items() if g is generator)
                    try:
                        item = ray.get(next(generator))
                    except StopIteration:
                        open_runs.pop(label)
                        self.outcomes.setdefault(label, RunOutcome(RunStatus.FAILED, None,
                                                                   "The run ended without a result."))
                        continue
                    except ray.exceptions.RayError as exc:
                        open_runs.pop(label)
                        self.outcomes[label] = RunOutcome(RunStatus.FAILED, None,
                                                          f"The Ray task failed: {type(exc).__name__}")
                        continue
                    if item[0] == "record":
                        yield label, item[1]
                    else:
                        self.outcomes[label] = RunOutcome(RunStatus(item[1]), state_from_bytes(item[2]))
                        open_runs.pop(label)
        finally:
            if open_runs:
                self.cancel()
                for label in open_runs:
                    self.outcomes.setdefault(label, RunOutcome(RunStatus.STOPPED))

    def cancel(self) -> None:
        """Cancel every run's task on the cluster."""
        import ray

        self._cancelled = True
        for label, generator in self.generators.items():
            if label not in self.outcomes:
                try:
                    ray.cancel(generator)
                except Exception:  # already finished
                    pass


class RayExecutor:
    """Each run is a Ray task; admission comes from the cluster's free CPUs."""

    name = "Ray"

    def capacity(self) -> int:
        """The cluster's free CPUs right now (at least 1)."""
        import ray
        return max(1, int(ray.available_resources().get("CPU", 1)))

    def submit(self, configs: Mapping[Hashable, TrainConfig | RunConfig], data: Dataset | None = None,
               parallel: int | None = None) -> RaySubmission:
        """Start one task per config, any run kind (each worker loads its own dataset; a PricedRuns's price goes
        along, so no task prices its run again; the cluster schedules them, so `parallel` is not used)."""
        for config in configs.values():
            config.validate()
        return RaySubmission(configs)


def ray_executor(address: str) -> RayExecutor:
    """Connect once, then hand out the executor; raises RayUnavailable (the page falls back) when it cannot."""
    connect(address)
    return RayExecutor()
