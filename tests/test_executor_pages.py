"""Comparisons and searches on an executor: admission counts the pool's slots, the pages' pool path gives
the same records and weights as in-process, Stop / a closed tab cancels the submission, a Ray fallback is
shown on the page."""
from __future__ import annotations

import os
import time

import pytest
import torch

from cnn_core import OptimizerConfig, TrainConfig
from cnn_core.experiments.executors import (EnsembleExecutor, ExecutorChoice, InProcessExecutor, choose_executor,
                                            local_pool, stream, strip_timing)
from cnn_core.training import RunStatus
from pages.common.live.admission import Admission

SMALL = TrainConfig(model="lenet5-modern", per_class=10, epochs=1, batch_size=32, seed=4, device="cpu",
                    optimizer=OptimizerConfig("sgd", lr=0.05))
TWO_CORES = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the worker pool is used with 2 or more cores")


# ------------------------------------------------------------------ admission counts slots


def test_a_job_takes_as_many_slots_as_it_asks_and_nobody_overtakes_it():
    control = Admission(capacity=2, per_session=1)
    single = control.join("a")                # 1 slot
    pair = control.join("b", slots=2)         # a 2-worker comparison: waits for both slots
    late = control.join("c")                  # would fit in the free slot, but b came first
    assert single.started and not pair.started and not late.started
    assert control.free() == 1 and control.position(pair) == (1, 2) and control.position(late) == (2, 2)
    assert control.expected_wait(late) > control.expected_wait(pair) > 0
    control.release(single)
    assert pair.started and not late.started and control.free() == 0
    control.release(pair)
    assert late.started and control.free() == 1


def test_slots_are_clamped_to_capacity_and_a_ray_job_takes_none():
    control = Admission(capacity=2, per_session=2)
    greedy = control.join("a", slots=6)       # asks for more than the server has: takes all of it
    assert greedy.started and greedy.slots == 2 and control.free() == 0
    remote = control.join("b", slots=0)       # runs on a cluster: no local core, starts at once
    assert remote.started and control.counts() == (2, 0)


# ------------------------------------------------------------------ the executor choice


def test_the_choice_holds_one_slot_per_worker_it_may_use(monkeypatch):
    monkeypatch.delenv("CNN_PLAYGROUND_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("CNN_PLAYGROUND_EXECUTOR", raising=False)
    assert (choose_executor(6, free_cores=1).executor.name, choose_executor(6, free_cores=1).parallel) == (
        "in-process", 1)
    assert choose_executor(1, free_cores=2).parallel == 1
    if (os.cpu_count() or 1) >= 2:
        choice = choose_executor(6, free_cores=2)
        assert (choice.executor.name, choice.parallel) == ("local processes", 2)


def test_a_ray_fallback_with_several_runs_ends_on_this_server_with_a_note(monkeypatch):
    from cnn_core.experiments.executors import ray as ray_executor

    def refuse(address):
        raise ray_executor.RayUnavailable(f"The Ray cluster at '{address}' did not answer.")

    monkeypatch.setattr(ray_executor, "ray_executor", refuse)
    monkeypatch.setenv("CNN_PLAYGROUND_RAY_ADDRESS", "ray://10.0.0.1:10001")
    monkeypatch.setenv("CNN_PLAYGROUND_EXECUTOR", "in-process")
    choice = choose_executor(4, free_cores=2)  # once recursed forever: the fallback asked Ray again
    assert choice.executor.name == "in-process" and choice.tried == ["Ray"]
    assert "ray://10.0.0.1:10001" in choice.note and "Running on this server instead" in choice.note


# ------------------------------------------------------------------ the pool under a page's stream()


@TWO_CORES
def test_closing_the_stream_cancels_the_submission_and_frees_the_worker():
    pool = local_pool(2)
    configs = {"long": TrainConfig(**{**SMALL.__dict__, "epochs": 40})}
    submissions: list = []
    records = stream(ExecutorChoice(pool, parallel=1), configs, None, submissions)
    assert next(records)[0] == "long"
    records.close()  # what run_live does on Stop, a rerun or a closed tab
    deadline = time.monotonic() + 30
    while pool._running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pool._running, "the worker is still busy with a cancelled run"
    assert all(w.process.is_alive() for w in pool._pool)


@TWO_CORES
def test_parallel_limits_how_many_runs_of_a_submission_compute_at_once():
    pool = local_pool(2)
    configs = {"first": SMALL, "second": TrainConfig(**{**SMALL.__dict__, "seed": 5})}
    submission = pool.submit(configs, parallel=1)
    order = [label for label, _ in submission]
    assert order == sorted(order, key=["first", "second"].index), "one at a time: first ends before second"
    assert {o.status for o in submission.outcomes.values()} == {RunStatus.FINISHED}


# ------------------------------------------------------------------ the pages


def _optimizer_page(app_test):
    at = app_test("pages/7_Optimizers.py", default_timeout=180).run()
    at.number_input(key="cnn_per_class").set_value(10)
    at.number_input(key="cnn_epochs").set_value(1)
    return at.run()


@TWO_CORES
def test_the_optimizer_comparison_on_the_pool_matches_in_process(app_test, monkeypatch):
    from pages.common.state import finished_runs

    monkeypatch.delenv("CNN_PLAYGROUND_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("CNN_PLAYGROUND_EXECUTOR", raising=False)
    finished_runs.clear()  # nothing from the cache: both runs are trained
    at = _optimizer_page(app_test).button(key="cnn_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    pooled = at.session_state["opt_cnn_experiment"]
    assert pooled.executor == "local processes" and pooled.status == "finished" and pooled.from_cache == ()

    monkeypatch.setenv("CNN_PLAYGROUND_EXECUTOR", "in-process")
    finished_runs.clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers
    try:
        at = _optimizer_page(app_test).button(key="cnn_run").click().run()
    finally:
        torch.set_num_threads(threads)
    local = at.session_state["opt_cnn_experiment"]
    assert local.executor == "in-process" and local.from_cache == ()
    assert list(pooled.histories) == list(local.histories) == ["SGD lr=0.05", "Adam lr=0.001"]
    for label in local.histories:
        assert [strip_timing(r) for r in pooled.histories[label]] == [strip_timing(r) for r in local.histories[label]]
        assert pooled.states[label].keys() == local.states[label].keys()
        for name, tensor in local.states[label].items():
            torch.testing.assert_close(pooled.states[label][name], tensor, rtol=0, atol=0)


def test_a_ray_cluster_that_does_not_answer_is_said_on_the_page(app_test, monkeypatch):
    from cnn_core.experiments.executors import ray as ray_executor
    from pages.common.state import finished_runs

    def refuse(address):
        raise ray_executor.RayUnavailable(f"The Ray cluster at '{address}' did not answer.")

    monkeypatch.setattr(ray_executor, "ray_executor", refuse)
    monkeypatch.setenv("CNN_PLAYGROUND_RAY_ADDRESS", "auto")
    monkeypatch.setenv("CNN_PLAYGROUND_EXECUTOR", "in-process")
    finished_runs.clear()
    at = _optimizer_page(app_test).button(key="cnn_run").click().run()
    assert not at.exception and not at.error
    assert any("Ray cluster at 'auto' did not answer" in i.value and "Running on this server instead" in i.value
               for i in at.info), [i.value for i in at.info]
    assert at.session_state["opt_cnn_experiment"].status == "finished"


def test_a_cancelled_in_process_run_ends_stopped_with_its_weights():
    submission = InProcessExecutor().submit({"a": SMALL})
    records = iter(submission)
    next(records)
    submission.cancel()
    assert list(records) == []  # nothing after the cancel
    outcome = submission.outcomes["a"]
    assert outcome.status is RunStatus.STOPPED and outcome.state is not None


def test_the_optimizer_comparison_runs_as_one_batched_network_when_asked(app_test, monkeypatch):
    from pages.common.state import finished_runs

    monkeypatch.delenv("CNN_PLAYGROUND_RAY_ADDRESS", raising=False)
    monkeypatch.setenv("CNN_PLAYGROUND_EXECUTOR", "batched")  # also the choice when one core is free
    finished_runs.clear()
    at = _optimizer_page(app_test).button(key="cnn_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    batched = at.session_state["opt_cnn_experiment"]
    assert batched.executor == EnsembleExecutor.name and batched.status == "finished"
    assert any("computed together as one batched network" in c.value for c in at.caption), [c.value for c in at.caption]

    monkeypatch.setenv("CNN_PLAYGROUND_EXECUTOR", "in-process")
    finished_runs.clear()
    local = _optimizer_page(app_test).button(key="cnn_run").click().run().session_state["opt_cnn_experiment"]
    assert local.executor == "in-process" and list(local.histories) == list(batched.histories)
    for label, records in local.histories.items():
        assert [(r.kind, r.step) for r in batched.histories[label]] == [(r.kind, r.step) for r in records]
        for got, want in zip(batched.histories[label], records):
            assert got.train_loss == pytest.approx(want.train_loss, rel=1e-4)
        for name, tensor in local.states[label].items():
            torch.testing.assert_close(batched.states[label][name], tensor, rtol=1e-4, atol=1e-5)
    finished_runs.clear()  # later tests train these settings themselves


def test_the_results_caption_says_where_the_runs_computed():
    from cnn_core.experiments.executors import BatchedPool
    from pages.common.live.comparison import Experiment, timing_caption

    experiment = Experiment(configs={}, executor=BatchedPool.name)
    assert "each worker's runs as one batched network" in timing_caption(experiment)
    experiment.executor = "local processes"
    assert timing_caption(experiment) == (" The runs computed side by side in worker processes. Time counts each "
                                          "run's own computing.")
    experiment.executor = "in-process"
    assert timing_caption(experiment) == " Time counts each run's own computing."


def test_a_comparison_trains_off_the_interpreter_while_any_other_job_holds_a_slot(monkeypatch):
    """With every core taken and nobody queued yet, a comparison goes to one pool worker (batched), not into the
    server's interpreter, which every other tab's page run needs."""
    from dataclasses import replace

    from cnn_core.experiments.executors import BatchedPool, choice as choice_module
    from pages.common import live
    from pages.common.live.comparison import plan_executor

    monkeypatch.delenv("CNN_PLAYGROUND_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("CNN_PLAYGROUND_EXECUTOR", raising=False)
    monkeypatch.setattr(choice_module.os, "cpu_count", lambda: 2)

    class Pool:  # the pool's place in the choice; no worker process is started
        name = "local processes"

    pool = Pool()
    monkeypatch.setattr(choice_module, "local_pool", lambda workers=None: pool)
    control = Admission(capacity=2)
    monkeypatch.setattr(live.admission, "_value", control)
    monkeypatch.setattr(live.admission, "_built", True)
    configs = {"SGD": SMALL, "Adam": replace(SMALL, optimizer=OptimizerConfig("adam", lr=0.001))}
    alone = plan_executor(configs)
    assert alone.executor is pool and alone.parallel == 2  # an idle server: both cores
    other = control.join("another session", "Training", slots=2)
    assert other.started and control.counts() == (1, 0)
    crowded = plan_executor(configs)
    assert isinstance(crowded.executor, BatchedPool) and crowded.executor.pool is pool and crowded.parallel == 1
    control.release(other)
