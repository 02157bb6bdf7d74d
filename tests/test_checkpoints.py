"""Checkpoints: exact round trip, architecture mismatch, corrupt and malicious files."""
from __future__ import annotations

import io

import pytest
import torch

from cnn_core import (CheckpointError, ModelOptions, TrainConfig, TrainingRun, build_model, checkpoint_bytes,
                      load_checkpoint, load_dataset, load_weights_into, save_checkpoint)
from cnn_core.training.checkpoints import MAX_CHECKPOINT_BYTES


def test_round_trip_reproduces_predictions_exactly(tmp_path):
    data = load_dataset(per_class=10)
    config = TrainConfig(epochs=1, model_options=ModelOptions(batch_norm=True, dropout=0.2))
    run = TrainingRun(config, data)
    list(run.records())
    path = save_checkpoint(tmp_path / "m.pt", run.model, config.model, ModelOptions(batch_norm=True, dropout=0.2),
                           config=config, metrics={"val_acc": 0.5}, class_names=data.class_names,
                           input_shape=data.image_shape)
    loaded = load_checkpoint(path)
    run.model.eval()
    with torch.no_grad():
        assert torch.equal(run.model(data.test_x[:50]), loaded.model(data.test_x[:50]))
    assert loaded.metrics == {"val_acc": 0.5} and loaded.config["epochs"] == 1
    assert loaded.class_names == data.class_names and loaded.input_shape == (1, 28, 28)
    assert not loaded.model.training


def test_other_architecture_is_refused_with_the_layers_named():
    data = checkpoint_bytes(build_model("mlp"), "mlp", ModelOptions())
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(data, expected_model="lenet5-modern")
    assert "'mlp', not 'lenet5-modern'" in str(err.value) and "features.0.weight" in str(err.value)
    with pytest.raises(CheckpointError, match="another architecture"):
        load_weights_into(build_model("lenet5-modern"), data)


def test_same_name_but_different_shapes_names_the_mismatch():
    wide = checkpoint_bytes(build_model("plain-cnn", ModelOptions(width=8, depth=2)), "plain-cnn",
                            ModelOptions(width=8, depth=2))
    with pytest.raises(CheckpointError, match="different shapes: features.0.weight"):
        load_weights_into(build_model("plain-cnn", ModelOptions(width=16, depth=2)), wide)


class _WritesAFile:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_malicious_pickle_executes_nothing(tmp_path):
    target = tmp_path / "pwned.txt"
    buffer = io.BytesIO()
    torch.save({"meta_json": "{}", "state_dict": {}, "payload": _WritesAFile(str(target))}, buffer)
    with pytest.raises(CheckpointError, match="could run code"):
        load_checkpoint(buffer.getvalue())
    assert not target.exists()


@pytest.mark.parametrize("blob, fragment", [
    (b"", "empty"),
    (b"this is a text file named model.pt", "not a readable PyTorch checkpoint"),
])
def test_corrupt_files_get_a_message(blob, fragment):
    with pytest.raises(CheckpointError, match=fragment):
        load_checkpoint(blob)


def test_truncated_checkpoint_and_plain_state_dict():
    good = checkpoint_bytes(build_model("lenet5-modern"), "lenet5-modern", ModelOptions())
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(good[: len(good) // 2])
    buffer = io.BytesIO()
    torch.save(build_model("lenet5-modern").state_dict(), buffer)
    with pytest.raises(CheckpointError, match="not a CNN Playground checkpoint"):
        load_checkpoint(buffer.getvalue())


def test_size_limit(monkeypatch):
    monkeypatch.setattr("cnn_core.training.checkpoints.MAX_CHECKPOINT_BYTES", 1000)
    good = checkpoint_bytes(build_model("lenet5-modern"), "lenet5-modern", ModelOptions())
    with pytest.raises(CheckpointError, match="limit"):
        load_checkpoint(good)
    assert MAX_CHECKPOINT_BYTES > len(good)
