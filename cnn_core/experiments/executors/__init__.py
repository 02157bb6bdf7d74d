"""Where runs execute: in this process, in a pool of local worker processes, or on a Ray cluster.

A run is pure data, `(TrainConfig) -> records`, so the page does not care where it runs. Every executor
returns a `Submission`: iterate it for `(label, Record)` pairs as they happen, call `cancel()` to stop
(what ran so far stays valid), and read `outcomes` (status and final weights per run) once it is exhausted.
`stream()` wraps submit + iterate + cancel-in-a-finally for pages.

Modules, each importing only those listed before it: base and state_transfer (shared by all),
in_process and pool, batched (one network for several runs) and ray, choice (which one a page uses).
"""
from cnn_core.experiments.executors.base import (Executor, RunOutcome, Submission, final_status, strip_timing,
                                                 wait_all)
from cnn_core.experiments.executors.batched import BatchedPool, EnsembleExecutor, EnsembleSubmission
from cnn_core.experiments.executors.choice import ExecutorChoice, choose_executor, stream
from cnn_core.experiments.executors.in_process import InProcessExecutor, InProcessSubmission
from cnn_core.experiments.executors.pool import CRASH_LOOP, POLL_S, LocalProcessPool, PoolSubmission, local_pool
from cnn_core.experiments.executors.ray import (CONNECT_TIMEOUT_S, RETRY_S, RayExecutor, RaySubmission,
                                                RayUnavailable, connect, ray_executor)
from cnn_core.experiments.executors.state_transfer import cpu_state, state_bytes, state_from_bytes

__all__ = ["BatchedPool", "CONNECT_TIMEOUT_S", "CRASH_LOOP", "EnsembleExecutor", "EnsembleSubmission", "Executor",
           "ExecutorChoice", "InProcessExecutor", "InProcessSubmission", "LocalProcessPool", "POLL_S",
           "PoolSubmission", "RETRY_S", "RayExecutor", "RaySubmission", "RayUnavailable", "RunOutcome", "Submission",
           "choose_executor", "connect", "cpu_state", "final_status", "local_pool", "ray_executor", "state_bytes",
           "state_from_bytes", "stream", "strip_timing", "wait_all"]
