"""cnn_core.experiments.ensemble: runs of one architecture as one batched network give the runs' own records."""
from __future__ import annotations

import math
import os
from dataclasses import replace

import pytest
import torch
from torch import nn

from cnn_core import OptimizerConfig, RegularizationConfig, TrainConfig, load_dataset
from cnn_core.experiments.compare import compare, make_runs
from cnn_core.experiments.ensemble import (GroupedNetwork, NotGroupable, ensemble_runs, groupable, grouped_step,
                                           why_not_grouped)
from cnn_core.experiments.executors import (EnsembleExecutor, EnsembleSubmission, InProcessSubmission,
                                            choose_executor, wait_all)
from cnn_core.models import ModelOptions
from cnn_core.training import TrainingRun

BASE = TrainConfig(model="lenet5-modern", per_class=20, epochs=2, batch_size=32, seed=3, device="cpu")  # 7 steps/epoch
OPTIMIZERS = [OptimizerConfig("sgd", lr=0.05), OptimizerConfig("momentum", lr=0.02), OptimizerConfig("adam", lr=1e-3)]
CLOSE = dict(rel=1e-4, abs=1e-6)


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist-5k", per_class=20)


def configs_for(base: TrainConfig, **variants) -> dict[str, TrainConfig]:
    """One config per optimizer of OPTIMIZERS on `base` (or the given label -> config)."""
    return variants or {o.label(): replace(base, optimizer=o) for o in OPTIMIZERS}


def alone(configs, data) -> tuple[dict, dict]:
    """Each config trained by itself: (records per label, final state per label)."""
    histories, states = {}, {}
    for label, config in configs.items():
        run = TrainingRun(config, data)
        histories[label] = list(run.records())
        states[label] = run.model.state_dict()
    return histories, states


def batched(configs, data) -> tuple[dict, dict]:
    """The configs trained as one batched network: (records per label, final state per label)."""
    training = ensemble_runs(configs, data)
    histories: dict = {label: [] for label in configs}
    for label, record in training.records():
        histories[label].append(record)
    return histories, {label: run.model.state_dict() for label, run in training.runs.items()}


def assert_same_runs(got, want) -> None:
    """Same records (kinds, epochs, steps, every metric to float rounding) and the same final weights."""
    (got_h, got_s), (want_h, want_s) = got, want
    assert list(got_h) == list(want_h)
    for label in want_h:
        assert [(r.kind, r.epoch, r.step) for r in got_h[label]] == [(r.kind, r.epoch, r.step) for r in want_h[label]]
        for a, b in zip(got_h[label], want_h[label]):
            for name in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "grad_norm"):
                x, y = getattr(a, name), getattr(b, name)
                assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, **CLOSE), (label, a, name)
        assert got_s[label].keys() == want_s[label].keys()
        for name, tensor in want_s[label].items():
            torch.testing.assert_close(got_s[label][name], tensor, rtol=1e-4, atol=1e-5, msg=f"{label}: {name}")


def test_three_optimizers_batched_give_each_runs_own_records_and_weights(data):
    configs = configs_for(BASE)
    got = batched(configs, data)
    assert_same_runs(got, alone(configs, data))
    assert sum(r.kind == "step" for r in got[0]["Adam lr=0.001"]) == 14  # 200 images / 32 = 7 steps x 2 epochs


def test_runs_with_different_seeds_see_their_own_batches_and_weights(data):
    configs = {f"seed {s}": replace(BASE, seed=s, optimizer=OPTIMIZERS[2]) for s in (1, 2, 3)}
    got = batched(configs, data)
    assert_same_runs(got, alone(configs, data))
    first_losses = {label: records[0].train_loss for label, records in got[0].items()}
    assert len(set(first_losses.values())) == 3  # different initial weights and batches: different losses


@pytest.mark.parametrize("model,options", [
    ("mlp", ModelOptions(batch_norm=True)),                  # Linear on a shared input, BatchNorm1d, runs layout
    ("plain-cnn", ModelOptions(depth=2, width=8, batch_norm=True)),  # BatchNorm2d, adaptive pooling
    ("lenet5-classic", ModelOptions()),                      # tanh, average pooling
])
def test_other_architectures_and_batch_norm_statistics_match(data, model, options):
    configs = configs_for(replace(BASE, model=model, model_options=options, epochs=1))
    if options.batch_norm:
        # A bias just before batch norm has a gradient of exactly zero in exact arithmetic; Adam divides the
        # rounding noise that stands in for it by its own size and takes full steps, so two summation orders
        # part after a few steps. SGD keeps noise as small as it is.
        configs = {label: c for label, c in configs.items() if c.optimizer.name != "adam"}
    got = batched(configs, data)
    assert_same_runs(got, alone(configs, data))
    if options.batch_norm:  # the running statistics were written back to every run's own buffers
        for state in got[1].values():
            tracked = [v for k, v in state.items() if k.endswith("num_batches_tracked")]
            assert tracked and all(int(v) == 7 for v in tracked)


def test_a_diverging_run_drops_out_and_the_others_go_on(data):
    configs = {"wild": replace(BASE, optimizer=OptimizerConfig("sgd", lr=50.0)),
               "calm": replace(BASE, optimizer=OptimizerConfig("adam", lr=1e-3))}
    got = batched(configs, data)
    assert got[0]["wild"][-1].kind == "diverged"
    assert got[0]["calm"][-1].kind == "epoch" and got[0]["calm"][-1].epoch == 2
    assert_same_runs(got, alone(configs, data))


def test_early_stopping_and_different_epoch_counts_follow_each_run(data):
    patient = RegularizationConfig(early_stopping_patience=1)
    configs = {"short": replace(BASE, epochs=1, optimizer=OPTIMIZERS[0]),
               "early": replace(BASE, epochs=6, optimizer=OptimizerConfig("sgd", lr=0.3), regularization=patient),
               "long": replace(BASE, epochs=3, optimizer=OPTIMIZERS[2])}
    got = batched(configs, data)
    assert_same_runs(got, alone(configs, data))
    assert [r.epoch for r in got[0]["short"] if r.kind == "epoch"] == [1]
    assert [r.epoch for r in got[0]["long"] if r.kind == "epoch"] == [1, 2, 3]


def test_the_batched_forward_equals_every_models_own_in_training_mode(data):
    runs = make_runs(configs_for(replace(BASE, model="plain-cnn", model_options=ModelOptions(depth=2, batch_norm=True))),
                     data)
    models = [run.model for run in runs.values()]
    copies = [type(m)(1, 10, 16, 2, "relu", 0.0, True) for m in models]
    for copy, model in zip(copies, models):
        copy.load_state_dict(model.state_dict())
    batches = [data.train_x[i * 8:(i + 1) * 8] for i in range(3)]  # a different batch per run
    grouped = GroupedNetwork(models)(batches)  # 3 x 8 x 10, updates the models' running statistics
    for k, (copy, x) in enumerate(zip(copies, batches)):
        torch.testing.assert_close(grouped[k], copy(x), rtol=1e-4, atol=1e-5)
        for (name, want), got in zip(copy.state_dict().items(), models[k].state_dict().values()):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5, msg=name)


def test_each_run_gets_the_gradient_autograd_gives_it_alone(data):
    runs = list(make_runs(configs_for(BASE), data).values())
    x, y = data.train_x[:32], data.train_y[:32]
    want = []
    for run in runs:
        run.model.zero_grad()
        nn.functional.cross_entropy(run.model(x), y).backward()
        want.append([p.grad.clone() for p in run.model.parameters()])
        run.model.zero_grad()
    before = [[p.detach().clone() for p in run.model.parameters()] for run in runs]
    results = grouped_step(runs, GroupedNetwork([r.model for r in runs], runs[0].channels_last), [(x, y)] * 3)
    assert all(result is not None for result in results)
    for run, grads, old in zip(runs, want, before):
        for p, g in zip(run.model.parameters(), grads):
            torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)
        reference = [p.clone().requires_grad_() for p in old]  # torch.optim itself, on copies of the weights
        optimizer = type(run.optimizer)(reference, **{k: v for k, v in run.optimizer.defaults.items()
                                                      if k in ("lr", "momentum", "betas", "eps", "weight_decay")})
        for p, g in zip(reference, grads):
            p.grad = g.clone()
        optimizer.step()
        for p, q in zip(run.model.parameters(), reference):
            torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)


def test_what_cannot_be_batched_says_why():
    two = lambda **kw: {"a": replace(BASE, **kw), "b": replace(BASE, seed=9, **kw)}  # noqa: E731
    assert groupable(two()) is None
    assert why_not_grouped({"a": BASE}) == "one run"
    assert "dropout" in groupable(two(model_options=ModelOptions(dropout=0.3)))
    assert "ReplicationPad2d" in groupable(two(model="lenet5-1998"))
    assert groupable({"a": BASE, "b": replace(BASE, model="mlp")}) == "the runs differ in model"
    assert groupable({"a": BASE, "b": replace(BASE, batch_size=64)}) == "the runs differ in batch size"
    with pytest.raises(NotGroupable, match="differ"):
        GroupedNetwork([nn.Sequential(nn.Linear(4, 2)), nn.Sequential(nn.Linear(4, 2), nn.ReLU())])
    with pytest.raises(NotGroupable, match="Dropout"):
        GroupedNetwork([nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.5))] * 2)


def test_a_forward_that_is_not_its_layers_in_order_is_caught_by_the_probe():
    # Like the lecture's ConvNet: registers pool, conv, fc, relu but calls conv, relu, pool, view, fc.
    fake = [nn.Conv2d(3, 16, 3), nn.ReLU(), nn.AvgPool2d(2, 2), nn.Linear(400, 60)]
    order = nn.Module()
    for i, layer in enumerate([fake[2], fake[0], fake[3], fake[1]]):
        order.add_module(str(i), layer)
    order.forward = lambda x: fake[3](fake[2](fake[1](fake[0](x))).flatten(1))
    with pytest.raises(NotGroupable, match="not its layers in order"):
        GroupedNetwork([order, order]).verify(torch.randn(2, 3, 12, 12))


def test_the_executor_falls_back_to_taking_turns_when_the_probe_fails(data, monkeypatch):
    configs = configs_for(replace(BASE, epochs=1))

    def refuse(self, sample):
        raise NotGroupable("the network's forward is not its layers in order")

    monkeypatch.setattr(GroupedNetwork, "verify", refuse)
    submission = EnsembleExecutor().submit(configs, data)
    assert isinstance(submission, InProcessSubmission) and not isinstance(submission, EnsembleSubmission)
    got = wait_all(submission)
    want: dict = {label: [] for label in configs}
    for label, record in compare(configs, data):
        want[label].append(record)
    assert [[(r.kind, r.step, r.train_loss) for r in v] for v in got.values()] == \
        [[(r.kind, r.step, r.train_loss) for r in v] for v in want.values()]


def test_stop_ends_every_batched_run_with_its_partial_history(data):
    submission = EnsembleExecutor().submit(configs_for(replace(BASE, epochs=5)), data)
    seen = 0
    for _label, _record in submission:
        seen += 1
        if seen == 7:
            submission.cancel()
    assert seen == 9  # the seventh record is the first run's third step: the step's other two records follow
    assert {o.status for o in submission.outcomes.values()} == {"stopped"}
    for label, run in submission.runs.items():
        assert len(run.history) == run.step == 3
        for name, tensor in run.model.state_dict().items():  # the weights after exactly the recorded steps
            torch.testing.assert_close(submission.outcomes[label].state[name], tensor, rtol=0, atol=0)


def test_the_choice_batches_runs_of_one_architecture_on_one_core(monkeypatch):
    monkeypatch.delenv("CNN_PLAYGROUND_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("CNN_PLAYGROUND_EXECUTOR", raising=False)
    same = configs_for(BASE)
    one = choose_executor(len(same), free_cores=1, configs=same)  # one core: batched beats taking turns
    assert (one.executor.name, one.parallel) == (EnsembleExecutor.name, 1)
    mixed = {"a": BASE, "b": replace(BASE, model="mlp")}
    assert choose_executor(2, free_cores=1, configs=mixed).executor.name == "in-process"
    if (os.cpu_count() or 1) >= 2:  # two free cores: two worker processes are faster than one batched thread
        # more runs than the two workers: each worker's share as one batched network
        assert choose_executor(3, free_cores=2, configs=same).executor.name == "local processes, batched"
        assert choose_executor(2, free_cores=2, configs=same).executor.name == "local processes"  # one run each
        monkeypatch.setenv("CNN_PLAYGROUND_EXECUTOR", "batched")  # a server short of memory: no workers
        choice = choose_executor(3, free_cores=2, configs=same)
        assert (choice.executor.name, choice.parallel) == (EnsembleExecutor.name, 2)
        assert choose_executor(2, free_cores=2, configs=mixed).executor.name == "local processes"
    monkeypatch.setenv("CNN_PLAYGROUND_EXECUTOR", "in-process")
    assert choose_executor(3, free_cores=1, configs=same).executor.name == "in-process"
    assert choose_executor(3, free_cores=1, configs=same, crowded=True).executor.name == "in-process"


def test_with_others_queued_one_core_means_one_worker_not_the_servers_interpreter(monkeypatch):
    monkeypatch.delenv("CNN_PLAYGROUND_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("CNN_PLAYGROUND_EXECUTOR", raising=False)
    same = configs_for(BASE)
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: there is no worker to spare the server's interpreter")
    for configs, name in ((same, "local processes, batched"), ({"a": BASE, "b": replace(BASE, model="mlp")},
                                                              "local processes")):
        choice = choose_executor(len(configs), free_cores=1, configs=configs, crowded=True)
        assert (choice.executor.name, choice.parallel) == (name, 1)
    assert choose_executor(1, free_cores=1, configs={"a": BASE}, crowded=True).executor.name == "in-process"
    two = choose_executor(len(same), free_cores=2, configs=same, crowded=True)  # two free cores: both
    assert (two.executor.name, two.parallel) == ("local processes, batched", 2)
    monkeypatch.setenv("CNN_PLAYGROUND_EXECUTOR", "batched")  # no worker processes, even when crowded
    assert choose_executor(len(same), free_cores=1, configs=same, crowded=True).executor.name == EnsembleExecutor.name


def test_runs_that_fit_the_budget_one_at_a_time_but_not_together_are_not_batched(monkeypatch):
    from cnn_core.training.budget import check_runs, estimate_run

    monkeypatch.delenv("CNN_PLAYGROUND_RAY_ADDRESS", raising=False)
    monkeypatch.delenv("CNN_PLAYGROUND_EXECUTOR", raising=False)
    trials = configs_for(BASE)  # a search: budgeted one trial at a time (tuning.py, together=False)
    one = estimate_run(next(iter(trials.values()))).memory_bytes
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_RUN_MEMORY_MB", str(2 * one / 2**20))  # two fit at once, three do not
    check_runs(trials, together=False)  # the search itself is allowed
    assert "memory budget" in groupable(trials)
    assert choose_executor(len(trials), free_cores=1, configs=trials).executor.name == "in-process"
    assert choose_executor(len(trials), free_cores=1, configs=trials, crowded=True).executor.name == "local processes"
