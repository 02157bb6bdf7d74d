"""cnn_core.experiments.executors: the same records wherever a run executes; Stop, dead workers, no orphans."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cnn_core import OptimizerConfig, TrainConfig
from cnn_core.experiments.executors import (BatchedPool, EnsembleExecutor, InProcessExecutor, LocalProcessPool,
                                            choose_executor, pool as pool_module, strip_timing, wait_all)

CONFIGS = {
    "sgd": TrainConfig(model="lenet5-modern", per_class=20, epochs=2, batch_size=32, seed=3, device="cpu",
                       optimizer=OptimizerConfig("sgd", lr=0.05)),
    "adam": TrainConfig(model="lenet5-modern", per_class=20, epochs=2, batch_size=32, seed=3, device="cpu",
                        optimizer=OptimizerConfig("adam", lr=1e-3)),
}


@pytest.fixture(scope="module")
def pool():
    pool = LocalProcessPool(workers=2)
    yield pool
    pool.close()


def in_process_histories(configs):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers compute with one thread each: same kernels, same sums
    try:
        return wait_all(InProcessExecutor().submit(configs))
    finally:
        torch.set_num_threads(threads)


def test_local_processes_give_the_same_records_as_in_process(pool):
    reference = in_process_histories(CONFIGS)
    submission = pool.submit(CONFIGS)
    remote = wait_all(submission)
    assert set(remote) == set(CONFIGS)
    for label in CONFIGS:
        assert [strip_timing(r) for r in remote[label]] == [strip_timing(r) for r in reference[label]]
        assert submission.outcomes[label].status == "finished"
        assert set(submission.outcomes[label].state) == {k for k in submission.outcomes[label].state}
    steps = [r for r in remote["adam"] if r.kind == "step"]
    assert len(steps) == 2 * 7  # 200 images / batch 32 = 7 steps per epoch, 2 epochs


def _plain(record) -> tuple:
    """strip_timing, with the NaN inside a segmenter record's per-class IoU tuple as None too."""
    return tuple(tuple(None if v != v else v for v in value) if isinstance(value, tuple) else value
                 for value in strip_timing(record))


def test_a_unet_pair_runs_on_the_pool_with_the_callers_price_and_the_same_records(monkeypatch):
    from cnn_core.experiments.compare import price
    from cnn_core.vision.segmentation import SegConfig
    tiny = SegConfig(base=4, depth=2, train_scenes=16, val_scenes=2, canvas=32, epochs=2, batch_size=8, seed=1)
    pair = {"skips on": tiny, "skips off": replace(tiny, skips=False)}
    # workers spawned under a 1 ms budget: a run that priced itself again there would be refused
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_RUN_SECONDS", "0.001")
    strict = LocalProcessPool(workers=2)
    monkeypatch.delenv("CNN_PLAYGROUND_MAX_RUN_SECONDS")
    try:
        priced = price(pair)  # the caller's one pricing, under the default budget
        reference = in_process_histories(priced)
        submission = strict.submit(priced)
        remote = wait_all(submission)
    finally:
        strict.close()
    for label in pair:
        assert submission.outcomes[label].status == "finished", submission.outcomes[label].message
        assert [_plain(r) for r in remote[label]] == [_plain(r) for r in reference[label]]
    assert sum(r.kind == "epoch" for r in remote["skips off"]) == 2


SIX = {f"{name} lr={lr}": TrainConfig(model="lenet5-modern", per_class=20, epochs=2, batch_size=32, seed=3,
                                      device="cpu", optimizer=OptimizerConfig(name, lr=lr))
       for name, lr in (("sgd", 0.01), ("sgd", 0.05), ("sgd", 0.1), ("adam", 3e-4), ("adam", 1e-3), ("adam", 3e-3))}


def test_a_batched_submission_trains_each_workers_share_as_one_network(pool):
    labels = list(SIX)
    groups = [labels[0::2], labels[1::2]]  # six runs, two workers: three runs in each worker's network
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' one thread: the same batched kernels, the same sums
    try:
        reference = {}
        for group in groups:
            reference.update(wait_all(EnsembleExecutor().submit({label: SIX[label] for label in group})))
    finally:
        torch.set_num_threads(threads)
    submission = BatchedPool(pool).submit(SIX, parallel=2)
    tasks, remote = set(), {}
    for label, record in submission:
        remote.setdefault(label, []).append(record)
        tasks |= {tuple(w.task.labels.values()) for w in pool._pool if w.task is not None}
    assert tasks == {tuple(group) for group in groups}  # one task per worker, three runs each
    for label in SIX:
        assert [strip_timing(r) for r in remote[label]] == [strip_timing(r) for r in reference[label]], label
        assert submission.outcomes[label].status == "finished"
    assert all(w.task is None for w in pool._pool) and not pool._running  # both workers free again


def test_stop_ends_every_run_of_a_batched_task_and_frees_its_worker(pool):
    long = {label: replace(config, epochs=50) for label, config in list(SIX.items())[:3]}
    submission = BatchedPool(pool).submit(long, parallel=1)
    seen = 0
    for _label, _record in submission:
        seen += 1
        if seen == 9:  # three steps of each of the three runs
            submission.cancel()
    assert {o.status for o in submission.outcomes.values()} == {"stopped"}
    assert all(o.state is not None for o in submission.outcomes.values())  # each run's weights come back
    assert seen < 3 * 50 * 7 and all(w.task is None for w in pool._pool)


def test_a_killed_worker_fails_every_run_of_its_batched_task_and_the_other_worker_goes_on(pool):
    configs = {label: replace(config, epochs=40 if i % 2 == 0 else 2) for i, (label, config) in enumerate(SIX.items())}
    victims = list(configs)[0::2]
    submission = BatchedPool(pool).submit(configs, parallel=2)
    killed = False
    for label, _record in submission:
        if label in victims and not killed:
            busy = [w for w in pool._pool if w.task is not None and label in w.task.labels.values()]
            os.kill(busy[0].process.pid, signal.SIGKILL)
            killed = True
    assert all(submission.outcomes[v].status == "failed" and "died" in submission.outcomes[v].message for v in victims)
    assert all(submission.outcomes[o].status == "finished" for o in configs if o not in victims)
    assert all(w.process.is_alive() for w in pool._pool) and len(pool._pool) == 2


def test_stop_reaches_the_worker_and_frees_it(pool):
    configs = {"long": CONFIGS["sgd"].__class__(**{**CONFIGS["sgd"].__dict__, "epochs": 50})}
    submission = pool.submit(configs)
    seen = 0
    for _label, record in submission:
        seen += 1
        if seen == 3:
            submission.cancel()
    assert submission.outcomes["long"].status == "stopped"
    assert seen < 50 * 7
    # the freed worker takes the next run at once
    again = wait_all(pool.submit({"sgd": CONFIGS["sgd"]}))
    assert sum(r.kind == "epoch" for r in again["sgd"]) == 2


def test_twenty_quick_stops_leave_no_orphan_process(pool):
    before = sorted(pool.pids())
    for _ in range(20):
        submission = pool.submit(CONFIGS)
        submission.cancel()
        wait_all(submission, timeout=60)
    time.sleep(0.5)
    children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == os.getpid()]
    workers = set(pool.pids())
    assert sorted(pool.pids()) == before  # the same two workers: none died, none was added
    assert workers <= set(children)
    # every other spawned child is a worker of the process-wide pool (page tests in this process start it)
    shared_pool = pool_module._POOL
    shared = set(shared_pool.pids()) if shared_pool is not None and not shared_pool._closed else set()
    assert {c for c in children if _is_spawned_worker(c)} - shared == workers


def test_a_killed_worker_fails_its_run_and_the_others_go_on(pool):
    configs = {"victim": CONFIGS["sgd"].__class__(**{**CONFIGS["sgd"].__dict__, "epochs": 40}),
               "survivor": CONFIGS["adam"]}
    submission = pool.submit(configs)
    killed = False
    histories: dict[str, list] = {}
    for label, record in submission:
        histories.setdefault(label, []).append(record)
        if label == "victim" and not killed:
            busy = [w for w in pool._pool if w.task is not None and "victim" in w.task.labels.values()]
            os.kill(busy[0].process.pid, signal.SIGKILL)
            killed = True
    assert submission.outcomes["victim"].status == "failed"
    assert "died" in submission.outcomes["victim"].message
    assert submission.outcomes["survivor"].status == "finished"
    assert sum(r.kind == "epoch" for r in histories["survivor"]) == 2
    assert all(w.process.is_alive() for w in pool._pool) and len(pool._pool) == 2


def test_choose_executor_uses_processes_only_for_several_runs_and_free_cores(monkeypatch):
    monkeypatch.delenv("CNN_PLAYGROUND_RAY_ADDRESS", raising=False)
    assert choose_executor(1, free_cores=2).executor.name == "in-process"
    assert choose_executor(3, free_cores=1).executor.name == "in-process"
    monkeypatch.setenv("CNN_PLAYGROUND_EXECUTOR", "in-process")
    assert choose_executor(3, free_cores=2).executor.name == "in-process"


def test_a_ray_address_that_does_not_answer_falls_back_with_a_note():
    pytest.importorskip("ray", reason="Ray is an optional extra (requirements-cluster.txt)")
    # In a child process: a failed Ray Client connection leaves process-global state behind.
    code = ("import cnn_core.experiments.executors.ray as rex, cnn_core.experiments.executors as ex\n"
            "rex.CONNECT_TIMEOUT_S = 3.0\n"
            "choice = ex.choose_executor(1)\n"
            "print(choice.executor.name, '|', choice.note)\n")
    env = {**os.environ, "CNN_PLAYGROUND_RAY_ADDRESS": "ray://127.0.0.1:9"}  # nothing listens on port 9
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parent.parent)
    name, note = result.stdout.strip().splitlines()[-1].split(" | ")
    assert name == "in-process"
    assert "ray://127.0.0.1:9" in note and "Running on this server instead" in note


@pytest.mark.slow
def test_ray_streams_the_same_records_as_in_process():
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (requirements-cluster.txt)")
    from cnn_core.experiments.executors import RayExecutor, connect
    connect("local", num_cpus=2, object_store_memory=80 * 2**20)
    try:
        configs = {"adam": CONFIGS["adam"]}
        reference = in_process_histories(configs)
        submission = RayExecutor().submit(configs)
        remote = wait_all(submission)
        assert [strip_timing(r) for r in remote["adam"]] == [strip_timing(r) for r in reference["adam"]]
        assert submission.outcomes["adam"].status == "finished"
    finally:
        ray.shutdown()


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _is_spawned_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"multiprocessing" in handle.read() and b"resource_tracker" not in open(
                f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return False
