"""Init-scheme registry: every formula matches the weights it produces; equal inits keep units identical."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnn_core import INIT_SCHEMES, InvalidConfig, ModelOptions, OptimizerConfig, TrainConfig, TrainingRun, apply_init
from cnn_core.data import load_dataset
from cnn_core.experiments.init_stats import identical_units, symmetric_hidden_layers
from cnn_core.models.init_schemes import expected_std
from cnn_core.training import build_initialized_model

RELU_GAIN = math.sqrt(2.0)
TANH_GAIN = 5.0 / 3.0


def big_layers() -> nn.Sequential:
    """A linear layer with fan_in 2048 != fan_out 512 and a conv with fan_in 576 != fan_out 1152: ~1.8M weights."""
    return nn.Sequential(nn.Linear(2048, 512), nn.Conv2d(64, 128, 3))


# The formulas written out independently of cnn_core (fan_in, fan_out, gain) -> std.
FORMULAS = {
    "normal-small": lambda fi, fo, g: 0.01,
    "normal-large": lambda fi, fo, g: 1.0,
    "uniform": lambda fi, fo, g: 0.1 / math.sqrt(12),                      # U(-0.05, 0.05)
    "default": lambda fi, fo, g: 1 / math.sqrt(3 * fi),                    # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    "xavier-uniform": lambda fi, fo, g: math.sqrt(2 / (fi + fo)),          # Glorot & Bengio (2010), gain 1
    "xavier-normal": lambda fi, fo, g: math.sqrt(2 / (fi + fo)),
    "xavier-uniform-gain": lambda fi, fo, g: g * math.sqrt(2 / (fi + fo)),  # the gain-adjusted variant
    "xavier-normal-gain": lambda fi, fo, g: g * math.sqrt(2 / (fi + fo)),
    "kaiming-normal-fan-in": lambda fi, fo, g: g / math.sqrt(fi),
    "kaiming-uniform-fan-in": lambda fi, fo, g: g / math.sqrt(fi),
    "kaiming-normal-fan-out": lambda fi, fo, g: g / math.sqrt(fo),
    "kaiming-uniform-fan-out": lambda fi, fo, g: g / math.sqrt(fo),
}


@pytest.mark.parametrize("nonlinearity, gain", [("relu", RELU_GAIN), ("tanh", TANH_GAIN)])
@pytest.mark.parametrize("scheme", list(FORMULAS))
def test_empirical_std_matches_the_formula(scheme, nonlinearity, gain):
    torch.manual_seed(0)
    model = apply_init(big_layers(), scheme, nonlinearity)  # 'default' keeps PyTorch's own init
    for layer in model:
        w = layer.weight.detach()
        fan_in = w[0].numel()                       # in_features, or in_channels * kernel area
        fan_out = w.shape[0] * w[0, 0].numel()      # out_features, or out_channels * kernel area
        want = FORMULAS[scheme](fan_in, fan_out, gain)
        # the sample std of n >= 1e6 values is within a fraction of a percent of the true std
        assert w.std().item() == pytest.approx(want, rel=0.02), (scheme, type(layer).__name__)
        assert expected_std(scheme, w, nonlinearity) == pytest.approx(want, rel=1e-9)
        assert abs(w.mean().item()) < 0.01 * want + 1e-12
        if layer.bias is not None and scheme != "default":
            assert torch.count_nonzero(layer.bias) == 0  # biases set explicitly


def test_kaiming_normal_fan_in_is_gain_over_sqrt_fan_in():
    torch.manual_seed(1)
    layer = apply_init(nn.Sequential(nn.Linear(4096, 256)), "kaiming-normal-fan-in", "relu")[0]
    assert layer.weight.std().item() == pytest.approx(math.sqrt(2) / math.sqrt(4096), rel=0.01)
    assert expected_std("kaiming-normal-fan-in", layer.weight, "relu") == pytest.approx(math.sqrt(2 / 4096))


@pytest.mark.parametrize("shape", [(256, 256), (128, 512), (512, 128)])
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(shape):
    torch.manual_seed(2)
    layer = apply_init(nn.Sequential(nn.Linear(shape[1], shape[0])), "orthogonal", "relu")[0]
    w = layer.weight.detach().double()
    gram = w @ w.T if shape[0] <= shape[1] else w.T @ w
    assert torch.allclose(gram, 2.0 * torch.eye(min(shape), dtype=torch.float64), atol=1e-4)  # gain^2 = 2
    assert w.pow(2).mean().sqrt().item() == pytest.approx(expected_std("orthogonal", layer.weight, "relu"), rel=1e-3)


@pytest.mark.parametrize("scheme, value", [("zeros", 0.0), ("constant", 0.05)])
def test_equal_inits_fill_every_weight_with_one_value(scheme, value):
    model = apply_init(big_layers(), scheme)
    for layer in model:
        assert torch.all(layer.weight == value) and torch.all(layer.bias == 0)
        assert expected_std(scheme, layer.weight) == 0.0


def test_registry_entries_are_complete():
    wanted = {"default", "zeros", "constant", "normal-small", "normal-large", "uniform", "xavier-uniform",
              "xavier-normal", "xavier-uniform-gain", "xavier-normal-gain", "kaiming-uniform-fan-in", "kaiming-normal-fan-in", "kaiming-uniform-fan-out",
              "kaiming-normal-fan-out", "orthogonal"}
    assert wanted <= set(INIT_SCHEMES)
    for spec in INIT_SCHEMES.values():
        assert spec.label and spec.explanation and spec.formula
    with pytest.raises(InvalidConfig, match="Unknown init scheme"):
        apply_init(big_layers(), "he-magic")


@pytest.mark.parametrize("activation", ["gelu", "elu", "leaky_relu", "sigmoid"])
@pytest.mark.parametrize("scheme", ["xavier-normal", "orthogonal", "kaiming-normal-fan-in"])
def test_every_activation_has_a_gain_for_every_scheme(activation, scheme):
    # gelu / elu have no torch gain of their own: they use ReLU's, like ACTIVATIONS[...].init_gain_name says
    data = load_dataset("mnist-5k", per_class=2)
    config = TrainConfig(model="deep-mlp", model_options=ModelOptions(activation=activation, depth=2, width=16),
                         init=scheme)
    model = build_initialized_model(config, data)
    assert torch.isfinite(model(data.train_x[:4])).all()


def test_zero_and_constant_init_keep_hidden_units_identical_after_training():
    data = load_dataset("mnist-5k", per_class=20)  # 200 images: 4 optimizer steps per epoch at batch 64
    results = {}
    for scheme in ("zeros", "constant", "kaiming-normal-fan-in"):
        config = TrainConfig(model="deep-mlp", model_options=ModelOptions(depth=3, width=32), init=scheme,
                             optimizer=OptimizerConfig("momentum", lr=0.05), epochs=2, seed=3)
        run = TrainingRun(config, data)
        records = list(run.records())
        assert records[-1].kind == "epoch"
        results[scheme] = (symmetric_hidden_layers(run.model), identical_units(run.model), run.model)
    assert results["zeros"][0] == (3, 3)
    assert results["constant"][0] == (3, 3)
    assert results["kaiming-normal-fan-in"][0] == (0, 3)
    # the constant init did move its weights (symmetric does not mean frozen) ...
    first = results["constant"][2].net[1].weight
    assert not torch.all(first == 0.05)
    # ... while with zeros the hidden weights never get a gradient at all
    assert torch.all(results["zeros"][2].net[1].weight == 0)


def _std_ratio_per_layer(scheme: str, depth: int = 10, width: int = 512) -> list[float]:
    """Std of each ReLU MLP layer's pre-activation divided by the previous one's (inputs N(0, 1))."""
    torch.manual_seed(0)
    layers = [nn.Linear(width, width) for _ in range(depth)]
    apply_init(nn.Sequential(*layers), scheme, "relu")
    x = torch.randn(2000, width)
    stds, h = [], x
    with torch.no_grad():
        for i, layer in enumerate(layers):
            z = layer(h if i == 0 else torch.relu(h))
            stds.append(z.std().item())
            h = z
    return [b / a for a, b in zip(stds, stds[1:])]


@pytest.mark.parametrize("scheme, ratio", [("xavier-normal", math.sqrt(0.5)), ("xavier-uniform", math.sqrt(0.5)),
                                           ("kaiming-normal-fan-in", 1.0), ("xavier-normal-gain", 1.0)])
def test_xavier_as_published_shrinks_relu_signals_and_kaiming_keeps_them(scheme, ratio):
    # Var(W) = 2 / (n_in + n_out) = 1 / n on square layers; ReLU keeps half the second moment: x sqrt(1/2) per layer
    ratios = _std_ratio_per_layer(scheme)
    mean = sum(ratios) / len(ratios)
    assert mean == pytest.approx(ratio, abs=0.03), ratios
