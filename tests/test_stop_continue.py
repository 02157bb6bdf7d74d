"""Stop in the middle of an epoch, then Continue: epochs are numbered 1, 2, 3, 4 and the run equals an unbroken one."""
from __future__ import annotations

import pytest
import torch

from cnn_core import OptimizerConfig, TrainConfig, TrainingRun, load_dataset
from cnn_core.training.checkpoints import load_checkpoint, run_checkpoint_bytes


@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist-5k", per_class=20)  # 140 training images: 5 steps per epoch at batch 32


def _config() -> TrainConfig:
    return TrainConfig(model="mlp", epochs=4, batch_size=32, optimizer=OptimizerConfig("adam"), seed=4)


def test_stop_mid_epoch_then_continue_keeps_the_numbering_and_the_numbers(small):
    whole = TrainingRun(_config(), small)
    reference = [r for r in whole.records() if r.kind == "epoch"]
    run = TrainingRun(_config(), small)
    stopped = []
    for record in run.records():          # the page's Stop: the consumer stops iterating mid-epoch 3
        stopped.append(record)
        if record.kind == "step" and record.epoch == 3 and record.step == 2 * run.steps_per_epoch + 2:
            break
    assert run.epoch == 2                 # two epochs finished; the third is half done
    checkpoint = load_checkpoint(run_checkpoint_bytes(run))
    assert checkpoint.metrics["epochs"] == len([r for r in run.history if r.kind == "epoch"]) == 2
    rest = list(run.records(2))           # Continue for the 2 epochs left: finish epoch 3, then epoch 4
    epochs = [r for r in stopped + rest if r.kind == "epoch"]
    assert [r.epoch for r in epochs] == [1, 2, 3, 4]
    steps = [r for r in stopped + rest if r.kind == "step"]
    assert [r.step for r in steps] == list(range(1, 4 * run.steps_per_epoch + 1))
    assert [r.epoch for r in steps[2 * run.steps_per_epoch:3 * run.steps_per_epoch]] == [3] * run.steps_per_epoch
    # the same batches in the same order: the broken run equals the unbroken one
    assert [r.val_loss for r in epochs] == pytest.approx([r.val_loss for r in reference], rel=1e-6)
    assert [r.train_loss for r in epochs] == pytest.approx([r.train_loss for r in reference], rel=1e-6)
    for a, b in zip(run.model.parameters(), whole.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert run.epoch == 4 and load_checkpoint(run_checkpoint_bytes(run)).metrics["epochs"] == 4


def test_stop_right_after_an_epoch_starts_the_next_one(small):
    run = TrainingRun(_config(), small)
    for record in run.records():
        if record.kind == "epoch":
            break
    assert run.epoch == 1
    assert [r.epoch for r in run.records(1) if r.kind == "epoch"] == [2]
