"""Optimizer registry, the page's configure()/settings_of() helpers and learning-rate schedules."""
from __future__ import annotations

import math

import pytest
import torch

from cnn_core.errors import InvalidConfig
from cnn_core.training.optimizers import (HYPERPARAMETERS, OPTIMIZERS, SCHEDULES, OptimizerConfig, ScheduleConfig,
                                          configure, default_weight_decay, lr_factor, make_optimizer, make_scheduler,
                                          settings_of, tunables)

NON_DEFAULT = {"momentum": 0.5, "alpha": 0.9, "rho": 0.8, "beta1": 0.8, "beta2": 0.99}


def params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(3))]


def test_registry_holds_the_nine_optimizers_of_the_issue():
    assert list(OPTIMIZERS) == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
                                "nadam"]
    for name, spec in OPTIMIZERS.items():
        assert spec.explanation.endswith(".") and len(spec.explanation) > 20
        assert r"\leftarrow" in spec.update_rule and spec.update_rule.count("{") == spec.update_rule.count("}")
        optimizer = make_optimizer(params(), OptimizerConfig(name))
        assert isinstance(optimizer, spec.cls)
        assert optimizer.param_groups[0]["lr"] == spec.defaults["lr"]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_configure_passes_every_knob_to_torch_and_settings_of_reads_it_back(name):
    knobs = {k: NON_DEFAULT[k] for k in tunables(name)}
    config = configure(name, lr=0.003, weight_decay=0.02, **knobs)
    group = make_optimizer(params(), config).param_groups[0]
    assert group["lr"] == 0.003 and group["weight_decay"] == 0.02
    if "momentum" in knobs:
        assert group["momentum"] == 0.5 and group["nesterov"] == (name == "nesterov")
    if "beta1" in knobs:
        assert tuple(group["betas"]) == (0.8, 0.99)
    for key in ("alpha", "rho"):
        if key in knobs:
            assert group[key] == knobs[key]
    assert settings_of(config) == {"lr": 0.003, "weight_decay": 0.02, **knobs}


def test_configure_leaves_defaults_out_so_equal_settings_are_equal_configs():
    assert configure("adam") == configure("adam", lr=0.001, weight_decay=0.0, beta1=0.9, beta2=0.999)
    assert configure("adam").extra == () and configure("adam").lr == 0.001
    assert configure("momentum", momentum=0.95).extra == (("momentum", 0.95),)


def test_adamw_weight_decay_can_be_switched_off():
    assert default_weight_decay("adamw") == 0.01
    assert make_optimizer(params(), configure("adamw")).param_groups[0]["weight_decay"] == 0.01
    off = configure("adamw", weight_decay=0.0)
    assert make_optimizer(params(), off).param_groups[0]["weight_decay"] == 0.0
    assert settings_of(off)["weight_decay"] == 0.0


@pytest.mark.parametrize("call", [
    lambda: configure("adam", momentum=0.9),    # Adam has betas, not momentum
    lambda: configure("momentum", momentum=1.5),
    lambda: configure("nope"),
    lambda: make_optimizer(params(), OptimizerConfig("sgd", lr=0.0)),
    lambda: make_optimizer(params(), OptimizerConfig("sgd", lr=float("nan"))),
    lambda: make_optimizer(params(), OptimizerConfig("sgd", weight_decay=2.0)),
])
def test_invalid_optimizer_settings_raise_invalid_config(call):
    with pytest.raises(InvalidConfig):
        call()


def test_hyperparameter_table_covers_every_tunable():
    for name in OPTIMIZERS:
        for knob in tunables(name):
            assert knob in HYPERPARAMETERS
    assert tunables("sgd") == {} and tunables("adam") == {"beta1": 0.9, "beta2": 0.999}


def test_schedule_shapes():
    total = 100
    step = ScheduleConfig("step", step_every=10, gamma=0.5)
    assert [lr_factor(s, total, step) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cosine = ScheduleConfig("cosine", min_factor=0.1)
    assert lr_factor(0, total, cosine) == 1.0 and lr_factor(50, total, cosine) == pytest.approx(0.55)
    assert lr_factor(total, total, cosine) == pytest.approx(0.1)
    onecycle = ScheduleConfig("onecycle")
    curve = [lr_factor(s, total, onecycle) for s in range(total)]
    # torch's OneCycleLR: from 1/25 up to the peak at step 0.3 * total - 1, down to 1/25/10^4 at the last step
    assert curve[0] == pytest.approx(0.04) and max(curve) == pytest.approx(1.0) and curve.index(max(curve)) == 29
    assert curve[-1] == pytest.approx(0.04 / 1e4)
    exponential = ScheduleConfig("exponential", step_every=10, gamma=0.5)
    assert lr_factor(5, total, exponential) == pytest.approx(0.5 ** 0.5)
    assert all(lr_factor(s, total, ScheduleConfig()) == 1.0 for s in range(total))


def test_warm_up_then_schedule():
    config = ScheduleConfig("cosine", warmup_steps=10)
    warm = [lr_factor(s, 110, config) for s in range(10)]
    assert warm == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert lr_factor(10, 110, config) == 1.0                      # the cosine starts after the warm-up
    assert lr_factor(60, 110, config) == pytest.approx(0.5)       # halfway through the remaining 100 steps


def test_make_scheduler_steps_the_optimizer_like_lr_factor():
    optimizer = make_optimizer(params(), OptimizerConfig("sgd", lr=0.2))
    config = ScheduleConfig("onecycle", warmup_steps=3)
    scheduler = make_scheduler(optimizer, config, 20)
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.2 * lr_factor(s, 20, config) for s in range(20)])


@pytest.mark.parametrize("config", [
    ScheduleConfig("nope"), ScheduleConfig(warmup_steps=-1), ScheduleConfig("step", step_every=0),
    ScheduleConfig("step", gamma=0.0), ScheduleConfig("step", gamma=math.inf), ScheduleConfig("cosine", min_factor=2.0),
])
def test_invalid_schedules_raise_invalid_config(config):
    with pytest.raises(InvalidConfig):
        make_scheduler(make_optimizer(params(), OptimizerConfig("sgd")), config, 10)


def test_every_schedule_has_a_label_and_explanation():
    assert list(SCHEDULES) == ["none", "step", "cosine", "onecycle", "exponential"]
    assert all(spec.label and spec.explanation.endswith(".") for spec in SCHEDULES.values())


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_playgrounds_optimizers_give_exactly_torchs_default_weights(name):
    """make_optimizer may pick the multi-tensor kernels, but only where the weights stay bit-identical."""
    import copy

    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, 10))
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    weights = []
    for make in (lambda p: make_optimizer(p, OptimizerConfig(name)),
                 lambda p: OPTIMIZERS[name].cls(p, **{**OPTIMIZERS[name].defaults, "foreach": False})):
        model = copy.deepcopy(base)
        opt = make(model.parameters())
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])
