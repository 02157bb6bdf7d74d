"""Exercises on the PyTorch half of the lecture: defining a model, visualization, init, losses, regularization,
optimizers."""
from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn

from cnn_core.experiments.init_stats import InitStatsConfig, identical_units, init_statistics, scale_ratio
from cnn_core.experiments.sanity import gradient_norms_check, lowest_loss
from cnn_core.lessons import labels
from cnn_core.lessons.core import Exercise, Params, Structure, Target, Verdict, layer
from cnn_core.lessons.exercises.common import structural
from cnn_core.lessons.exercises.layers import mnist_small
from cnn_core.lessons.measure import measure, structure_model
from cnn_core.models.init_schemes import INIT_SCHEMES, expected_std
from cnn_core.teaching.loss_explainer import constructed_logits, uniform_prediction_loss
from cnn_core.training import TrainConfig, build_initialized_model
from cnn_core.training.losses import compute_loss

ARCH_PAGE, VIZ_PAGE, INIT_PAGE = "2_Architecture.py", "4_Layer_Visualization.py", "5_Weight_Initialization.py"
REG_PAGE, OPT_PAGE, TRAIN_PAGE = "6_Regularization.py", "7_Optimizers.py", "8_Train.py"
BUILD_SOURCE = "🧱 Build your own"

# ------------------------------------------------------------------------------ defining a model in PyTorch


def _small_cnn(p: Params, pad: int = 1, last_pool: bool = True, flatten: bool = True) -> Structure:
    items = [layer("conv", out=p["a"], k=3, p=pad), layer("relu"), layer("maxpool", k=2),
             layer("conv", out=p["b"], k=3), layer("relu")]
    items += [layer("maxpool", k=2)] if last_pool else []
    items += [layer("flatten")] if flatten else []
    return Structure("output_shape", (1, p["size"], p["size"]), tuple(items))


def _flat(p: Params, **changes) -> int:
    return measure(_small_cnn(p, **changes))[0]


def _lecture(p: Params, bias: bool = True) -> Structure:
    return Structure("params", (p["c"], p["size"], p["size"]),
                     (layer("conv", out=16, k=3, bias=bias), layer("relu"), layer("avgpool", k=2, s=2),
                      layer("flatten"), layer("linear", out=p["classes"], bias=bias)))


def _tensors(p: Params) -> int:
    return len(list(_tensor_model(p).parameters()))


def _tensor_model(p: Params) -> nn.Module:
    with torch.device("meta"):
        return nn.Sequential(nn.Conv2d(1, 8, 3, bias=p["conv_bias"]), nn.ReLU(),
                             nn.Conv2d(8, 16, 3, bias=p["conv_bias"]), nn.ReLU(), nn.Flatten(),
                             nn.Linear(16 * 24 * 24, 10))


_CNN_DRAW = lambda r: {"a": r.choice([6, 8, 16, 32]), "b": r.choice([12, 16, 32, 64]),  # noqa: E731
                       "size": r.choice([28, 32])}

DEFINE = [
    Exercise(
        id="model-flatten-bug", section="Defining a model in PyTorch", kind="bug", title="A wrong flatten size",
        page=ARCH_PAGE,
        question="This model stops with *mat1 and mat2 shapes cannot be multiplied*: `Conv2d(1, {a}, 3, "
                 "padding=1)` → ReLU → `MaxPool2d(2)` → `Conv2d({a}, {b}, 3)` → ReLU → `MaxPool2d(2)` → `Flatten()` "
                 "→ `Linear({wrong}, 10)` on 1 x {size} x {size} images. What must `in_features` be?",
        answer="number",
        draw=lambda r: (lambda p: {**p, "wrong": _flat(p, pad=0)})(_CNN_DRAW(r)),
        solve=_flat,
        link=lambda p: {"arch_source": BUILD_SOURCE},
        hints=("Follow the shape layer by layer; the flattened size is channels x height x width.",),
        explanation="Channels x H x W after the last pooling. The builder on the page marks the layer that "
                    "cannot work and shows every output shape; put the model in and read the last shape.",
        misconceptions=((lambda p: _flat(p, pad=0), "forgot the padding"),
                        (lambda p: _flat(p, last_pool=False), "forgot the last pooling"),
                        (lambda p: _flat(p) // p["b"], "forgot the channels"))),
    Exercise(
        id="model-lecture-params", section="Defining a model in PyTorch", kind="compute",
        title="The lecture's ConvNet, counted",
        page=ARCH_PAGE,
        question="The lecture's model written as `nn.Module`: `Conv2d({c}, 16, 3)` → ReLU → `AvgPool2d(2, 2)` → "
                 "`view` → `Linear(..., {classes})`, on {c} x {size} x {size} images. How many parameters?",
        answer="number",
        draw=lambda r: {"c": r.choice([1, 3]), "size": r.choice([12, 16, 28]), "classes": r.choice([10, 60])},
        **structural(_lecture),
        link=lambda p: {"arch_source": "📚 Registry model", "arch_registry": labels.model("convnet-lecture")},
        hints=("Only the convolution and the linear layer have weights.",),
        explanation="16·(c·9 + 1) for the conv plus (16·side² + 1)·classes for the linear layer; 24,508 for the "
                    "lecture's 3 x 12 x 12 and 60 classes (the registry model on the page).",
        misconceptions=((lambda p: measure(_lecture(p, bias=False)), "forgot the biases"),
                        (lambda p: measure(Structure("params", (p["c"], p["size"], p["size"]),
                                                     (layer("conv", out=16, k=3),))),
                         "counted only the convolution"))),
    Exercise(
        id="model-sequential-shape", section="Defining a model in PyTorch", kind="compute",
        title="What nn.Sequential hands on",
        page=ARCH_PAGE,
        question="`nn.Sequential(Conv2d(1, {a}, 3, padding=1), ReLU(), MaxPool2d(2), Conv2d({a}, {b}, 3), ReLU(), "
                 "MaxPool2d(2))` on a 1 x {size} x {size} image: output shape (C x H x W)?",
        answer="shape", draw=_CNN_DRAW,
        **structural(lambda p: _small_cnn(p, flatten=False)),
        link=lambda p: {"arch_source": BUILD_SOURCE},
        hints=("padding=1 keeps a 3x3 conv's size; the second conv has none.",),
        explanation="size → size → size/2 → size/2 − 2 → (size/2 − 2)/2, with b channels. Build it on the page "
                    "to see each shape.",
        misconceptions=((lambda p: measure(_small_cnn(p, pad=0, flatten=False)), "forgot the padding"),
                        (lambda p: measure(_small_cnn(p, last_pool=False, flatten=False)),
                         "forgot the last pooling"),
                        (lambda p: (p["a"],) + measure(_small_cnn(p, flatten=False))[1:],
                         "kept the first conv's channels"))),
    Exercise(
        id="model-parameter-tensors", section="Defining a model in PyTorch", kind="compute",
        title="What model.parameters() yields",
        page=ARCH_PAGE,
        question="`nn.Sequential(Conv2d(1, 8, 3, bias={conv_bias}), ReLU(), Conv2d(8, 16, 3, bias={conv_bias}), "
                 "ReLU(), Flatten(), Linear(9216, 10))`: how many tensors does `model.parameters()` yield?",
        answer="number",
        draw=lambda r: {"conv_bias": r.choice([True, False])},
        solve=_tensors,
        link=lambda p: {"arch_source": BUILD_SOURCE},
        hints=("A weight and a bias are separate tensors; ReLU and Flatten have none.",),
        explanation="One weight per conv / linear layer, plus one bias each where bias=True. The optimizer gets "
                    "exactly these tensors.",
        misconceptions=((lambda p: 3, "counted layers, not tensors"),
                        (lambda p: 6, "gave every layer a bias"),
                        (lambda p: 5 if p["conv_bias"] else None, "forgot the linear layer's bias"))),
]

# ----------------------------------------------------------------------------------- layer visualization

LENET_LAYERS = {"C1": 1, "S2": 3, "C3": 4, "S4": 6, "C5": 7}  # index after each layer in the layer list
KERNELS_BEFORE = {"C1": (5,), "S2": (5, 2), "C3": (5, 2, 5), "S4": (5, 2, 5, 2), "C5": (5, 2, 5, 2, 5)}


def _lenet_features(p: Params, quantity: str = "receptive_field", pool: bool = True) -> Structure:
    items = [layer("conv", out=6, k=5, p=2), layer("relu"), layer("maxpool", k=2) if pool else layer("relu"),
             layer("conv", out=16, k=5), layer("relu"), layer("maxpool", k=2) if pool else layer("relu"),
             layer("conv", out=120, k=5)]
    return Structure(quantity, (1, 28, 28), tuple(items), upto=LENET_LAYERS[p["name"]])


def _stack(p: Params, quantity: str = "receptive_field") -> Structure:
    items = tuple(layer("conv", out=4, k=3, d=p["d"]) for _ in range(p["n"]))
    return Structure(quantity, (1, 64, 64), items)


def _filter_weights(p: Params) -> int:
    model = structure_model(Structure("params", (p["c"], 32, 32), model="lenet5-modern",
                                      options=(("image_size", 32), ("in_channels", p["c"]))))
    conv = [m for m in model.modules() if isinstance(m, nn.Conv2d)][p["conv"]]
    return int(conv.weight[0].numel())  # one filter: in_channels x k x k


VIZ_LINK = {"lv_model": labels.vision_model("lenet5-mnist"), "lv_source": "Test digit"}

VISUALIZATION = [
    Exercise(
        id="viz-rf-lenet", section="Layer visualization", kind="compute", title="What one unit sees",
        page=VIZ_PAGE,
        question="LeNet-5 on a 28 x 28 digit: how many pixels wide is the receptive field of one unit after "
                 "**{name}**?",
        answer="number",
        draw=lambda r: {"name": r.choice(["S2", "C3", "S4", "C5"]), "digit": r.randrange(500)},
        **structural(_lenet_features),
        link=lambda p: {**VIZ_LINK, "lv_digit": p["digit"]},
        hints=("Each layer adds (k − 1) x (the product of the strides before it).",),
        explanation="C1 5, S2 6, C3 14, S4 16, C5 32 pixels: pooling doubles how far each later kernel reaches. "
                    "The 'Effective receptive field' tab draws the theoretical square around a unit.",
        misconceptions=((lambda p: sum(KERNELS_BEFORE[p["name"]]), "added the kernel sizes"),
                        (lambda p: 1 + sum(k - 1 for k in KERNELS_BEFORE[p["name"]]),
                         "ignored the pooling's stride"))),
    Exercise(
        id="viz-rf-stack", section="Layer visualization", kind="compute", title="Stacked 3x3 convolutions",
        page=VIZ_PAGE,
        question="**{n}** stacked 3 x 3 convolutions (stride 1, dilation {d}): how many pixels wide is the "
                 "receptive field of one unit of the last one?",
        answer="number",
        draw=lambda r: {"n": r.choice([2, 3, 4, 5]), "d": r.choice([1, 1, 2])},
        **structural(_stack),
        link=lambda p: dict(VIZ_LINK),
        hints=("Each 3 x 3 layer adds 2·d pixels.",),
        explanation="1 + 2·d·n: two 3x3 convs see 5 x 5 with fewer weights than one 5x5 (VGG's idea). The page's "
                    "receptive-field tab shows how the field grows layer by layer.",
        misconceptions=((lambda p: 3 * p["n"] * p["d"], "multiplied the kernel size by the depth"),
                        (lambda p: 2 * p["n"] * p["d"], "were off by one"),
                        (lambda p: 1 + 2 * p["n"] if p["d"] > 1 else None, "ignored the dilation"))),
    Exercise(
        id="viz-maps-shape", section="Layer visualization", kind="compute", title="The feature maps of a layer",
        page=VIZ_PAGE,
        question="The page shows the feature maps of LeNet-5's **{name}** for a 28 x 28 digit. How many maps, "
                 "and how large (C x H x W)?",
        answer="shape",
        draw=lambda r: {"name": r.choice(["C1", "S2", "C3", "S4"]), "digit": r.randrange(500)},
        **structural(lambda p: _lenet_features(p, quantity="output_shape")),
        link=lambda p: {**VIZ_LINK, "lv_digit": p["digit"]},
        hints=("One map per filter; C1 pads the 28 x 28 digit by 2.",),
        explanation="C1 6 x 28 x 28, S2 6 x 14 x 14, C3 16 x 10 x 10, S4 16 x 5 x 5. The 'Feature maps' tab "
                    "draws one image per channel.",
        misconceptions=((lambda p: measure(Structure("output_shape", (1, 28, 28), tuple(
            (k, tuple((n, 0 if n == "p" else v) for n, v in o)) for k, o in _lenet_features(p).layers),
            upto=LENET_LAYERS[p["name"]])), "forgot the padding"),)),
    Exercise(
        id="viz-filter-weights", section="Layer visualization", kind="compute", title="One filter's weights",
        page=VIZ_PAGE,
        question="LeNet-5 on **{c}**-channel images: how many weights does **one** filter of its conv layer "
                 "number {number} have?",
        answer="number",
        draw=lambda r: (lambda i: {"c": r.choice([1, 3]), "conv": i, "number": i + 1})(r.choice([0, 1, 2])),
        solve=_filter_weights,
        link=lambda p: dict(VIZ_LINK),
        hints=("A filter spans every input channel of its layer.",),
        explanation="in_channels x 5 x 5: 25 (or 75) for C1, 150 for C3, 400 for C5. The 'Filters' tab draws "
                    "one square per input channel of a filter.",
        misconceptions=((lambda p: 25 if _filter_weights(p) != 25 else None, "forgot the input channels"),
                        (lambda p: _filter_weights(p) * (6, 16, 120)[p["conv"]], "counted all the filters"))),
]

# ------------------------------------------------------------------------------------ weight initialization


def _linear_std(p: Params, scheme: str) -> float:
    with torch.device("meta"):
        weight = nn.Linear(p["fan_in"], p["fan_out"]).weight
    return float(expected_std(scheme, weight, "relu"))


def _conv_std(p: Params, scheme: str = "kaiming-normal-fan-in", nonlinearity: str = "relu") -> float:
    with torch.device("meta"):
        weight = nn.Conv2d(p["cin"], p["cout"], p["k"]).weight
    return float(expected_std(scheme, weight, nonlinearity))


VANISH_CHOICES = ("shrinks towards 0", "keeps about its scale", "saturates (most values near ±1)")


@lru_cache(maxsize=32)
def _init_outcome(scheme: str, depth: int, width: int) -> dict[str, float]:
    config = InitStatsConfig(model="deep-mlp", depth=depth, width=width, activation="tanh", schemes=(scheme,),
                             batch_size=64, seed=0, bins=10)
    layers = init_statistics(config, mnist_small()).layers
    hidden = layers[(layers["kind"] == "activation") & ~layers["layer_name"].str.endswith("(logits)")]
    return {"std_ratio": scale_ratio(layers, scheme), "saturated": float(hidden["saturated"].iloc[-1])}


def _vanish_choice(metrics: dict) -> str:
    if metrics["saturated"] > 0.5:
        return VANISH_CHOICES[2]
    return VANISH_CHOICES[0] if metrics["std_ratio"] < 0.2 else VANISH_CHOICES[1]


def _init_config(setting: dict) -> TrainConfig:
    return TrainConfig(init=str(setting.get("tr_init", "zeros")), per_class=20, device="cpu")


@lru_cache(maxsize=32)
def _init_check(init: str) -> tuple[bool, str, bool]:
    config = _init_config({"tr_init": init})
    result = gradient_norms_check(config, mnist_small())
    model = build_initialized_model(config, mnist_small())
    symmetric = any(identical_units(model).values())
    return result.passed, result.message, symmetric


def _judge_init(p: Params, setting: dict) -> Verdict:
    if "tr_init" not in setting:
        changed = ", ".join(sorted(setting)) or "nothing"
        return Verdict(False, f"You changed {changed}; the initialization is still all zeros.",
                       "changed another setting, not the initialization")
    init = str(setting["tr_init"])
    if init not in INIT_SCHEMES:
        return Verdict(False, f"'{init}' is not one of the page's schemes: {', '.join(INIT_SCHEMES)}.")
    passed, message, symmetric = _init_check(init)
    if not passed:
        return Verdict(False, f"Still broken: {message}", "kept an all-zero initialization")
    if symmetric:
        return Verdict(False, "Every unit of a layer starts with the same weights, so they all get the same "
                              "gradient and stay identical: symmetry is never broken.",
                       "started every weight at the same value")
    return Verdict(True, f"Fixed: {message}")


INITIALIZATION = [
    Exercise(
        id="init-xavier-std", section="Weight initialization", kind="compute", title="Xavier's standard deviation",
        page=INIT_PAGE,
        question="Xavier/Glorot normal initialization of `nn.Linear({fan_in}, {fan_out})`: the standard deviation "
                 "of its weights?",
        answer="number", tolerance=0.02,
        draw=lambda r: {"fan_in": r.choice([64, 128, 256, 784]), "fan_out": r.choice([32, 64, 128, 256])},
        solve=lambda p: _linear_std(p, "xavier-normal"),
        link=lambda p: {"init_schemes": [labels.init("xavier-normal"), labels.init("kaiming-normal-fan-in")]},
        hints=("std = √(2 / (fan_in + fan_out)).",),
        explanation="√(2 / (fan_in + fan_out)): it keeps the variance of both the forward signal and the "
                    "backward gradient. 'Measured weight std against each formula' on the page compares them.",
        misconceptions=((lambda p: _linear_std(p, "kaiming-normal-fan-in"), "used Kaiming's formula"),
                        (lambda p: math.sqrt(1 / p["fan_in"]), "used only fan_in"),
                        (lambda p: 2 / (p["fan_in"] + p["fan_out"]), "gave the variance, not the std"))),
    Exercise(
        id="init-kaiming-std", section="Weight initialization", kind="compute", title="Kaiming for a convolution",
        page=INIT_PAGE,
        question="Kaiming (He) normal initialization, fan_in mode, for `nn.Conv2d({cin}, {cout}, {k})` followed "
                 "by ReLU: the standard deviation of its weights?",
        answer="number", tolerance=0.02,
        draw=lambda r: {"cin": r.choice([3, 16, 32, 64]), "cout": r.choice([16, 32, 64]), "k": r.choice([3, 5])},
        solve=_conv_std,
        link=lambda p: {"init_model": labels.model("plain-cnn"), "init_activation": "relu",
                        "init_schemes": [labels.init("kaiming-normal-fan-in"), labels.init("xavier-normal")]},
        hints=("fan_in of a conv = in_channels x k x k.", "ReLU's gain is √2."),
        explanation="√2 / √(cin·k·k): ReLU zeroes half the signal, the √2 makes up for it. Compare the plain "
                    "CNN's activation std per layer with and without it on the page.",
        misconceptions=((lambda p: math.sqrt(2 / p["cin"]), "forgot the kernel area in fan_in"),
                        (lambda p: _conv_std(p, "kaiming-normal-fan-out"), "used fan_out"),
                        (lambda p: math.sqrt(1 / (p["cin"] * p["k"] ** 2)), "forgot ReLU's gain of √2"))),
    Exercise(
        id="init-vanish", section="Weight initialization", kind="predict", title="Deep tanh network at birth",
        page=INIT_PAGE,
        question="A deep MLP with **{depth}** tanh layers of {width} units, initialized with **{label}**. "
                 "Predict: from the first to the last hidden layer, the activations' spread …",
        answer="choice",
        draw=lambda r: (lambda s: {"scheme": s, "label": INIT_SCHEMES[s].label, "depth": r.choice([8, 12]),
                                   "width": 128})(r.choice(["normal-small", "normal-large", "xavier-normal"])),
        solve=lambda p: _vanish_choice(_init_outcome(p["scheme"], p["depth"], p["width"])),
        choices=lambda p: VANISH_CHOICES,
        observe=lambda p, m: _vanish_choice(m), observed=("std_ratio", "saturated"),
        link=lambda p: {"init_model": labels.model("deep-mlp"), "init_depth": p["depth"], "init_activation": "tanh",
                        "init_schemes": [labels.init(p["scheme"]), labels.init(
                            "xavier-normal" if p["scheme"] != "xavier-normal" else "normal-small")]},
        hints=("Each layer multiplies the spread by about √fan_in · std.",),
        explanation="std 0.01 shrinks the signal at every layer (vanishes), std 1 blows it into tanh's flat "
                    "tails (saturates), Xavier keeps it. The 'At initialization' tab plots the std per layer.",
        misconceptions=((lambda p: VANISH_CHOICES[1], "thought the initial scale does not matter"),
                        (lambda p: VANISH_CHOICES[2] if p["scheme"] == "normal-small" else VANISH_CHOICES[0],
                         "mixed up small and large initial weights"))),
    Exercise(
        id="init-zeros-bug", section="Weight initialization", kind="bug", title="Loss stuck at 2.30 from the start",
        page=TRAIN_PAGE,
        question="LeNet-5 with `tr_init=zeros` never leaves a loss of 2.30. Pick an initialization that fixes it "
                 "(`tr_init=...`); the gradient-flow sanity check must pass.",
        answer="fix",
        draw=lambda r: {"other": r.choice(["tr_lr_adam=0.01", "tr_epochs=10"])},
        solve=lambda p: {"tr_init": "kaiming-normal-fan-in"},
        judge=_judge_init,
        link=lambda p: {"tr_init": labels.init("zeros"), "tr_model": labels.model("lenet5-modern")},
        hints=("With all weights 0, every hidden output is 0: what gradient reaches the weights?",),
        explanation="All-zero weights give zero hidden outputs, so the hidden weights get zero gradient; a "
                    "constant init lets them learn but every unit stays a copy of its neighbours. Any random "
                    "scheme breaks the symmetry. The 'Sanity checks' tab runs the gradient-flow check.",
        misconceptions=((lambda p: {"tr_init": "zeros"}, "kept an all-zero initialization"),
                        (lambda p: {"tr_init": "constant"}, "started every weight at the same value"),
                        (lambda p: dict([p["other"].split("=")]), "changed another setting, not the "
                                                                  "initialization"))),
]

# ------------------------------------------------------------------------------------------ loss functions


def _ce(p: Params) -> float:
    logits = constructed_logits(torch.tensor([p["p"]]), 10)  # 1 x 10: the true class (0) gets p
    return float(compute_loss("cross-entropy", logits, torch.tensor([0])))


def _confident(p: Params) -> dict[str, float]:
    logits = constructed_logits(torch.tensor([p["p"]]), 10)
    target = torch.tensor([0])
    return {"cross_entropy": float(compute_loss("cross-entropy", logits, target)),
            "mse": float(compute_loss("mse", logits, target))}


@lru_cache(maxsize=16)
def _floor(eps: float) -> float:
    return lowest_loss("cross-entropy", 10, eps)


def _bigger(m: dict) -> str:
    return "cross-entropy" if m["cross_entropy"] > m["mse"] else "MSE"


LOSS_LINK = {"tr_loss": labels.loss("cross-entropy")}

LOSSES = [
    Exercise(
        id="loss-initial", section="Loss functions", kind="compute", title="The loss before training",
        page=TRAIN_PAGE,
        question="A freshly initialized classifier for **{classes}** balanced classes, cross-entropy loss: what "
                 "loss do you expect before the first step?",
        answer="number", tolerance=0.01,
        draw=lambda r: {"classes": r.choice([2, 5, 10, 26, 100, 1000])},
        solve=lambda p: uniform_prediction_loss("cross-entropy", p["classes"]),
        link=lambda p: dict(LOSS_LINK),
        hints=("An untrained net gives every class about the same probability.",),
        explanation="−ln(1/K) = ln K: 2.30 for 10 classes. The 'Sanity checks' tab compares the first loss with "
                    "it; far above means a bad init or a last layer that starts confident.",
        misconceptions=((lambda p: math.log10(p["classes"]), "used log base 10"),
                        (lambda p: 1 / p["classes"], "gave the probability, not the loss"),
                        (lambda p: 0.0, "thought the loss starts at 0"))),
    Exercise(
        id="loss-ce-value", section="Loss functions", kind="compute", title="Cross-entropy of one prediction",
        page=TRAIN_PAGE,
        question="The network gives the true class a probability of **{p}** (10 classes). Its cross-entropy "
                 "loss for this image?",
        answer="number", tolerance=0.01,
        draw=lambda r: {"p": r.choice([0.9, 0.5, 0.25, 0.1, 0.01])},
        solve=_ce,
        link=lambda p: dict(LOSS_LINK),
        hints=("Cross-entropy = −ln(probability of the true class).",),
        explanation="−ln p: 0.11 at 0.9, 4.6 at 0.01. The 'Loss functions' tab plots every loss against p.",
        misconceptions=((lambda p: -math.log10(p["p"]), "used log base 10"),
                        (lambda p: math.log(p["p"]), "forgot the minus sign"),
                        (lambda p: 1 - p["p"], "gave 1 − p"))),
    Exercise(
        id="loss-smoothing-floor", section="Loss functions", kind="compute", title="The floor of label smoothing",
        page=TRAIN_PAGE,
        question="Cross-entropy with label smoothing ε = **{eps}** and 10 classes: what is the lowest loss a "
                 "network can reach?",
        answer="number", tolerance=0.02,
        draw=lambda r: {"eps": r.choice([0.05, 0.1, 0.2, 0.3])},
        solve=lambda p: _floor(p["eps"]),
        link=lambda p: {**LOSS_LINK, "tr_smoothing": p["eps"]},
        hints=("The target is no longer one-hot: it puts ε/K on every class.",),
        explanation="Above 0: the best prediction matches the smoothed target, whose entropy is the floor. The "
                    "'Loss functions' tab shows the curve bottoming out above zero.",
        misconceptions=((lambda p: 0.0, "thought the loss can still reach 0"),)),
    Exercise(
        id="loss-confident-wrong", section="Loss functions", kind="predict", title="Confident and wrong",
        page=TRAIN_PAGE,
        question="The network gives the true class only **{p}** (10 classes). Which loss punishes this more: "
                 "cross-entropy or MSE on the one-hot target?",
        answer="choice",
        draw=lambda r: {"p": r.choice([0.05, 0.01, 0.001])},
        solve=lambda p: _bigger(_confident(p)),
        choices=lambda p: ("cross-entropy", "MSE"),
        observe=lambda p, m: _bigger(m), observed=("cross_entropy", "mse"),
        link=lambda p: dict(LOSS_LINK),
        hints=("One grows like −ln p, the other stays below 2.",),
        explanation="Cross-entropy grows without bound as p → 0; MSE of probabilities stays small, so its "
                    "gradient is weak exactly when the net is most wrong.",
        misconceptions=((lambda p: "MSE", "thought squaring punishes large errors the most"),)),
]

# ----------------------------------------------------------------------------------------- regularization


def _dropout_scale(p: Params) -> float:
    with torch.random.fork_rng(devices=[]):  # a seeded mask without touching the caller's random state
        torch.manual_seed(0)
        return float(nn.Dropout(p["p"]).train()(torch.ones(10_000)).max())


def _l2_grad(p: Params) -> float:
    w = torch.tensor(float(p["w"]), requires_grad=True)
    (p["lam"] * w ** 2).backward()
    return float(w.grad)


def _decay_step(p: Params, lr: bool = True) -> float:
    w = nn.Parameter(torch.tensor([float(p["w"])]))
    optimizer = torch.optim.SGD([w], lr=p["lr"] if lr else 1.0, weight_decay=p["wd"])
    w.grad = torch.zeros(1)  # the loss's own gradient is 0: only the decay moves w
    optimizer.step()
    return float(w.detach())


REGULARIZATION = [
    Exercise(
        id="reg-dropout-scale", section="Regularization", kind="compute", title="What dropout does to survivors",
        page=REG_PAGE,
        question="`nn.Dropout(p={p})` in training mode receives a tensor of ones. What value do the elements "
                 "that are kept have?",
        answer="number", tolerance=0.001,
        draw=lambda r: {"p": r.choice([0.1, 0.2, 0.25, 0.5, 0.75, 0.8])},
        solve=_dropout_scale,
        link=lambda p: {"reg_dropout": p["p"], "reg_variants": [labels.reg_variant("none"),
                                                                labels.reg_variant("dropout")]},
        hints=("PyTorch uses inverted dropout: the expected value stays the same.",),
        explanation="1 / (1 − p): kept values are scaled up during training so that nothing changes at test "
                    "time (model.eval() turns dropout off).",
        misconceptions=((lambda p: 1 - p["p"], "scaled by 1 − p (the test-time rule of the original paper)"),
                        (lambda p: 1.0, "thought the kept values are unchanged"),
                        (lambda p: p["p"], "scaled by p"))),
    Exercise(
        id="reg-l2-gradient", section="Regularization", kind="compute", title="The pull of an L2 penalty",
        page=REG_PAGE,
        question="The loss gets an L2 penalty λ·Σw² with λ = **{lam}**. What gradient does it add to a weight "
                 "w = **{w}**?",
        answer="number", tolerance=0.001,
        draw=lambda r: {"lam": r.choice([0.001, 0.01, 0.05]), "w": r.choice([0.5, -1.5, 2.0, 3.0])},
        solve=_l2_grad,
        link=lambda p: {"reg_l2": p["lam"], "reg_variants": [labels.reg_variant("none"),
                                                             labels.reg_variant("l2-penalty")]},
        hints=("d/dw (λw²) = ?",),
        explanation="2λw: every step pulls the weight towards 0 in proportion to its size. weight_decay=λ in "
                    "the optimizer adds λw instead; the page's expander explains the difference.",
        misconceptions=((lambda p: p["lam"] * p["w"], "forgot the factor 2 (that is weight_decay's λw)"),
                        (lambda p: p["lam"] * p["w"] ** 2, "gave the penalty, not its gradient"))),
    Exercise(
        id="reg-weight-decay-step", section="Regularization", kind="compute", title="One step of weight decay",
        page=REG_PAGE,
        question="SGD with lr = **{lr}** and weight_decay = **{wd}**; a weight w = **{w}** whose loss gradient "
                 "is 0. What is w after one step?",
        answer="number", tolerance=1e-6,
        draw=lambda r: {"lr": r.choice([0.1, 0.05, 0.5]), "wd": r.choice([0.01, 0.1, 0.5]),
                        "w": r.choice([1.0, 2.0, -0.5])},
        solve=_decay_step,
        link=lambda p: {"reg_wd": p["wd"], "reg_opt": labels.optimizer("sgd"),
                        "reg_variants": [labels.reg_variant("none"), labels.reg_variant("weight-decay")]},
        hints=("The optimizer adds weight_decay · w to the gradient.",),
        explanation="w − lr·wd·w = w·(1 − lr·wd): the weight shrinks even where the loss has no opinion.",
        misconceptions=((lambda p: p["w"], "thought weight decay needs a loss gradient"),
                        (lambda p: _decay_step(p, lr=False), "forgot the learning rate"))),
    Exercise(
        id="reg-close-gap", section="Regularization", kind="target", title="Close the generalization gap",
        page=REG_PAGE,
        question="With **{per_class}** training images per class the model overfits. Choose regularizers so that "
                 "the final train − validation accuracy gap is at most **{gap:.0%}** while validation accuracy "
                 "stays at least **{acc:.0%}**.",
        answer="target",
        draw=lambda r: {"per_class": r.choice([50, 100]), "gap": r.choice([0.02, 0.03]), "acc": 0.9},
        solve=lambda p: {"train_accuracy": p["acc"] + 0.05, "val_accuracy": p["acc"] + 0.05 - p["gap"] / 2},
        target=lambda p: Target(at_least=(("val_accuracy", p["acc"]),), at_most=(("gap", p["gap"]),),
                                labels=(("gap", "still overfits: the train-validation gap is too wide"),
                                        ("val_accuracy", "regularized so hard that it underfits"))),
        judge=None,
        link=lambda p: {"reg_per_class": p["per_class"]},
        hints=("Try dropout or augmentation first; watch both curves.",),
        explanation="A good regularizer lowers training accuracy a little and raises validation accuracy; too "
                    "much lowers both. Compare the variants' final gap in the page's table.",
        misconceptions=((lambda p: {"train_accuracy": 1.0, "val_accuracy": p["acc"] + 0.01},
                         "still overfits: the train-validation gap is too wide"),
                        (lambda p: {"train_accuracy": p["acc"] - 0.1, "val_accuracy": p["acc"] - 0.1},
                         "regularized so hard that it underfits"))),
]

# ----------------------------------------------------------------------------------------------- optimizers


def _step(p: Params, optimizer: str, steps: int = 1, **options) -> float:
    w = nn.Parameter(torch.tensor([float(p.get("w", 0.0))]))
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]([w], lr=p["lr"], **options)
    for _ in range(steps):
        w.grad = torch.tensor([float(p["g"])])
        opt.step()
    return float(w.detach())


def _bowl(p: Params) -> dict[str, float]:
    w = nn.Parameter(torch.tensor([1.0]))
    opt = torch.optim.SGD([w], lr=p["lr"])
    history = []
    for _ in range(60):
        opt.zero_grad()
        (w ** 2).sum().backward()  # f(w) = w², gradient 2w
        opt.step()
        history.append(abs(float(w.detach())))
    return {"final_abs_w": history[-1], "start_abs_w": 1.0}


def _bowl_choice(m: dict) -> str:
    if not math.isfinite(m["final_abs_w"]) or m["final_abs_w"] > 1.5 * m["start_abs_w"]:
        return "diverges"
    return "converges to 0" if m["final_abs_w"] < 0.01 else "bounces between +1 and −1"


OPTIMIZERS_ = [
    Exercise(
        id="opt-sgd-step", section="Optimizers", kind="compute", title="One SGD step",
        page=OPT_PAGE,
        question="Plain SGD, lr = **{lr}**: a weight w = **{w}** has gradient **{g}**. What is w after one step?",
        answer="number", tolerance=1e-6,
        draw=lambda r: {"lr": r.choice([0.1, 0.01, 0.5]), "w": r.choice([1.0, -2.0, 0.5]),
                        "g": r.choice([0.4, -1.0, 2.0])},
        solve=lambda p: _step(p, "sgd"),
        link=lambda p: {"toy_fn": labels.surface("bowl")},
        hints=("w ← w − lr · gradient.",),
        explanation="w − lr·g: a step downhill, its length proportional to the slope. The 2-D tab draws each "
                    "step as an arrow.",
        misconceptions=((lambda p: p["w"] + p["lr"] * p["g"], "stepped up the gradient, not down"),
                        (lambda p: p["w"] - p["g"], "forgot the learning rate"))),
    Exercise(
        id="opt-momentum", section="Optimizers", kind="compute", title="Momentum builds up",
        page=OPT_PAGE,
        question="SGD with momentum μ = **{mu}**, lr = **{lr}**, a gradient of **{g}** at both of two steps "
                 "(w starts at 0). Where is w after the second step?",
        answer="number", tolerance=1e-6,
        draw=lambda r: {"mu": r.choice([0.5, 0.9, 0.99]), "lr": r.choice([0.1, 0.01]), "g": r.choice([1.0, 2.0])},
        solve=lambda p: _step(p, "sgd", 2, momentum=p["mu"]),
        link=lambda p: {"toy_fn": labels.surface("bowl")},
        hints=("PyTorch: v ← μ·v + g, w ← w − lr·v.",),
        explanation="−lr·g·(1 + (1 + μ)): the second step is (1 + μ) times the first. Compare SGD and SGD + "
                    "momentum on the page's narrow bowl.",
        misconceptions=((lambda p: -2 * p["lr"] * p["g"], "forgot the momentum"),
                        (lambda p: -p["lr"] * p["g"] * (1 + p["mu"]), "gave only the second step")),
    ),
    Exercise(
        id="opt-adam-first-step", section="Optimizers", kind="compute", title="Adam's first step",
        page=OPT_PAGE,
        question="Adam with lr = **{lr}** (default betas); w = 0 gets a gradient of **{g}**. Where is w after the "
                 "first step?",
        answer="number", tolerance=0.01,
        draw=lambda r: {"lr": r.choice([0.001, 0.01, 0.1]), "g": r.choice([0.001, 5.0, -3.0, 100.0])},
        solve=lambda p: _step(p, "adam"),
        link=lambda p: {"toy_fn": labels.surface("bowl")},
        hints=("With bias correction, the first update is lr · g / |g|.",),
        explanation="−lr·sign(g): Adam divides by the gradient's own size, so the first step has length lr "
                    "whatever the slope. On the page Adam moves at a steady pace on steep and flat surfaces.",
        misconceptions=((lambda p: -p["lr"] * p["g"], "took Adam for plain SGD"),
                        (lambda p: p["lr"] * (1 if p["g"] > 0 else -1), "stepped up the gradient"))),
    Exercise(
        id="opt-lr-bowl", section="Optimizers", kind="predict", title="Too large a step",
        page=OPT_PAGE,
        question="Plain SGD on f(w) = w², starting at w = 1, lr = **{lr}**. Predict what w does in 60 steps.",
        answer="choice",
        draw=lambda r: {"lr": r.choice([0.1, 0.4, 0.9, 1.0, 1.1])},
        solve=lambda p: _bowl_choice(_bowl(p)),
        choices=lambda p: ("converges to 0", "bounces between +1 and −1", "diverges"),
        observe=lambda p, m: _bowl_choice(m), observed=("final_abs_w", "start_abs_w"),
        link=lambda p: {"toy_fn": labels.surface("bowl")},
        hints=("Each step multiplies w by (1 − 2·lr).",),
        explanation="w ← (1 − 2·lr)·w: |1 − 2·lr| < 1 converges (zig-zagging above lr = 0.5), = 1 bounces "
                    "forever, > 1 diverges. Raise the learning rate in the page's 2-D runs.",
        misconceptions=((lambda p: "converges to 0", "thought a larger rate always gets there faster"),
                        (lambda p: "diverges", "thought any zig-zag means divergence"))),
]

EXERCISES = [*DEFINE, *VISUALIZATION, *INITIALIZATION, *LOSSES, *REGULARIZATION, *OPTIMIZERS_]
