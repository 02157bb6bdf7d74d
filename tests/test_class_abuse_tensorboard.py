"""TensorBoard on a class server: byte budgets, thinned histograms, a bounded incremental read-back, one process.

Logs are read back with TensorBoard's own EventAccumulator (keeping every event) as the reference.
"""
from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from cnn_core import TrainConfig, TrainingRun, load_dataset
from cnn_core.errors import PlaygroundError
from cnn_core.training.tensorboard import (MAX_HISTOGRAM_EPOCHS, MAX_POINTS_PER_TAG, LogBudget, LogReader,
                                           TensorBoardHost, TensorBoardLogger, folder_bytes, logged, new_session_id,
                                           read_notices, read_scalars, session_runs_dir)


def everything(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return events


@pytest.fixture(scope="module")
def data():
    return load_dataset(per_class=5)


def train_logged(run, folder, budget, epochs):
    with TensorBoardLogger(run, folder, budget=budget, graph=False, sample_images=0) as logger:
        records = list(logged(run.records(epochs), logger))
    return logger, records


def test_a_session_stays_within_its_budget_oldest_runs_first(tmp_path, data):
    session = session_runs_dir(new_session_id(), root=tmp_path)
    unlimited = LogBudget(10 * 2**20, 10 * 2**20)
    train_logged(TrainingRun(TrainConfig(per_class=5, epochs=4, batch_size=25), data), session / "old", unlimited, 4)
    one_run = folder_bytes(session / "old")
    budget = LogBudget(int(one_run * 1.5), 10 * 2**20)  # room for the old run and half of a new one
    run = TrainingRun(TrainConfig(per_class=5, epochs=12, batch_size=25, seed=1), data)
    logger, records = train_logged(run, session / "new", budget, 12)
    assert sum(r.kind == "epoch" for r in records) == 12  # training goes on whatever the log does
    assert not (session / "old").exists()  # the oldest run went first
    assert folder_bytes(session) <= budget.session_bytes
    notices = read_notices(session)
    assert notices and "old" in notices[0] and str(tmp_path) not in " ".join(notices)
    written = everything(session / "new").Scalars("epoch/val_loss")
    assert 1 <= len(written) <= 12 and [e.step for e in written] == list(range(1, len(written) + 1))


def test_the_total_budget_deletes_other_sessions_oldest_runs(tmp_path, data):
    a, b = session_runs_dir(new_session_id(), root=tmp_path), session_runs_dir(new_session_id(), root=tmp_path)
    unlimited = LogBudget(10 * 2**20, 10 * 2**20)
    train_logged(TrainingRun(TrainConfig(per_class=5, epochs=3, batch_size=25), data), a / "first", unlimited, 3)
    size = folder_bytes(a)
    budget = LogBudget(10 * 2**20, int(size * 1.5))
    train_logged(TrainingRun(TrainConfig(per_class=5, epochs=3, batch_size=25), data), b / "second", budget, 3)
    assert not (a / "first").exists() and (b / "second").exists()
    assert folder_bytes(a) + folder_bytes(b) <= budget.total_bytes


def test_a_long_run_writes_histograms_for_at_most_a_bounded_number_of_epochs(tmp_path, data):
    epochs = MAX_HISTOGRAM_EPOCHS * 2 + 3
    run = TrainingRun(TrainConfig(per_class=5, epochs=epochs, batch_size=50), data)
    train_logged(run, tmp_path / "long", LogBudget(50 * 2**20, 50 * 2**20), epochs)
    events = everything(tmp_path / "long")
    steps = [e.step for e in events.Histograms(events.Tags()["histograms"][0])]
    assert 2 <= len(steps) <= MAX_HISTOGRAM_EPOCHS and steps[0] == 1 and steps[-1] > epochs // 2
    assert len(events.Scalars("epoch/val_loss")) == epochs  # scalars are not thinned


def test_the_read_back_is_bounded_and_incremental(tmp_path):
    session = session_runs_dir(new_session_id(), root=tmp_path)
    with SummaryWriter(str(session / "many")) as writer:
        for step in range(1, 3001):
            writer.add_scalar("step/train_loss", 1.0 / step, step)
    reader = LogReader()
    scalars = read_scalars(session, reader=reader)
    truth = {e.step: e.value for e in everything(session / "many").Scalars("step/train_loss")}
    assert len(truth) == 3000 and len(scalars) == MAX_POINTS_PER_TAG
    assert all(truth[int(s)] == pytest.approx(v) for s, v in zip(scalars["step"], scalars["value"]))
    assert scalars["step"].max() == 3000  # the newest point is always kept
    first = reader.events(session / "many")
    with SummaryWriter(str(session / "many")) as writer:  # the run goes on: a new event file in the same run
        writer.add_scalar("step/train_loss", 0.0, 3001)
    assert reader.events(session / "many") is first  # the same reader, reloaded
    assert read_scalars(session, reader=reader)["step"].max() == 3001


class FakeBoard:
    """Stands in for a TensorBoard process: counts starts and stops."""

    started: list = []

    def __init__(self, logdir):
        self.logdir, self.url, self.alive = logdir, "http://127.0.0.1:1/", False

    def start(self):
        self.alive = True
        FakeBoard.started.append(self)

    def stop(self):
        self.alive = False

    def running(self):
        return self.alive


def test_one_tensorboard_per_server_stopped_when_its_session_ends_or_idles(tmp_path):
    FakeBoard.started = []
    alive = {"alice": True}
    host = TensorBoardHost(idle_s=60, board_factory=FakeBoard, check_every_s=3600)
    board = host.open("alice", tmp_path / "a", alive=lambda who: alive.get(who, False))
    with pytest.raises(PlaygroundError, match="another session"):
        host.open("bob", tmp_path / "b")
    assert host.open("alice", tmp_path / "a") is board and len(FakeBoard.started) == 1
    alive["alice"] = False
    assert host.reap() and not board.running() and host.board is None
    board = host.open("bob", tmp_path / "b", alive=lambda who: True)
    assert not host.reap(now=host._seen + 30) and host.reap(now=host._seen + 61) and not board.running()
    assert len(FakeBoard.started) == 2


def test_the_tab_plots_steps_and_epochs_on_their_own_axes_and_hides_server_paths(app_test, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_RUNS", str(tmp_path / "runs"))
    at = app_test("tests/apps/class_abuse_tb_axes.py", default_timeout=60).run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for kind in ("vega_lite_chart", "arrow_vega_lite_chart") for c in at.get(kind)]
    titles = {s["spec"]["encoding"]["x"]["title"] for s in specs if "facet" in s}
    assert titles == {"epoch", "step"}
    texts = [e.value for kind in ("markdown", "success", "caption", "info", "warning") for e in at.get(kind)]
    assert any("axes-run" in t for t in texts)
    assert not any(str(tmp_path) in t for t in texts)  # the server's folders are not shown
