"""One RunStatus and one per-run summary; eval_mode() restoring every submodule; capture_forward(keep_graph=True)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnn_core import Record, RunStatus, TrainConfig, TrainingRun, epoch_records, load_dataset, summarize_run
from cnn_core.experiments.compare import summary_table
from cnn_core.experiments.tuning import trial_row
from cnn_core.inspect.hooks import capture_forward, eval_mode
from cnn_core.training import predict_logits, run_status


def epoch(n: int, val_acc: float, step: int, seconds: float = 1.0) -> Record:
    return Record("epoch", n, step, train_loss=1.0 / n, val_loss=1.5 / n, val_acc=val_acc, seconds=seconds)


HISTORY = [Record("step", 1, 1, train_loss=2.0), epoch(1, 0.5, 1), Record("step", 2, 2, train_loss=1.0),
           epoch(2, 0.7, 2), Record("step", 3, 3, train_loss=0.8), epoch(3, 0.6, 3, seconds=4.5)]


def test_status_from_records():
    assert run_status([]) == RunStatus.READY
    assert run_status(HISTORY) == RunStatus.FINISHED == run_status(HISTORY, planned_epochs=3)
    assert run_status(HISTORY, planned_epochs=5) == RunStatus.STOPPED
    assert run_status(HISTORY + [Record("diverged", 4, 3)], 5) == RunStatus.DIVERGED
    assert run_status(HISTORY + [Record("early_stop", 2, 3)], 5) == RunStatus.EARLY_STOPPED
    assert RunStatus.EARLY_STOPPED == "early_stopped" and RunStatus.EARLY_STOPPED.label == "early stopped"


def test_summary_of_a_run():
    summary = summarize_run(HISTORY, planned_epochs=3)
    assert [r.epoch for r in epoch_records(HISTORY)] == [1, 2, 3]
    assert summary.epochs == 3 and summary.best_epoch == 2 and summary.best_val_acc == 0.7
    assert summary.final_val_acc == 0.6 and summary.seconds == 4.5 and summary.diverged_step is None
    assert summary.final_gap == pytest.approx(1.5 / 3 - 1.0 / 3)
    diverged = summarize_run([Record("step", 1, 1), Record("diverged", 1, 1)])
    assert diverged.status == RunStatus.DIVERGED and diverged.diverged_step == 2 and math.isnan(diverged.final_val_acc)


def test_every_results_table_uses_the_same_status_words():
    config = TrainConfig(epochs=5)
    histories = {"full": HISTORY, "cut": HISTORY[:2]}
    table = summary_table(histories, planned={"full": 3, "cut": 3}).set_index("run")
    assert table.loc["full", "status"] == "finished" and table.loc["cut", "status"] == "stopped"
    assert trial_row(0, config, HISTORY)["status"] == "stopped"  # 3 of 5 planned epochs
    assert trial_row(0, config, HISTORY + [Record("early_stop", 2, 3)])["status"] == "early stopped"


def test_a_training_run_reports_its_status_as_a_runstatus():
    run = TrainingRun(TrainConfig(per_class=5, epochs=1, batch_size=25), load_dataset(per_class=5))
    assert run.status is RunStatus.READY
    records = run.records()
    next(records)
    assert run.status is RunStatus.RUNNING
    list(records)
    assert run.status is RunStatus.FINISHED


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_eval_mode_restores_every_submodules_own_flag_even_after_an_error():
    model = Net().train()
    model.body[1].eval()  # a frozen batch norm inside a training model (fine-tuning does this)
    before = {name: m.training for name, m in model.named_modules()}
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert {name: m.training for name, m in model.named_modules()} == before
    with pytest.raises(ZeroDivisionError), eval_mode(model):
        1 / 0
    assert {name: m.training for name, m in model.named_modules()} == before
    predict_logits(model, torch.randn(5, 4))
    assert {name: m.training for name, m in model.named_modules()} == before


def test_capture_forward_keep_graph_gives_the_gradient_of_the_loss_at_each_output():
    torch.manual_seed(0)
    model = Net().eval()
    x = torch.randn(8, 4)
    with capture_forward(model, ["body.0", "body.2"], eval_mode=False, keep_graph=True) as calls:
        loss = model(x).pow(2).sum()
        loss.backward()
    hidden = {call.name: call.output for call in calls}
    # Reference, by hand with autograd: the same forward pass, the gradient w.r.t. each intermediate.
    pre = model.body[0](x)
    post = model.body[2](model.body[1](pre))
    ref_pre, ref_post = torch.autograd.grad(model.head(model.body[3](post)).pow(2).sum(), [pre, post])
    assert torch.allclose(hidden["body.0"].grad, ref_pre) and torch.allclose(hidden["body.2"].grad, ref_post)
    assert hidden["body.0"].requires_grad  # kept with its graph, not detached
    with capture_forward(model, ["body.0"]) as detached:
        model(x)
    assert not detached[0].output.requires_grad


def test_the_train_page_decodes_an_uploaded_checkpoint_once_per_file(monkeypatch):
    """Issue 13: the Train page decoded the uploaded file again on every rerun."""
    from cnn_core import ModelOptions, build_model, checkpoint_bytes
    from pages.train import tabs as train_tabs
    from tests.helpers import make_app_test

    decoded = []
    real = train_tabs.load_checkpoint
    monkeypatch.setattr(train_tabs, "load_checkpoint", lambda raw: decoded.append(len(raw)) or real(raw))
    payload = checkpoint_bytes(build_model("mlp"), "mlp", ModelOptions(), config=TrainConfig(model="mlp"))
    at = make_app_test("pages/8_Train.py", default_timeout=120).run()
    at.file_uploader(key="tr_upload").set_value(("mlp.pt", payload, "application/octet-stream")).run()
    at.number_input(key="tr_more").set_value(2).run()  # two more reruns with the same upload
    at.run()
    assert not at.exception and any("MLP" in s.value for s in at.success)
    assert decoded == [len(payload)]
    at.file_uploader(key="tr_upload").set_value(("junk.pt", b"not a checkpoint", "application/octet-stream")).run()
    at.run()
    assert decoded == [len(payload), len(b"not a checkpoint")]  # a refused file is not decoded again either
    assert any("not a readable PyTorch checkpoint" in e.value for e in at.error)
