"""Computations moved out of pages 1 and 7 into cnn_core, checked against independent references."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from cnn_core import ModelOptions, TrainConfig
from cnn_core.errors import InvalidConfig
from cnn_core.experiments import ann_vs_cnn as avc
from cnn_core.experiments.compare import comparison_base, planned_steps


def test_size_range_spans_the_ends_on_a_log_scale():
    sizes = avc.size_range(28, 1024)
    assert sizes[0] == 28 and sizes[-1] == 1024 and sizes == sorted(set(sizes))
    reference = np.geomspace(28, 1024, 24)
    assert len(sizes) == 24 and np.allclose(sizes, reference, atol=0.5)  # rounded geometric sequence
    assert avc.size_range(64, 64) == [64]
    assert avc.size_range(8, 16) == list(range(8, 17))
    with pytest.raises(InvalidConfig):
        avc.size_range(32, 16)


def test_first_layer_params_match_real_modules():
    growth = avc.fc_vs_conv_params([32, 224], (1, 3), hidden=100, filters=8, kernel=5)
    fc, conv = avc.first_layer_params(growth, 224, channels=3)
    assert fc == sum(p.numel() for p in nn.Linear(3 * 224 * 224, 100, device="meta").parameters())
    assert conv == sum(p.numel() for p in nn.Conv2d(3, 8, 5).parameters()) == 3 * 8 * 25 + 8
    with pytest.raises(InvalidConfig):
        avc.first_layer_params(growth, 999)


def test_accuracy_change_is_relative_to_no_shift():
    frame = pd.DataFrame({"model": ["MLP"] * 3 + ["LeNet-5"] * 3, "shift": [0, 1, 2] * 2,
                          "accuracy": [0.9, 0.7, 0.5, 0.95, 0.94, 0.9]})
    change = avc.accuracy_change(frame, 2)
    assert change["MLP"] == pytest.approx((0.5, -0.4)) and change["LeNet-5"] == pytest.approx((0.9, -0.05))


def test_planned_steps_matches_a_dataloader():
    data = torch.utils.data.TensorDataset(torch.zeros(1001, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=32)
    assert planned_steps(1001, 32) == len(loader) == math.ceil(1001 / 32)
    assert planned_steps(1001, 32, epochs=3) == 3 * len(loader)


def test_comparison_base_applies_the_page_choices():
    base = comparison_base(TrainConfig(), dataset="mnist-5k", per_class=0, model="plain-cnn", epochs=2,
                           batch_size=16, seed=7)
    assert (base.dataset, base.per_class, base.model, base.epochs, base.batch_size, base.seed) == \
        ("mnist-5k", None, "plain-cnn", 2, 16, 7)
    assert base.model_options == ModelOptions(depth=4)  # a lighter plain CNN on a CPU
    kept = comparison_base(TrainConfig(model_options=ModelOptions(depth=6)), dataset="mnist-5k", per_class=50,
                           model="plain-cnn", epochs=1, batch_size=8, seed=0)
    assert kept.model_options.depth == 6 and kept.per_class == 50


def test_symmetry_after_training_rebuilds_each_state_without_touching_it():
    from types import SimpleNamespace

    from cnn_core.experiments.init_stats import symmetry_after_training
    from cnn_core.models import build_model

    data = SimpleNamespace(image_shape=(1, 28, 28), num_classes=10)  # all model_options_for reads
    config = TrainConfig(model="deep-mlp", model_options=ModelOptions(depth=3, width=8))
    model = build_model("deep-mlp", ModelOptions(depth=3, width=8, in_channels=1, image_size=28, num_classes=10))
    random_state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.5)  # a constant init: every unit of a layer is the same
    constant_state = model.state_dict()
    before = {k: v.clone() for k, v in constant_state.items()}
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    result = symmetry_after_training({"constant": config, "random": config, "lost": config},
                                     {"constant": constant_state, "random": random_state}, data)
    hidden = len(linear) - 1  # the output layer is left out
    assert result == {"constant": (hidden, hidden), "random": (0, hidden), "lost": None}
    assert all(torch.equal(before[k], constant_state[k]) for k in before)


def test_spread_layers_keeps_ends_and_at_most_count():
    from cnn_core.experiments.init_stats import spread_layers

    assert spread_layers([3, 1, 2, 2]) == [1, 2, 3]
    picked = spread_layers(range(1, 31), 12)
    assert len(picked) == 12 and picked[0] == 1 and picked[-1] == 30
    assert np.allclose(picked, np.linspace(1, 30, 12), atol=0.5)


def test_early_stop_events_marks_the_stop_and_the_restored_epoch():
    from cnn_core.experiments.regularization import early_stop_events
    from cnn_core.training import Record

    stopped = [Record("epoch", e, 10 * e, val_loss=v) for e, v in enumerate([0.9, 0.5, 0.6, 0.7], start=1)]
    stopped.append(Record("early_stop", 2, 40))
    full = [Record("epoch", e, 10 * e) for e in (1, 2, 3)]
    events = early_stop_events({"patience 2": stopped, "plain": full})
    assert events.to_dict("records") == [
        {"run": "patience 2", "epoch": 4, "event": "stopped"},
        {"run": "patience 2", "epoch": 2, "event": "best epoch (weights restored)"}]
    assert list(early_stop_events({"plain": full}).columns) == ["run", "epoch", "event"]
