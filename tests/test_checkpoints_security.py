"""Checkpoints of the Train page: exact round trip, restore, and files that must be refused (page and core)."""
from __future__ import annotations

import io

import pytest
import torch

from cnn_core import (CheckpointError, ModelOptions, TrainConfig, TrainingRun, build_model, checkpoint_bytes,
                      load_checkpoint, load_dataset)
from cnn_core.training.checkpoints import run_checkpoint_bytes
from cnn_core.training.loop import restore_run
from cnn_core.training.optimizers import ScheduleConfig

PAGE = "pages/8_Train.py"


class _CreatesAFile:
    """Unpickling this would call open(path, 'w'): a file appears if the loader runs code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def malicious_checkpoint(target) -> bytes:
    buffer = io.BytesIO()
    torch.save({"meta_json": "{}", "state_dict": {}, "x": _CreatesAFile(str(target))}, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def data():
    return load_dataset(per_class=20)


@pytest.fixture(scope="module")
def trained(data):
    config = TrainConfig(per_class=20, epochs=2, batch_size=50, schedule=ScheduleConfig("step", step_every=3),
                         model_options=ModelOptions(batch_norm=True, dropout=0.2))
    run = TrainingRun(config, data)
    list(run.records())
    return run


def test_round_trip_reproduces_the_logits_exactly(trained, data):
    raw = run_checkpoint_bytes(trained, {"test_accuracy": 0.5})
    loaded = load_checkpoint(raw, expected_model="lenet5-modern")
    trained.model.eval()
    with torch.no_grad():
        assert torch.equal(trained.model(data.test_x), loaded.model(data.test_x))
    assert loaded.metrics["epochs"] == 2 and loaded.metrics["test_accuracy"] == 0.5
    assert [r["epoch"] for r in loaded.metrics["history"]] == [1, 2]


def test_restored_run_continues_where_it_stopped(trained, data):
    restored = restore_run(load_checkpoint(run_checkpoint_bytes(trained)), data)
    assert restored.config == trained.config
    assert (restored.epoch, restored.step) == (trained.epoch, trained.step) == (2, 8)
    assert len(restored.history) == 2 and restored.history[-1].val_acc == trained.history[-1].val_acc
    # the step schedule resumes: 8 steps done with gamma 0.5 every 3 steps -> factor 0.25
    assert restored.optimizer.param_groups[0]["lr"] == pytest.approx(trained.optimizer.param_groups[0]["lr"])
    assert restored.optimizer.param_groups[0]["lr"] == pytest.approx(0.001 * 0.25)
    records = list(restored.records(1))
    assert records[-1].kind == "epoch" and records[-1].epoch == 3 and restored.step == 12


def test_malicious_pickle_runs_nothing_in_load_checkpoint(tmp_path):
    target = tmp_path / "pwned.txt"
    with pytest.raises(CheckpointError, match="could run code"):
        load_checkpoint(malicious_checkpoint(target))
    assert not target.exists()


def _upload(app_test, name: str, payload: bytes):
    at = app_test(PAGE, default_timeout=120).run()
    at.file_uploader(key="tr_upload").set_value((name, payload, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_malicious_pickle_is_refused_by_the_page(app_test, tmp_path):
    target = tmp_path / "pwned-by-page.txt"
    at = _upload(app_test, "evil.pt", malicious_checkpoint(target))
    assert not target.exists()
    assert any("could run code" in e.value for e in at.error), [e.value for e in at.error]
    assert not [b for b in at.button if b.key == "tr_restore"]  # nothing to restore from


@pytest.mark.parametrize("kind, message", [
    ("empty", "The checkpoint file is empty"),
    ("truncated", "not a readable PyTorch checkpoint"),
    ("text", "not a readable PyTorch checkpoint"),
])
def test_empty_and_corrupt_files_are_refused_by_the_page(app_test, trained, kind, message):
    good = run_checkpoint_bytes(trained)
    payload = {"empty": b"", "truncated": good[: len(good) // 2], "text": b"hello, I am not a checkpoint"}[kind]
    at = _upload(app_test, "broken.pt", payload)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_other_architecture_is_refused_when_loading_weights(app_test):
    mlp = checkpoint_bytes(build_model("mlp"), "mlp", ModelOptions(), config=TrainConfig(model="mlp"))
    at = _upload(app_test, "mlp.pt", mlp)
    assert any("MLP" in s.value for s in at.success)  # a valid checkpoint: its summary is shown
    at.number_input(key="tr_per_class").set_value(20).run()
    at.button(key="tr_warm").click().run()  # the sidebar's model is LeNet-5
    assert any("another architecture" in e.value and "features.0.weight" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert "train_run" not in at.session_state
