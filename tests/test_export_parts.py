"""The pieces of an exported script against cnn_core's own: init, optimizer, schedule, model, loss, messages."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnn_core import InvalidConfig, LayerSpec, ModelOptions, OptimizerConfig, ScheduleConfig, TrainConfig
from cnn_core.data import load_dataset
from cnn_core.export import snippets, training_script
from cnn_core.export.settings import INIT_CODE, init_gain, model_class_code, optimizer_call
from cnn_core.export.training import LOSS_CODE, as_runs, init_function_code
from cnn_core.models.init_schemes import INIT_SCHEMES, apply_init
from cnn_core.training.losses import LOSSES, compute_loss
from cnn_core.training.loop import build_initialized_model
from cnn_core.training.optimizers import OPTIMIZERS, SCHEDULES, lr_factor, make_optimizer


# a custom network that flattens a 16 x 5 x 5 feature map (not 1 x 1): view() would fail in channels_last
CUSTOM_SPECS = (LayerSpec.of("conv", out_channels=6, kernel_size=5, padding=2), LayerSpec.of("activation", name="relu"),
                LayerSpec.of("maxpool", kernel_size=2), LayerSpec.of("conv", out_channels=16, kernel_size=5),
                LayerSpec.of("activation", name="relu"), LayerSpec.of("maxpool", kernel_size=2),
                LayerSpec.of("flatten"), LayerSpec.of("linear", out_features=10))


def _exec(code: str) -> dict:
    namespace: dict = {}
    exec(compile("import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n" + code,
                 "<export>", "exec"), namespace)
    return namespace


def _small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))


def test_every_init_scheme_is_exported_and_draws_the_same_weights():
    assert set(INIT_CODE) | {"default"} == set(INIT_SCHEMES)
    for scheme in INIT_CODE:
        for gain in ("relu", "tanh"):
            torch.manual_seed(3)
            reference = apply_init(_small_net(), scheme, nonlinearity=gain)
            code = init_function_code([scheme])
            torch.manual_seed(3)
            exported = _small_net()
            _exec("DEVICE = torch.device('cpu')\n" + code)["initialize"](exported, scheme, init_gain(
                TrainConfig(model_options=ModelOptions(activation=gain))))
            for a, b in zip(reference.parameters(), exported.parameters()):
                assert torch.equal(a, b), scheme


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_call_builds_what_make_optimizer_builds(name):
    for config in (OptimizerConfig(name), OptimizerConfig(name, lr=0.003, weight_decay=0.01)):
        param = [nn.Parameter(torch.zeros(2))]
        reference = make_optimizer(param, config)
        cls_name, kwargs = optimizer_call(config)
        exported = getattr(torch.optim, cls_name)([nn.Parameter(torch.zeros(2))], **kwargs)
        assert type(exported) is type(reference)
        assert exported.defaults == reference.defaults


@pytest.mark.parametrize("schedule", [ScheduleConfig(name, warmup_steps=warmup, step_every=7, gamma=0.6,
                                                     min_factor=floor)
                                      for name in SCHEDULES for warmup in (0, 5) for floor in (0.0, 0.1)])
def test_exported_schedule_follows_cnn_cores_learning_rates(schedule):
    from cnn_core.training.optimizers import make_scheduler
    total = 40
    namespace = _exec(snippets.SCHEDULE)
    s = {"name": schedule.name, "warmup_steps": schedule.warmup_steps, "step_every": schedule.step_every,
         "gamma": schedule.gamma, "min_factor": schedule.min_factor}
    for step in range(total):
        assert namespace["lr_factor"](step, total, s) == lr_factor(step, total, schedule)
    reference_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    exported_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    reference = make_scheduler(reference_opt, schedule, total)
    exported = namespace["make_scheduler"](exported_opt, s, total)
    for _ in range(total):
        assert exported_opt.param_groups[0]["lr"] == reference_opt.param_groups[0]["lr"]
        reference_opt.step(), exported_opt.step()
        reference.step()
        if exported is not None:
            exported.step()


def test_every_loss_is_exported_and_computes_the_same_number():
    assert set(LOSS_CODE) == set(LOSSES)
    logits, targets = torch.randn(6, 10, generator=torch.Generator().manual_seed(0)), torch.arange(6)
    for name, code in LOSS_CODE.items():
        fn = _exec(f"fn = {code}")["fn"]
        for smoothing in (0.0, 0.2):
            assert torch.equal(fn(logits, targets, smoothing), compute_loss(name, logits, targets, smoothing))


@pytest.mark.parametrize("config", [
    TrainConfig(),
    TrainConfig(model="lenet5-classic", model_options=ModelOptions(dropout=0.3, batch_norm=True)),
    TrainConfig(model="mlp", model_options=ModelOptions(dropout=0.2)),
    TrainConfig(model="deep-mlp", model_options=ModelOptions(depth=3, width=32, batch_norm=True)),
    TrainConfig(model="custom", model_options=ModelOptions(layers=CUSTOM_SPECS)),
])
def test_model_class_gets_cnn_cores_weights_from_the_same_seed(config):
    data = load_dataset("mnist-5k", per_class=2)
    reference = build_initialized_model(config, data)
    namespace = _exec(model_class_code(config))
    torch.manual_seed(config.seed)
    exported = namespace["Net"]()
    ref_params, exp_params = list(reference.parameters()), list(exported.parameters())
    assert len(ref_params) == len(exp_params)
    assert all(torch.equal(a, b) for a, b in zip(ref_params, exp_params))
    x = data.train_x[:4]
    reference.eval(), exported.eval()
    torch.testing.assert_close(exported(x), reference(x))
    # the training layout on the CPU: the exported forward flattens a channels_last feature map too
    reference.to(memory_format=torch.channels_last), exported.to(memory_format=torch.channels_last)
    torch.testing.assert_close(exported(x), reference(x))


def test_the_script_holds_no_playground_import_and_compiles():
    source = training_script(TrainConfig(), "demo")
    assert "cnn_core" not in source
    compile(source, "demo.py", "exec")


def test_unexportable_configs_get_a_clear_message():
    with pytest.raises(InvalidConfig, match="cannot be exported"):
        training_script(TrainConfig(model="plain-cnn"))
    with pytest.raises(InvalidConfig, match="Nothing to export"):
        as_runs({})
    with pytest.raises(InvalidConfig, match="TrainConfig is needed"):
        as_runs({"a": "not a config"})
    with pytest.raises(InvalidConfig, match="Learning rate"):
        training_script(TrainConfig(optimizer=OptimizerConfig("adam", lr=-1.0)))
    assert math.isfinite(OptimizerConfig("adam").resolved_lr())
