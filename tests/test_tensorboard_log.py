"""TensorBoard logs written from a run's records, read back with TensorBoard's own event reader."""
from __future__ import annotations

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cnn_core import TrainConfig, TrainingRun, load_dataset
from cnn_core.training.tensorboard import (TensorBoardLogger, logged, runs_dir, tensorboard_command,
                                           train_with_tensorboard)

EVERYTHING = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}


@pytest.fixture(scope="module")
def data():
    return load_dataset(per_class=20)


def read(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance=EVERYTHING)
    events.Reload()
    return events


def test_log_holds_scalars_histograms_images_graph_and_hparams(tmp_path, data):
    run = TrainingRun(TrainConfig(per_class=20, epochs=2, batch_size=32), data)
    folder = tmp_path / "run1"
    with TensorBoardLogger(run, folder) as logger:
        records = list(logged(run.records(), logger))
    events = read(folder)
    tags = events.Tags()
    steps = [r for r in records if r.kind == "step"]
    epochs = [r for r in records if r.kind == "epoch"]
    assert {"step/train_loss", "step/lr", "step/grad_norm", "epoch/train_loss", "epoch/val_loss",
            "epoch/val_accuracy", "hparam/test_accuracy"} <= set(tags["scalars"])
    logged_losses = events.Scalars("step/train_loss")
    assert [e.step for e in logged_losses] == [r.step for r in steps] == list(range(1, run.step + 1))
    assert [e.value for e in logged_losses] == pytest.approx([r.train_loss for r in steps], rel=1e-6)
    val_acc = events.Scalars("epoch/val_accuracy")
    assert [(e.step, e.value) for e in val_acc] == [(r.epoch, pytest.approx(r.val_acc, rel=1e-6)) for r in epochs]
    names = [name for name, _ in run.model.named_parameters()]
    assert set(tags["histograms"]) == {f"{kind}/{n}" for kind in ("weights", "gradients") for n in names}
    assert len(events.Histograms("weights/features.0.weight")) == 2  # one per epoch
    assert tags["images"] == ["samples"] and tags["graph"] is True
    assert events.Scalars("hparam/test_accuracy")[0].value == pytest.approx(run.test_metrics()[1], rel=1e-6)
    hparams = events.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    assert b"batch_size" in hparams["_hparams_/session_start_info"]


def test_logging_leaves_the_records_unchanged_and_continue_appends(tmp_path, data):
    config = TrainConfig(per_class=20, epochs=1, batch_size=50)
    plain = [(r.kind, r.step, r.train_loss) for r in TrainingRun(config, data).records()]
    run = TrainingRun(config, data)
    folder = tmp_path / "run2"
    first = [(r.kind, r.step, r.train_loss) for r in train_with_tensorboard(run, log_dir=folder)]
    assert first == plain
    list(train_with_tensorboard(run, epochs=1, log_dir=folder))  # continue training: same folder
    events = read(folder)
    # two event files (first run, then the continuation): TensorBoard orders points by step, not by file
    assert sorted(e.step for e in events.Scalars("epoch/val_loss")) == [1, 2]
    assert len(events.Scalars("step/train_loss")) == run.step == 8


def test_runs_folder_from_environment_and_command(tmp_path, monkeypatch, data):
    monkeypatch.setenv("CNN_PLAYGROUND_RUNS", str(tmp_path / "my runs"))
    assert runs_dir() == tmp_path / "my runs"
    assert tensorboard_command() == f'tensorboard --logdir "{tmp_path / "my runs"}"'
    run = TrainingRun(TrainConfig(per_class=20, epochs=1, batch_size=100), data)
    logger = TensorBoardLogger(run, graph=False, histograms=False)
    assert logger.log_dir.parent == tmp_path / "my runs" and "lenet5-modern-adam-lr0.001-seed0" in logger.log_dir.name
    for record in logged(run.records(), logger):
        pass
    logger.close()
    logger.close()  # closing twice is harmless
    tags = read(logger.log_dir).Tags()
    assert tags["graph"] is False and not tags["histograms"] and tags["scalars"]
    monkeypatch.delenv("CNN_PLAYGROUND_RUNS")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNN_PLAYGROUND_DATA", str(tmp_path / "data"))
    assert runs_dir() == tmp_path / "data" / "tensorboard"  # the data folder, never ./runs in the cwd
