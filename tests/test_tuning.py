"""LR range test and grid / random search."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cnn_core import InvalidConfig, OptimizerConfig, TrainConfig, TrainingRun, load_dataset
from cnn_core.experiments.tuning import (grid_configs, lr_range_points, lr_range_test, random_configs, results_frame,
                                         run_trials, search)


@pytest.fixture(scope="module")
def data():
    return load_dataset(per_class=100)


def test_lr_range_test_suggests_a_rate_that_trains(data):
    base = TrainConfig(per_class=100, optimizer=OptimizerConfig("adam"))
    result = lr_range_test(base, data, min_lr=1e-5, max_lr=1.0, steps=100)
    lrs = result.frame["lr"].to_numpy()
    assert lrs[0] == pytest.approx(1e-5)
    ratios = lrs[1:] / lrs[:-1]
    assert np.allclose(ratios, (1.0 / 1e-5) ** (1 / 99), rtol=1e-6)  # exponential growth, one factor per step
    assert 1e-5 < result.suggested_lr < 1.0
    assert result.suggested_lr == pytest.approx(result.min_loss_lr / 10)
    # a short training at the suggested rate lowers the loss clearly below a uniform guess (ln 10)
    run = TrainingRun(TrainConfig(per_class=100, epochs=2, optimizer=OptimizerConfig("adam", lr=result.suggested_lr)),
                      data)
    records = list(run.records())
    epochs = [r for r in records if r.kind == "epoch"]
    assert run.status == "finished"
    assert epochs[-1].val_loss < 0.8 * math.log(10)
    assert epochs[-1].val_loss < epochs[0].val_loss


def test_range_test_stops_when_the_loss_explodes(data):
    # tanh LeNet-5 with plain SGD: the loss blows up (NaN) once the rate passes about 2
    config = TrainConfig(model="lenet5-classic", per_class=100, optimizer=OptimizerConfig("sgd"))
    points = list(lr_range_points(config, data, min_lr=1e-3, max_lr=10.0, steps=100))
    assert len(points) < 100 and points[-1].lr < 10.0
    last = points[-1]
    best = min(p.smoothed for p in points if math.isfinite(p.smoothed))
    assert not math.isfinite(last.smoothed) or last.smoothed > 4 * best
    result = lr_range_test(config, data, min_lr=1e-3, max_lr=10.0, steps=100)
    assert result.stop_reason == "exploded" and len(result.frame) == len(points)
    assert 1e-3 < result.suggested_lr < result.min_loss_lr < last.lr


def test_range_test_rejects_a_bad_range(data):
    with pytest.raises(InvalidConfig, match="min lr < max lr"):
        lr_range_test(TrainConfig(per_class=100), data, min_lr=0.1, max_lr=0.01)


def test_grid_search_of_four_trials_returns_four_rows(data):
    base = TrainConfig(per_class=100, epochs=1)
    configs = grid_configs(base, lrs=[1e-3, 1e-2], batch_sizes=[32, 128])
    assert [(c.optimizer.lr, c.batch_size) for c in configs] == [(1e-3, 32), (1e-2, 32), (1e-3, 128), (1e-2, 128)]
    frame = search(configs, data)
    assert len(frame) == 4
    assert set(zip(frame["lr"], frame["batch_size"])) == {(1e-3, 32), (1e-2, 32), (1e-3, 128), (1e-2, 128)}
    assert (frame["status"] == "finished").all() and (frame["epochs"] == 1).all()
    assert frame["val_accuracy"].is_monotonic_decreasing  # sorted, best first
    assert frame["val_accuracy"].between(0, 1).all()


def test_a_trial_is_independent_of_the_others(data):
    base = TrainConfig(per_class=100, epochs=1)
    configs = grid_configs(base, lrs=[3e-3], batch_sizes=[64], weight_decays=[0.0, 1e-3])
    histories = {0: [], 1: []}
    for index, record in run_trials(configs, data):
        histories[index].append(record)
    alone = list(TrainingRun(configs[1], data).records())
    assert [r.train_loss for r in alone] == [r.train_loss for r in histories[1]]
    frame = results_frame(configs, histories)
    assert list(frame.sort_values("trial")["weight_decay"]) == [0.0, 1e-3]


def test_random_search_is_seeded_and_stays_in_its_ranges():
    base = TrainConfig(per_class=100, epochs=1)
    a = random_configs(base, 8, lr_range=(1e-4, 1e-1), batch_sizes=(32, 64), weight_decay_range=(0.0, 1e-2), seed=3)
    b = random_configs(base, 8, lr_range=(1e-4, 1e-1), batch_sizes=(32, 64), weight_decay_range=(0.0, 1e-2), seed=3)
    c = random_configs(base, 8, lr_range=(1e-4, 1e-1), batch_sizes=(32, 64), weight_decay_range=(0.0, 1e-2), seed=4)
    assert a == b and a != c and len(a) == 8
    assert all(1e-4 <= x.optimizer.lr <= 1e-1 and x.batch_size in (32, 64) for x in a)
    assert all(1e-6 <= x.optimizer.weight_decay <= 1e-2 for x in a)
    assert len({x.optimizer.lr for x in a}) == 8


def test_search_limits():
    base = TrainConfig(per_class=100)
    with pytest.raises(InvalidConfig, match="too many"):
        grid_configs(base, lrs=[1e-4, 1e-3, 1e-2, 1e-1], batch_sizes=[16, 32, 64, 128],
                     weight_decays=[0, 1e-4, 1e-3, 1e-2, 0.1])
    with pytest.raises(InvalidConfig, match="at least one"):
        grid_configs(base, lrs=[], batch_sizes=[32])
    with pytest.raises(InvalidConfig):
        random_configs(base, 0)
