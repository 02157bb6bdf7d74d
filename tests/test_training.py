"""Training loop: falling loss, reproducibility, divergence, early stopping, continuation, configs."""
from __future__ import annotations

import math

import pytest
import torch

from cnn_core import (InvalidConfig, OptimizerConfig, RegularizationConfig, TrainConfig, TrainingRun, evaluate,
                      load_dataset, records_to_frame, train)
from cnn_core.experiments.compare import compare
from cnn_core.training.optimizers import ScheduleConfig, lr_factor


@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist-5k", per_class=30)  # 300 training images


def test_loss_falls_over_a_few_steps(small):
    records = [r for r in train(TrainConfig(epochs=4, batch_size=32), small) if r.kind == "step"]
    first = sum(r.train_loss for r in records[:3]) / 3
    last = sum(r.train_loss for r in records[-3:]) / 3
    assert first > 2.0  # about ln(10) = 2.30 for an untrained 10-class model
    assert last < first - 0.5
    assert all(math.isfinite(r.grad_norm) and r.grad_norm > 0 for r in records)


def test_records_per_step_and_epoch(small):
    run = TrainingRun(TrainConfig(epochs=2, batch_size=64), small)
    records = list(run.records())
    steps = [r for r in records if r.kind == "step"]
    epochs = [r for r in records if r.kind == "epoch"]
    assert len(steps) == 2 * math.ceil(300 / 64) and len(epochs) == 2
    assert [r.step for r in steps] == list(range(1, len(steps) + 1))
    assert 0 <= epochs[-1].val_acc <= 1 and epochs[-1].epoch_seconds > 0
    assert run.status == "finished"
    frame = records_to_frame(records, "a")
    assert list(frame.columns) == ["run", "epoch", "step", "split", "metric", "value"]
    assert set(frame["split"]) == {"train_step", "train", "val"}


def test_same_seed_same_records_other_seed_differs(small):
    config = TrainConfig(epochs=1, batch_size=50, model_options=TrainConfig().model_options.__class__(dropout=0.3))
    strip = lambda rs: [(r.kind, r.train_loss, r.val_loss, r.grad_norm) for r in rs]  # noqa: E731
    a = strip(train(config, small))
    b = strip(train(config, small))
    c = strip(train(TrainConfig(epochs=1, batch_size=50, seed=1,
                                model_options=config.model_options), small))
    assert a == b
    assert a != c


def test_interleaved_runs_equal_solo_runs(small):
    configs = {"adam": TrainConfig(epochs=1), "sgd": TrainConfig(epochs=1, optimizer=OptimizerConfig("sgd"))}
    together = {label: [] for label in configs}
    for label, record in compare(configs, small, steps_per_turn=2):
        together[label].append(record.train_loss)
    for label, config in configs.items():
        solo = [r.train_loss for r in train(config, small)]
        assert together[label] == solo


def test_exploding_learning_rate_gives_a_diverged_record(small):
    run = TrainingRun(TrainConfig(epochs=3, optimizer=OptimizerConfig("sgd", lr=50.0)), small)
    records = list(run.records())
    assert records[-1].kind == "diverged" and "Diverged" in records[-1].message
    assert run.status == "diverged"
    assert len(records) < 3 * 5  # it stopped early instead of running all epochs
    assert list(run.records()) == []  # a diverged run does not continue


def test_continue_training_resumes_the_same_run(small):
    run = TrainingRun(TrainConfig(epochs=1), small)
    list(run.records())
    steps_after_one = run.step
    more = list(run.records(epochs=1))
    assert run.epoch == 2 and run.step == 2 * steps_after_one
    assert more[0].step == steps_after_one + 1


def test_early_stopping_restores_the_best_weights(small):
    config = TrainConfig(epochs=40, optimizer=OptimizerConfig("adam", lr=3e-3),
                         regularization=RegularizationConfig(early_stopping_patience=2))
    run = TrainingRun(config, small)
    records = list(run.records())
    stop = records[-1]
    assert stop.kind == "early_stop" and run.status == "early_stopped"
    epochs = [r for r in records if r.kind == "epoch"]
    best = min(epochs, key=lambda r: r.val_loss)
    assert stop.epoch == best.epoch and len(epochs) == best.epoch + 2
    val_loss, _ = evaluate(run.model, small.val_x, small.val_y)
    assert val_loss == pytest.approx(best.val_loss, rel=1e-5)


def test_lenet5_reaches_95_percent_test_accuracy_in_10_epochs():
    run = TrainingRun(TrainConfig(model="lenet5-modern", epochs=10, seed=0))
    for _ in run.records():
        pass
    _, accuracy = run.test_metrics()
    assert accuracy >= 0.95


@pytest.mark.parametrize("bad", [
    dict(batch_size=0), dict(epochs=0), dict(model="nope"), dict(loss="nope"), dict(init="nope"),
    dict(model="convnet-lecture"), dict(regularization=RegularizationConfig(l1=-1.0)),
    dict(regularization=RegularizationConfig(early_stopping_patience=0)),
])
def test_invalid_configs_raise_typed_errors(bad):
    with pytest.raises(InvalidConfig):
        TrainConfig(**bad).validate()


def test_invalid_learning_rate_is_refused(small):
    with pytest.raises(InvalidConfig, match="Learning rate"):
        TrainingRun(TrainConfig(optimizer=OptimizerConfig("adam", lr=-1.0)), small)


def test_schedules_and_warmup():
    assert lr_factor(0, 100, ScheduleConfig("none")) == 1.0
    warm = ScheduleConfig("cosine", warmup_steps=10)
    assert [round(lr_factor(s, 110, warm), 2) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert lr_factor(10, 110, warm) == pytest.approx(1.0) and lr_factor(109, 110, warm) < 0.01
    assert lr_factor(250, 1000, ScheduleConfig("step", step_every=100, gamma=0.5)) == 0.25
    onecycle = [lr_factor(s, 100, ScheduleConfig("onecycle")) for s in range(100)]
    assert max(onecycle) == pytest.approx(1.0, abs=0.01) and onecycle.index(max(onecycle)) == 29  # torch's OneCycleLR


def test_scheduler_drives_the_optimizer_lr(small):
    config = TrainConfig(epochs=1, optimizer=OptimizerConfig("sgd", lr=0.1), schedule=ScheduleConfig("step", step_every=2, gamma=0.5))
    lrs = [r.lr for r in train(config, small) if r.kind == "step"]
    assert lrs[:5] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_l1_penalty_and_augmentation_run(small):
    from cnn_core import AugmentConfig
    config = TrainConfig(epochs=1, regularization=RegularizationConfig(
        l1=1e-4, l2_penalty=1e-4, label_smoothing=0.1, augment=AugmentConfig(shift=2, rotate=10)))
    records = list(train(config, small))
    assert records[-1].kind == "epoch" and math.isfinite(records[-1].val_loss)


def test_device_auto_is_cpu_here_or_cuda_when_present():
    from cnn_core import pick_device
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu").type == "cpu"
