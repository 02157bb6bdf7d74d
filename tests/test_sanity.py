"""The three sanity checks pass on LeNet-5 and fail where they should."""
from __future__ import annotations

import math

import pytest

from cnn_core import ModelOptions, TrainConfig, load_dataset
from cnn_core.experiments.sanity import gradient_norms_check, initial_loss_check, lowest_loss, overfit_batch_check
from cnn_core.teaching.loss_explainer import loss_curves, uniform_prediction_loss


@pytest.fixture(scope="module")
def data():
    return load_dataset(per_class=30)


@pytest.mark.parametrize("model", ["lenet5-modern", "lenet5-classic"])
def test_all_checks_pass_on_lenet5(data, model):
    config = TrainConfig(model=model, per_class=30)
    initial = initial_loss_check(config, data)
    assert initial.passed, initial.message
    assert initial.values["ln_k"] == pytest.approx(2.302585, abs=1e-6)
    assert abs(initial.values["initial_loss"] - math.log(10)) < 0.1
    assert "ln(10) = 2.3026" in initial.message

    overfit = overfit_batch_check(config, data, samples=20, max_steps=150)
    assert overfit.passed, overfit.message
    assert overfit.frame["step"].iloc[0] == 0 and overfit.frame["loss"].iloc[0] > 2.0
    assert overfit.frame["loss"].iloc[-1] <= overfit.values["target_loss"] < 0.05
    assert overfit.frame["accuracy"].iloc[-1] == 1.0

    grads = gradient_norms_check(config, data)
    assert grads.passed, grads.message
    assert list(grads.frame["layer"]) == ["features.0", "features.3", "features.6", "classifier.1", "classifier.3"]
    assert (grads.frame["grad_norm"] > 0).all()


def test_zero_init_fails_overfit_and_gradient_checks(data):
    config = TrainConfig(init="zeros", per_class=30)
    assert initial_loss_check(config, data).passed  # all-zero weights guess uniformly: this check cannot see it
    overfit = overfit_batch_check(config, data, samples=10, max_steps=30)
    assert not overfit.passed and "Fail" in overfit.message
    grads = gradient_norms_check(config, data)
    assert not grads.passed
    assert "features.0" in grads.message and grads.values["dead_layers"] == 4


def test_huge_init_fails_the_initial_loss_check(data):
    result = initial_loss_check(TrainConfig(init="normal-large", per_class=30), data)
    assert not result.passed and result.values["initial_loss"] > 10 and "Fail" in result.message


def test_batch_norm_network_and_other_losses_pass(data):
    config = TrainConfig(per_class=30, model_options=ModelOptions(batch_norm=True), loss="mse")
    assert initial_loss_check(config, data).values["expected_loss"] == pytest.approx(0.09, abs=1e-6)
    assert gradient_norms_check(config, data).passed
    assert len(gradient_norms_check(config, data).frame) == 8  # 5 conv/linear + 3 batch-norm layers


def test_loss_floors_and_explainer_values():
    assert lowest_loss("cross-entropy") < 1e-3
    # label smoothing 0.1 cannot go below the entropy of its smoothed target (about 0.50 for K = 10)
    assert lowest_loss("label-smoothing") == pytest.approx(0.5003, abs=2e-3)
    assert uniform_prediction_loss("hinge") == pytest.approx(0.9, abs=1e-6)
    curves = loss_curves([0.1, 0.5, 0.9])
    ce = curves[(curves["loss"] == "cross-entropy") & (curves["quantity"] == "loss")]["value"].tolist()
    assert ce == pytest.approx([-math.log(0.1), -math.log(0.5), -math.log(0.9)], rel=1e-6)
    grad = curves[(curves["loss"] == "cross-entropy") & (curves["quantity"] == "gradient")]["value"].tolist()
    assert grad == pytest.approx([-0.9, -0.5, -0.1], rel=1e-6)  # dL/dz_y = p - 1
    nll = curves[(curves["loss"] == "nll") & (curves["quantity"] == "loss")]["value"].tolist()
    assert nll == pytest.approx(ce)
    assert set(curves["loss"]) == {"cross-entropy", "nll", "label-smoothing", "mse", "hinge"}
    assert len(curves) == 5 * 3 * 2
