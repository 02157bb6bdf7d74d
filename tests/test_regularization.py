"""Regularization variants: each one changes what it says, and has the effect the lecture promises."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from cnn_core import InvalidConfig, TrainingRun, build_model, evaluate, load_dataset
from cnn_core.experiments.regularization import (REG_VARIANTS, SMALL_CNN_SPECS, Strengths, early_stop_marks,
                                                 model_from_state, overfit_config, regularization_summary,
                                                 validation_minimum, variant_configs, weight_histograms, weight_stats)
from cnn_core.inspect.hooks import capture_forward
from cnn_core.training import model_options_for


def train(config, data):
    run = TrainingRun(config, data)
    records = list(run.records())
    return run, records


@pytest.fixture(scope="module")
def tiny():
    """300 training images; 5 epochs of the MLP: enough for the weight penalties to show."""
    data = load_dataset("mnist-5k", per_class=30)
    base = overfit_config(per_class=30, epochs=5)
    configs = variant_configs(base, ["none", "weight-decay", "l2-penalty", "l1"])
    models = {label: train(config, data)[0].model for label, config in configs.items()}
    return data, configs, weight_stats(models).set_index("run")


@pytest.fixture(scope="module")
def overfit():
    """The page's default setting (MLP, 100 images per class, 20 epochs) without and with early stopping."""
    data = load_dataset("mnist-5k", per_class=100)
    configs = variant_configs(overfit_config(), ["none", "early-stopping"])
    return data, {label: train(config, data) for label, config in configs.items()}


def test_weight_decay_shrinks_the_weights_against_no_decay(tiny):
    _, configs, stats = tiny
    none, wd = stats.loc["No regularization"], stats.loc["L2 (weight_decay) λ=0.005"]
    l2 = stats.loc["L2 penalty λ=0.0025"]
    assert wd["l2_norm"] < 0.95 * none["l2_norm"]      # measured 12.5 vs 14.1
    assert l2["l2_norm"] < 0.95 * none["l2_norm"]
    # With Adam, weight_decay=λ is the gradient of the penalty λ/2·Σw² (plus the biases): nearly the same weights
    assert wd["l2_norm"] == pytest.approx(l2["l2_norm"], rel=0.01)


def test_l1_gives_more_near_zero_weights(tiny):
    _, _, stats = tiny
    none, l1 = stats.loc["No regularization", "near_zero"], stats.loc["L1 penalty λ=0.0001", "near_zero"]
    l2 = stats.loc["L2 penalty λ=0.0025", "near_zero"]
    assert l1 > 1.5 * none   # measured 4.9 % vs 2.5 % of the weights below 1e-3
    assert l1 > l2           # L2 shrinks all weights, L1 zeroes many


def test_weight_histograms_cover_every_weight(tiny):
    data, configs, _ = tiny
    models = {label: build_model(c.model, model_options_for(c, data)) for label, c in configs.items()}
    hist = weight_histograms(models, bins=30)
    sums = hist.groupby("run")["fraction"].sum()
    assert len(sums) == 4 and all(s == pytest.approx(1.0, abs=1e-9) for s in sums)


def test_dropout_is_active_in_train_mode_and_off_in_eval_mode():
    data = load_dataset("mnist-5k", per_class=5)
    config = REG_VARIANTS["dropout"].build(overfit_config(), Strengths(dropout=0.5))
    model = build_model(config.model, model_options_for(config, data))
    x = data.train_x[:32]
    model.train()
    torch.manual_seed(0)
    a, b = model(x), model(x)
    assert not torch.allclose(a, b)  # a new random mask for every pass
    with capture_forward(model, eval_mode=False) as calls:
        model(x)
    dropped = [c.output for c in calls if isinstance(c.module, nn.Dropout)]
    inputs = [c.output for c in calls if isinstance(c.module, nn.ReLU)]
    assert len(dropped) == 2  # after each hidden layer of the MLP
    newly_zero = ((dropped[0] == 0) & (inputs[0] != 0)).float().sum() / (inputs[0] != 0).float().sum()
    assert 0.4 < newly_zero.item() < 0.6
    kept = dropped[0] != 0
    assert torch.allclose(dropped[0][kept], 2 * inputs[0][kept])  # survivors scaled by 1 / (1 - p)
    model.eval()
    c, d = model(x), model(x)
    assert torch.equal(c, d)
    with capture_forward(model) as calls:  # eval mode: dropout passes its input through unchanged
        model(x)
    outs = [c.output for c in calls if isinstance(c.module, (nn.Dropout, nn.ReLU))]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[2], outs[3])


def test_unregularized_validation_loss_rises_after_its_minimum(overfit):
    _, runs = overfit
    _, records = runs["No regularization"]
    epochs = [r for r in records if r.kind == "epoch"]
    val = [r.val_loss for r in epochs]
    lowest = min(range(len(val)), key=val.__getitem__)  # index of the minimum
    minimum = validation_minimum(records)
    assert minimum["min_epoch"] == lowest + 1
    assert lowest + 1 <= len(val) - 5                    # the minimum comes well before the end (measured: epoch 5)
    assert val[-1] > 1.08 * val[lowest]                  # then it rises (measured +19 %)
    assert epochs[-1].train_loss < 0.5 * epochs[lowest].train_loss  # while training still improves
    assert minimum["rise"] == pytest.approx(val[-1] - val[lowest])


def test_early_stopping_restores_the_best_validation_weights(overfit):
    data, runs = overfit
    run, records = runs["Early stopping patience 3"]
    stop = records[-1]
    epochs = [r for r in records if r.kind == "epoch"]
    best = min(epochs, key=lambda r: r.val_loss)
    assert stop.kind == "early_stop" and stop.epoch == best.epoch
    assert len(epochs) == best.epoch + 3 < 20  # patience 3, well before the 20 planned epochs
    val_loss, _ = evaluate(run.model, data.val_x, data.val_y)
    assert val_loss == pytest.approx(best.val_loss, rel=1e-5)
    assert val_loss < epochs[-1].val_loss
    marks = early_stop_marks({label: recs for label, (_, recs) in runs.items()})
    assert marks.to_dict("records") == [{"run": "Early stopping patience 3", "best_epoch": best.epoch,
                                         "stopped_after": len(epochs)}]
    table = regularization_summary({label: recs for label, (_, recs) in runs.items()}).set_index("run")
    assert table.loc["Early stopping patience 3", "status"] == "early stopped"
    unregularized = validation_minimum(runs["No regularization"][1])
    assert table.loc["No regularization", "min_val_loss_epoch"] == unregularized["min_epoch"]
    assert {"best_val_acc", "best_epoch", "final_gap", "final_acc_gap", "min_val_loss"} <= set(table.columns)


def test_model_from_state_copies_and_never_touches_the_shared_state(overfit):
    data, runs = overfit
    run, _ = runs["No regularization"]
    state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    before = {k: v.clone() for k, v in state.items()}
    model = model_from_state(run.config, state, data)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0)
    assert all(torch.equal(state[k], before[k]) for k in state)
    assert not model.training


def test_every_variant_changes_exactly_its_own_setting():
    base = overfit_config()
    s = Strengths()
    changed = {name: REG_VARIANTS[name].build(base, s) for name in REG_VARIANTS}
    assert changed["none"] == base
    assert changed["weight-decay"].optimizer.weight_decay == s.weight_decay
    assert changed["adamw"].optimizer.name == "adamw" and changed["adamw"].optimizer.weight_decay == s.adamw_decay
    assert changed["adamw"].optimizer.resolved_lr() == base.optimizer.resolved_lr()
    assert changed["l2-penalty"].regularization.l2_penalty == s.l2_penalty
    assert changed["l1"].regularization.l1 == s.l1
    assert changed["dropout"].model_options.dropout == s.dropout
    assert changed["batch-norm"].model_options.batch_norm
    assert changed["augment"].regularization.augment.enabled()
    assert changed["early-stopping"].regularization.early_stopping_patience == s.patience
    assert changed["label-smoothing"].regularization.label_smoothing == s.label_smoothing
    for name, config in changed.items():
        config.validate()
        # everything else stays as in the base run: same data, seed, epochs, batch size
        assert (config.dataset, config.per_class, config.seed, config.epochs, config.batch_size) == (
            base.dataset, base.per_class, base.seed, base.epochs, base.batch_size), name


@pytest.mark.parametrize("model", ["mlp", "lenet5-modern"])
def test_smaller_network_has_far_fewer_parameters(model):
    data = load_dataset("mnist-5k", per_class=2)
    base = overfit_config(model)
    small = REG_VARIANTS["smaller"].build(base, Strengths())

    def count(c):
        return sum(p.numel() for p in build_model(c.model, model_options_for(c, data)).parameters())

    assert count(small) < count(base) / 5
    if model == "lenet5-modern":
        assert small.model_options.layers == SMALL_CNN_SPECS
        assert count(small) == 4 * 25 + 4 + 8 * 4 * 25 + 8 + 200 * 10 + 10


def test_variant_configs_labels_and_limits():
    base = overfit_config()
    configs = variant_configs(base, ["none", "dropout", "dropout"], Strengths(dropout=0.3))
    assert list(configs) == ["No regularization", "Dropout p=0.3"]
    with pytest.raises(InvalidConfig):
        variant_configs(base, list(REG_VARIANTS)[:7])
    with pytest.raises(InvalidConfig):
        variant_configs(base, ["none", "magic"])
    with pytest.raises(InvalidConfig):
        overfit_config("plain-cnn")
    with pytest.raises(InvalidConfig):
        variant_configs(base, ["none", "l1"], Strengths(l1=2.0))  # TrainConfig.validate refuses it
    assert math.isclose(replace(Strengths(), weight_decay=0.1).weight_decay, 0.1)
