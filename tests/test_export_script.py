"""An exported script, run as a fresh `python3 script.py`, prints the records cnn_core's TrainingRun gives."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cnn_core import (AugmentConfig, ModelOptions, OptimizerConfig, RegularizationConfig, ScheduleConfig,
                      TrainConfig, TrainingRun)
from cnn_core.export import training_script
from cnn_core.export.records import PrintedRun, parse_records
from tests.test_export_parts import CUSTOM_SPECS

# 1 epoch on 16 images per class in batches of 8: 20 optimizer steps, then validation on 500 images
SMALL = TrainConfig(epochs=1, per_class=16, batch_size=8)
FIRST_STEPS = 20


def run_script(source: str, folder: Path, name: str = "export") -> list[PrintedRun]:
    """Write the script to a folder, run it in a fresh interpreter there and parse what it printed."""
    path = folder / f"{name}.py"
    path.write_text(source)
    # the same number of torch threads as this process: batch norm and matrix products sum in another order
    # on another thread count, which moves the losses by float rounding (~1e-5 relative after a few steps)
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    done = subprocess.run([sys.executable, path.name], cwd=folder, capture_output=True, text=True, timeout=900,
                          env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return parse_records(done.stdout)


def assert_reproduces(printed: PrintedRun, config: TrainConfig) -> None:
    """The first 20 losses equal TrainingRun's to 1e-5 relative, the final validation accuracy is equal."""
    records = list(TrainingRun(config).records())
    losses = [r.train_loss for r in records if r.kind == "step"]
    epochs = [r for r in records if r.kind == "epoch"]
    assert len(printed.losses) == len(losses) >= min(FIRST_STEPS, len(losses))
    for mine, theirs in zip(printed.losses[:FIRST_STEPS], losses[:FIRST_STEPS]):
        assert math.isclose(mine, theirs, rel_tol=1e-5), (printed.losses[:FIRST_STEPS], losses[:FIRST_STEPS])
    assert printed.val_accuracy == epochs[-1].val_acc
    assert len(printed.epochs) == len(epochs)


VARIANTS = {
    "train-default": SMALL,
    "sgd": replace(SMALL, optimizer=OptimizerConfig("sgd")),
    "momentum-step-schedule": replace(SMALL, optimizer=OptimizerConfig("momentum"),
                                      schedule=ScheduleConfig("step", step_every=5, gamma=0.5)),
    "adamw-cosine-warmup": replace(SMALL, optimizer=OptimizerConfig("adamw"),
                                   schedule=ScheduleConfig("cosine", warmup_steps=4)),
    "onecycle": replace(SMALL, schedule=ScheduleConfig("onecycle")),
    "dropout-batchnorm-l2": replace(SMALL, model_options=ModelOptions(dropout=0.3, batch_norm=True),
                                    regularization=RegularizationConfig(l2_penalty=1e-3)),
    "classic-xavier-l1-smoothing-clip": replace(
        SMALL, model="lenet5-classic", init="xavier-uniform-gain", max_grad_norm=1.0,
        regularization=RegularizationConfig(l1=1e-4, label_smoothing=0.1)),
    "mlp-kaiming-nesterov": replace(SMALL, model="mlp", init="kaiming-normal-fan-in",
                                    optimizer=OptimizerConfig("nesterov", weight_decay=1e-4)),
    # a network from the Architecture page that flattens a 16 x 5 x 5 map (channels_last: reshape, not view)
    "custom-architecture": replace(SMALL, model="custom", model_options=ModelOptions(layers=CUSTOM_SPECS)),
    # 2 epochs of 10 steps: augmentation and early stopping across an epoch boundary
    "augment-early-stopping": replace(SMALL, epochs=2, per_class=8, regularization=RegularizationConfig(
        early_stopping_patience=1, augment=AugmentConfig(shift=2, rotate=10.0))),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VARIANTS))
def test_exported_script_reproduces_the_apps_records(name, tmp_path):
    config = VARIANTS[name]
    source = training_script(config, name)
    assert "cnn_core" not in source
    (printed,) = run_script(source, tmp_path, name)
    assert printed.label == config.optimizer.label()
    assert_reproduces(printed, config)
    assert (tmp_path / f"{name}_curves.png").stat().st_size > 0
