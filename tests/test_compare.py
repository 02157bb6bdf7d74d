"""Side-by-side comparisons: identical start and batches, divergence of one run, labels, schedules, summary."""
from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
import torch

from cnn_core import TrainConfig, TrainingRun, load_dataset
from cnn_core.errors import InvalidConfig
from cnn_core.experiments.compare import (compare, interleave, lr_schedule_frame, make_runs, optimizer_configs,
                                          summary_table, unique_labels)
from cnn_core.training import Record
from cnn_core.training.optimizers import ScheduleConfig, configure, lr_factor

BASE = TrainConfig(per_class=20, epochs=2, batch_size=50, seed=3, device="cpu")  # 200 images: 4 steps per epoch


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist-5k", per_class=20)


def test_all_runs_start_from_identical_weights_and_see_identical_batches(data, monkeypatch):
    seen: dict[int, dict] = {}
    original = TrainingRun._train_step

    def spy(self, x, y):
        entry = seen.setdefault(id(self), {"batches": [], "weights": None})
        if entry["weights"] is None:  # the weights the first step starts from
            entry["weights"] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        entry["batches"].append((x.detach().clone(), y.detach().clone()))
        return original(self, x, y)

    monkeypatch.setattr(TrainingRun, "_train_step", spy)
    configs = optimizer_configs(BASE, [configure("sgd"), configure("adam"), configure("rmsprop", 0.002)])
    runs = make_runs(configs, data)
    for _label, _record in interleave(runs, steps_per_turn=3):
        pass
    assert len(seen) == 3
    entries = list(seen.values())
    first = entries[0]
    assert len(first["batches"]) == 2 * math.ceil(200 / 50)
    for other in entries[1:]:
        assert other["weights"].keys() == first["weights"].keys()
        assert all(torch.equal(other["weights"][k], first["weights"][k]) for k in first["weights"])
        assert len(other["batches"]) == len(first["batches"])
        for (xa, ya), (xb, yb) in zip(first["batches"], other["batches"]):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # ... and the optimizers really differ: after training the weights are no longer equal.
    final = [next(run.model.parameters()).detach() for run in runs.values()]
    assert not torch.equal(final[0], final[1]) and not torch.equal(final[1], final[2])


def test_a_diverging_run_gets_a_diverged_record_while_the_others_finish(data):
    configs = optimizer_configs(BASE, [configure("sgd", 10.0), configure("adam"), configure("sgd", 0.05)])
    histories = {label: [] for label in configs}
    for label, record in compare(configs, data):
        histories[label].append(record)
    wild, adam, sgd = configs
    assert histories[wild][-1].kind == "diverged" and "Diverged" in histories[wild][-1].message
    assert sum(r.kind == "step" for r in histories[wild]) < 8
    for label in (adam, sgd):
        assert [r.epoch for r in histories[label] if r.kind == "epoch"] == [1, 2]
        assert sum(r.kind == "step" for r in histories[label]) == 8
    table = summary_table(histories, target_loss=2.0).set_index("run")
    assert table.loc[wild, "status"] == "diverged" and math.isnan(table.loc[wild, "final_val_acc"])
    assert table.loc[adam, "status"] == "finished"
    # 8 steps of plain SGD at lr 0.05 may still be at chance: then it is flagged, with the reason
    at_chance = abs(table.loc[sgd, "final_val_acc"] - 0.1) <= 0.05
    assert table.loc[sgd, "status"] == ("not learning" if at_chance else "finished")
    assert 0 <= table.loc[adam, "final_val_acc"] <= 1


def test_labels_are_generated_and_unique():
    labels = unique_labels([configure("sgd"), configure("sgd"), configure("sgd", 0.1),
                            configure("momentum", momentum=0.95), configure("adamw", weight_decay=0.0)])
    assert labels == ["SGD lr=0.05", "SGD lr=0.05 #2", "SGD lr=0.1", "SGD + momentum lr=0.02 μ=0.95",
                      "AdamW lr=0.001 wd=0"]


def test_optimizer_configs_change_only_the_optimizer_and_schedule():
    schedule = ScheduleConfig("cosine", warmup_steps=2)
    configs = optimizer_configs(BASE, [configure("sgd"), configure("adam")], schedule)
    for cfg in configs.values():
        assert cfg.schedule == schedule
        assert replace(cfg, optimizer=BASE.optimizer, schedule=BASE.schedule) == BASE
    with pytest.raises(InvalidConfig):
        optimizer_configs(BASE, [configure("sgd")] * 7)


def test_planned_schedule_matches_the_rates_used_in_training(data):
    schedule = ScheduleConfig("step", warmup_steps=2, step_every=3, gamma=0.5)
    configs = optimizer_configs(BASE, [configure("sgd", 0.1), configure("adam", 0.01)], schedule)
    planned = lr_schedule_frame(configs, len(data.train_y))
    assert len(planned) == 2 * 8
    for label, record in compare(configs, data):
        if record.kind == "step":
            row = planned[(planned["run"] == label) & (planned["step"] == record.step)]
            assert row["lr"].item() == pytest.approx(record.lr)
    adam = planned[planned["run"] == "Adam lr=0.01"]["lr"].tolist()
    assert adam[:3] == pytest.approx([0.005, 0.01, 0.01]) and adam[5] == pytest.approx(0.005)
    assert adam == pytest.approx([0.01 * lr_factor(s, 8, schedule) for s in range(8)])


def test_steps_to_target_uses_the_smoothed_loss():
    losses = [3.0, 1.0, 0.4, 2.0, 0.3]
    records = [Record("step", 1, i + 1, train_loss=v) for i, v in enumerate(losses)]
    assert summary_table({"a": records}, target_loss=0.5)["steps_to_target"].item() == 3
    # EMA with weight 0.5: 3, 2, 1.2, 1.6, 0.95: never at or below 0.5
    assert summary_table({"a": records}, target_loss=0.5, smoothing=0.5)["steps_to_target"].item() is None
    assert summary_table({"a": records}, target_loss=1.0, smoothing=0.5)["steps_to_target"].item() == 5


def test_run_times_count_only_each_runs_own_computing(data):
    configs = optimizer_configs(replace(BASE, epochs=1), [configure("sgd"), configure("adam")])
    last: dict[str, float] = {}
    start = time.perf_counter()
    for label, record in compare(configs, data, steps_per_turn=1):
        assert record.seconds >= last.get(label, 0.0)
        last[label] = record.seconds
    wall = time.perf_counter() - start
    # Taking turns: each run's own time is a share of the wall time, not the whole of it.
    assert sum(last.values()) <= wall * 1.02 + 0.01
