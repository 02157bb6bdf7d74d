"""Statistics at initialization: scale kept or lost with depth, tidy frames, and a short training comparison."""
from __future__ import annotations

import math

import pytest
import torch

from cnn_core import ModelOptions, OptimizerConfig, TrainConfig, build_model, load_dataset
from cnn_core.errors import InvalidConfig
from cnn_core.experiments.compare import compare, comparison_frame
from cnn_core.experiments.init_stats import (KINDS, InitStatsConfig, fixed_batch, histogram, init_statistics,
                                             scale_ratio, tensor_stats, training_summary, weighted_layers)


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist-5k")


@pytest.fixture(scope="module")
def relu10(data):
    """A 10-layer ReLU MLP (width 128) at initialization with four schemes."""
    config = InitStatsConfig(model="deep-mlp", depth=10, activation="relu", batch_size=128,
                             schemes=("kaiming-normal-fan-in", "normal-small", "normal-large", "zeros"))
    return init_statistics(config, data)


def test_kaiming_keeps_the_scale_of_a_10_layer_relu_net_and_small_normal_collapses(relu10):
    layers = relu10.layers
    kaiming = scale_ratio(layers, "kaiming-normal-fan-in", "activation", "rms")
    small = scale_ratio(layers, "normal-small", "activation", "rms")
    large = scale_ratio(layers, "normal-large", "activation", "rms")
    assert 0.3 < kaiming < 3.0            # measured 1.5: the same order of magnitude after 10 layers
    assert small < 1e-6                   # measured ~1e-10: each layer multiplies by 0.01 * sqrt(128 / 2) = 0.08
    assert large > 1e6                    # each layer multiplies by sqrt(128 / 2) = 8
    # the back-propagated signal: flat for Kaiming, vanishing towards the input for std 0.01
    grad = layers[layers["kind"] == "activation gradient"].set_index(["scheme", "layer"])["rms"]
    assert 0.2 < grad["kaiming-normal-fan-in", 1] / grad["kaiming-normal-fan-in", 10] < 5
    assert grad["normal-small", 1] / grad["normal-small", 10] < 1e-6


def test_frames_are_tidy_and_complete(relu10):
    n_layers = 11  # 10 hidden + output
    assert len(relu10.layers) == 4 * n_layers * len(KINDS)
    assert set(relu10.layers["kind"]) == set(KINDS)
    assert {"scheme", "label", "layer", "layer_name", "kind", "mean", "std", "rms", "zero_fraction", "dead_units",
            "saturated", "nonfinite", "numel"} <= set(relu10.layers.columns)
    assert len(relu10.histograms) == 4 * n_layers * len(KINDS) * relu10.config.bins
    assert list(relu10.outputs["scheme"]) == list(relu10.config.schemes)
    assert len(relu10.weights) == 4 * n_layers
    first = relu10.layers[(relu10.layers["layer"] == 1) & (relu10.layers["kind"] == "activation")]
    assert set(first["numel"]) == {128 * 128}  # batch x units
    assert relu10.layers["layer_name"].str.endswith("(logits)").sum() == 4 * len(KINDS)


def test_histograms_hold_every_value_except_relu_zeros(relu10):
    totals = relu10.histograms.groupby(["scheme", "layer", "kind"])["fraction"].sum()
    stats = relu10.layers.set_index(["scheme", "layer", "kind"])
    for key, total in totals.items():
        scheme, layer, kind = key
        if kind == "activation" and layer < 11:  # ReLU outputs: exact zeros are left out of the bins
            assert total == pytest.approx(1 - stats.loc[key, "zero_fraction"], abs=1e-6)
        else:
            assert total == pytest.approx(1.0, abs=1e-6)


def test_dead_relus_and_zero_init(relu10):
    acts = relu10.layers[relu10.layers["kind"] == "activation"].set_index(["scheme", "layer"])
    assert acts.loc[("zeros", 1), "dead_units"] == 1.0 and acts.loc[("zeros", 5), "std"] == 0.0
    assert 0.3 < acts.loc[("kaiming-normal-fan-in", 1), "zero_fraction"] < 0.7  # ReLU zeroes about half
    out = relu10.outputs.set_index("scheme")
    assert out.loc["zeros", "loss"] == pytest.approx(math.log(10), rel=1e-5)  # all logits 0: uniform softmax
    assert out.loc["normal-large", "loss"] > 1e3                           # exploding logits


def test_tanh_saturates_with_large_weights(data):
    config = InitStatsConfig(model="deep-mlp", depth=6, activation="tanh", batch_size=64,
                             schemes=("normal-large", "xavier-normal"))
    layers = init_statistics(config, data).layers
    sat = layers[(layers["kind"] == "activation") & (layers["layer"] <= 6)].groupby("scheme")["saturated"].mean()
    assert sat["normal-large"] > 0.5 and sat["xavier-normal"] < 0.1


def test_same_config_gives_the_same_numbers_and_lenet_layers(data):
    config = InitStatsConfig(model="lenet5-modern", batch_size=32, schemes=("xavier-uniform", "default"))
    a, b = init_statistics(config, data), init_statistics(config, data)
    assert a.layers.equals(b.layers) and a.histograms.equals(b.histograms)
    assert list(a.layers[(a.layers["scheme"] == "default") & (a.layers["kind"] == "activation")]["layer_name"]) == [
        "1: Conv2d", "2: Conv2d", "3: Conv2d", "4: Linear", "5: Linear (logits)"]
    layers = weighted_layers(build_model("lenet5-modern"))
    assert [act is not None for _, _, act in layers] == [True, True, True, True, False]
    x1, _ = fixed_batch(data, 16, 0)
    x2, _ = fixed_batch(data, 16, 1)
    assert x1.shape == (16, 1, 28, 28) and not torch.equal(x1, x2)


def test_overflow_is_counted_not_crashed(data):
    config = InitStatsConfig(model="deep-mlp", depth=50, width=128, batch_size=16, schemes=("normal-large",))
    layers = init_statistics(config, data).layers
    acts = layers[layers["kind"] == "activation"]
    assert acts["nonfinite"].iloc[-1] > 0.5       # 8^50 overflows float32 to inf (then NaN)
    assert acts["nonfinite"].iloc[0] == 0.0


def test_tensor_stats_and_histogram_on_known_values():
    t = torch.tensor([[0.0, 1.0], [0.0, 3.0]])  # 2 samples x 2 units; unit 0 is dead
    s = tensor_stats(t)
    assert s["mean"] == pytest.approx(1.0) and s["zero_fraction"] == 0.5 and s["dead_units"] == 0.5
    assert s["rms"] == pytest.approx(math.sqrt(10 / 4)) and s["std"] == pytest.approx(math.sqrt(10 / 4 - 1))
    assert histogram(t, 0.0, 4.0, 4).tolist() == [0.5, 0.25, 0.0, 0.25]
    assert histogram(t, 0.0, 4.0, 4, drop_zeros=True).tolist() == [0.0, 0.25, 0.0, 0.25]
    assert tensor_stats(torch.tensor([0.995, -0.2]), "tanh")["saturated"] == 0.5


def test_invalid_configs_are_refused(data):
    with pytest.raises(InvalidConfig):
        init_statistics(InitStatsConfig(schemes=()), data)
    with pytest.raises(InvalidConfig):
        init_statistics(InitStatsConfig(schemes=("he-magic",)), data)
    with pytest.raises(InvalidConfig):
        init_statistics(InitStatsConfig(activation="swish"), data)


def test_two_schemes_side_by_side_give_a_tidy_frame_with_both_runs():
    data = load_dataset("mnist-5k", per_class=20)  # 200 images, 4 steps per epoch
    base = dict(model="deep-mlp", model_options=ModelOptions(depth=4, width=32), per_class=20, epochs=2,
                optimizer=OptimizerConfig("momentum", lr=0.05), seed=0)
    configs = {"All zeros": TrainConfig(init="zeros", **base),
               "Kaiming": TrainConfig(init="kaiming-normal-fan-in", **base)}
    histories = {label: [] for label in configs}
    for label, record in compare(configs, data):
        histories[label].append(record)
    frame = comparison_frame(histories)
    assert list(frame.columns) == ["run", "epoch", "step", "split", "metric", "value"]
    assert set(frame["run"]) == {"All zeros", "Kaiming"}
    steps = frame[(frame["split"] == "train_step") & (frame["metric"] == "loss")]
    assert steps.groupby("run").size().to_dict() == {"All zeros": 8, "Kaiming": 8}
    table = training_summary(histories, target_acc=0.5).set_index("run")
    assert list(table["status"]) == ["finished", "finished"] and list(table["epochs"]) == [2, 2]
    assert table.loc["All zeros", "final_train_loss"] == pytest.approx(math.log(10), abs=0.01)  # cannot learn
    assert table.loc["Kaiming", "final_train_loss"] < table.loc["All zeros", "final_train_loss"] - 0.1
    assert table.loc["All zeros", "epochs_to_target"] is None  # never reached 50 %


def test_epochs_to_target_counts_a_float32_accuracy_of_exactly_the_target():
    from cnn_core.training import Record
    acc = float(torch.tensor(0.9, dtype=torch.float32))  # 0.8999999762
    history = [Record("epoch", 1, 4, val_acc=0.5), Record("epoch", 2, 8, val_acc=acc)]
    table = training_summary({"run": history, "diverged": [Record("diverged", 1, 2)]}, target_acc=0.9)
    assert table.loc[0, "epochs_to_target"] == 2
    assert table.loc[1, "status"] == "diverged" and table.loc[1, "diverged_at_step"] == 3 and table.loc[1, "epochs"] == 0
    with pytest.raises(InvalidConfig):
        training_summary({"run": history}, target_acc=0)
