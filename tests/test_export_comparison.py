"""A comparison (a dict of configs, as the Optimizers / Weight init / Regularization / Tuning pages build it)
exports as one script that trains each run after the other and prints the records TrainingRun gives."""
from __future__ import annotations

from dataclasses import replace

import pytest

from cnn_core import ModelOptions, OptimizerConfig, ScheduleConfig, TrainConfig
from cnn_core.experiments.compare import optimizer_configs
from cnn_core.experiments.regularization import variant_configs
from cnn_core.export import training_script
from tests.test_export_script import SMALL, assert_reproduces, run_script


def _optimizer_race() -> dict[str, TrainConfig]:
    return optimizer_configs(SMALL, [OptimizerConfig(n) for n in ("sgd", "momentum", "adam")], ScheduleConfig())


@pytest.mark.slow
def test_exported_comparison_reproduces_every_run(tmp_path):
    configs = _optimizer_race()
    # a run with another architecture and seed: its own model class and its own seeded stream
    configs["dropout, seed 3"] = replace(SMALL, seed=3, model_options=ModelOptions(dropout=0.25))
    source = training_script(configs, "comparison")
    assert "cnn_core" not in source and source.count("class Net") == 2
    printed = run_script(source, tmp_path, "comparison")
    assert [p.label for p in printed] == list(configs)
    for run, config in zip(printed, configs.values()):
        assert_reproduces(run, config)


def test_regularization_and_init_comparisons_export():
    base = replace(SMALL, model="lenet5-modern")
    regularization = variant_configs(base, ["none", "dropout", "batch-norm", "l2-penalty", "early-stopping", "augment"])
    inits = {scheme: replace(SMALL, init=scheme) for scheme in ("xavier-uniform", "kaiming-normal-fan-in", "zeros")}
    for configs in (regularization, inits):
        source = training_script(configs, "comparison")
        compile(source, "comparison.py", "exec")
        assert all(repr(label) in source for label in configs)
    assert 'scheme == "zeros"' in training_script(inits)
