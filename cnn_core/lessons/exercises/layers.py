"""Exercises on the lecture's first half: ANNs vs CNNs, LeNet-5, and the basic layers (input to fully-connected)."""
from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import normalize

from cnn_core.data import load_dataset
from cnn_core.lessons import labels
from cnn_core.lessons.core import Exercise, Params, Structure, Verdict, layer
from cnn_core.lessons.exercises.common import structural
from cnn_core.lessons.measure import measure, structure_model
from cnn_core.models.activations import make_activation
from cnn_core.models.cost import profile
from cnn_core.teaching.layer_ops import (KERNEL_PRESETS, apply_activation, dead_relu_report,
                                         lecture_flatten_walkthrough, sample_feature_map)

ANN_PAGE, ARCH_PAGE, LAYERS_PAGE = "1_From_ANNs_to_CNNs.py", "2_Architecture.py", "3_Basic_Layers.py"
ARCH_INPUTS = {(1, 28): "1 x 28 x 28 (MNIST)", (1, 32): "1 x 32 x 32 (LeCun's LeNet input)",
               (3, 32): "3 x 32 x 32 (CIFAR-10)"}  # the Architecture page's Input choices
REGISTRY_SOURCE = "📚 Registry model"  # the Architecture page's source radio


@lru_cache(maxsize=1)
def mnist_small():
    """The page's MNIST digits (20 per class for training): real data for checks that need images."""
    return load_dataset("mnist-5k", per_class=20)


def _weights_only(structure: Structure) -> int:
    """Parameters without the biases (a misconception: 'forgot the biases')."""
    model = structure_model(structure)
    return int(sum(p.numel() for name, p in model.named_parameters() if not name.endswith("bias")))


def _arch_link(p: Params) -> dict[str, str]:
    return {"arch_source": REGISTRY_SOURCE, "arch_registry": labels.model("lenet5-modern"),
            "arch_registry_input": ARCH_INPUTS[(p["c"], p["size"])]}


# ------------------------------------------------------------------------------------------ ANNs vs CNNs


def _fc(p: Params, channels: int = 3, bias: bool = True) -> Structure:
    return Structure("params", (channels * p["size"] ** 2,), (layer("linear", out=p["hidden"], bias=bias),))


def _conv1(p: Params, channels: int = 3, bias: bool = True) -> Structure:
    return Structure("params", (channels, p["size"], p["size"]), (layer("conv", out=p["filters"], k=p["k"],
                                                                         bias=bias),))


def _growth_choice(fc_ratio: float, conv_ratio: float) -> str:
    fc = "x4" if fc_ratio > 3 else ("x2" if fc_ratio > 1.5 else "unchanged")
    conv = "x4" if conv_ratio > 3 else ("x2" if conv_ratio > 1.5 else "unchanged")
    return f"FC {fc}, conv {conv}"


GROWTH_CHOICES = ("FC x4, conv unchanged", "FC x2, conv x2", "FC x4, conv x4", "FC unchanged, conv unchanged")


def _growth(p: Params) -> str:
    big = {**p, "size": 2 * p["size"]}
    return _growth_choice(measure(_fc(big)) / measure(_fc(p)), measure(_conv1(big)) / measure(_conv1(p)))


ANN = [
    Exercise(
        id="ann-fc-params", section="ANNs vs CNNs", kind="compute", title="A fully-connected layer on an image",
        page=ANN_PAGE,
        question="A fully-connected layer with **{hidden}** units sees a **{size} x {size}** RGB image, flattened. "
                 "How many parameters (weights and biases) does it have?",
        answer="number",
        draw=lambda r: {"size": r.choice([8, 16, 28, 32, 64]), "hidden": r.choice([64, 128, 256, 512])},
        **structural(_fc),
        link=lambda p: {"growth_hidden": p["hidden"]},
        hints=("Every unit has one weight per input value, plus one bias.",
               "An RGB image of H x W pixels has 3·H·W input values."),
        explanation="3·H·W·units weights plus one bias per unit. The page's chart shows this number exploding "
                    "with the image size: read the fully-connected curve at your size.",
        misconceptions=((lambda p: measure(_fc(p, bias=False)), "forgot the biases"),
                        (lambda p: measure(_fc(p, channels=1)), "forgot the 3 colour channels"),
                        (lambda p: measure(_fc(p, bias=False)) + 1, "counted the bias once"))),
    Exercise(
        id="ann-conv-params", section="ANNs vs CNNs", kind="compute", title="A conv layer on the same image",
        page=ANN_PAGE,
        question="A convolution layer with **{filters}** filters of **{k} x {k}** sees the same kind of RGB image "
                 "(**{size} x {size}**). How many parameters does it have?",
        answer="number",
        draw=lambda r: {"size": r.choice([16, 28, 32, 64]), "filters": r.choice([8, 16, 32, 64]),
                        "k": r.choice([3, 5, 7])},
        **structural(_conv1),
        link=lambda p: {"growth_filters": p["filters"], "growth_kernel": p["k"]},
        hints=("A filter spans all input channels: 3 x k x k weights, plus one bias.",
               "The image size does not appear: the same filter slides everywhere."),
        explanation="filters x (3·k·k + 1), whatever the image size: weight sharing. On the page the conv curve "
                    "stays flat while the fully-connected one grows with the area.",
        misconceptions=((lambda p: measure(_conv1(p, channels=1)), "forgot that a filter spans all 3 channels"),
                        (lambda p: measure(_conv1(p, bias=False)), "forgot the biases"),
                        (lambda p: 3 * p["size"] ** 2 * p["filters"], "gave each pixel its own weight"))),
    Exercise(
        id="ann-growth", section="ANNs vs CNNs", kind="predict", title="Double the image side",
        page=ANN_PAGE,
        question="Predict, then look: the image side doubles from **{size}** to **{big}** pixels. What happens "
                 "to the parameters of the fully-connected layer ({hidden} units) and of the conv layer "
                 "({filters} filters of {k} x {k})?",
        answer="choice",
        draw=lambda r: (lambda s: {"size": s, "big": 2 * s, "hidden": r.choice([128, 256]),
                                   "filters": r.choice([16, 32]), "k": r.choice([3, 5])})(r.choice([16, 32, 64])),
        solve=_growth,
        choices=lambda p: GROWTH_CHOICES,
        observe=lambda p, m: _growth_choice(m["fc_params_big"] / m["fc_params_small"],
                                            m["conv_params_big"] / m["conv_params_small"]),
        observed=("fc_params_small", "fc_params_big", "conv_params_small", "conv_params_big"),
        link=lambda p: {"growth_hidden": p["hidden"], "growth_filters": p["filters"], "growth_kernel": p["k"]},
        hints=("Twice the side is four times the pixels.",),
        explanation="The fully-connected layer has a weight per pixel: 4x the pixels, ~4x the weights. A "
                    "filter's weights do not depend on the image size. Compare the two curves at both sizes.",
        misconceptions=((lambda p: "FC x4, conv x4", "thought a conv layer's weights grow with the image"),
                        (lambda p: "FC x2, conv x2", "thought parameters grow with the side, not the area"),
                        (lambda p: "FC unchanged, conv unchanged", "thought fully-connected weights are shared"))),
]

# ------------------------------------------------------------------------------------- LeNet-5


def _lenet(p: Params, quantity: str = "params") -> Structure:
    return Structure(quantity, (p["c"], p["size"], p["size"]), model="lenet5-modern",
                     options=(("image_size", p["size"]), ("in_channels", p["c"])))


def _lenet_layers(p: Params, pad: bool = True, pool: bool = True, upto: int | None = None,
                  quantity: str = "output_shape") -> Structure:
    """LeNet-5's feature extractor as a layer list: C1, ReLU, S2, C3, ReLU, S4, C5."""
    items = [layer("conv", out=6, k=5, p=(32 - p["size"]) // 2 if pad else 0), layer("relu")]
    items += [layer("maxpool", k=2)] if pool else []
    items += [layer("conv", out=16, k=5), layer("relu")]
    items += [layer("maxpool", k=2)] if pool else []
    items += [layer("conv", out=120, k=5)]
    return Structure(quantity, (p["c"], p["size"], p["size"]), tuple(items), upto=upto)


LENET_NAMES = ("C1", "C3", "C5", "F6", "output")


def _lenet_order(p: Params, attribute: str = "params") -> tuple[str, ...]:
    cost = profile(structure_model(_lenet(p)), (p["c"], p["size"], p["size"]))
    weighted = [layer_cost for layer_cost in cost.layers if layer_cost.params > 0]  # C1, C3, C5, F6, output
    values = dict(zip(LENET_NAMES, (getattr(c, attribute) for c in weighted)))
    return tuple(sorted(LENET_NAMES, key=lambda name: -values[name]))


def _draw_input(r) -> dict:
    c, size = r.choice(list(ARCH_INPUTS))
    return {"c": c, "size": size, "pad": (32 - size) // 2}


def _c3_upto(p: Params, pool: bool = True) -> int:
    return 5 if pool else 4  # C1, ReLU, S2, C3, ReLU (4 without S2)


LENET = [
    Exercise(
        id="lenet-params", section="Architecture & LeNet-5", kind="compute", title="LeNet-5's parameters",
        page=ARCH_PAGE,
        question="LeNet-5 (modern: ReLU + max pooling) on a **{c} x {size} x {size}** input: how many trainable "
                 "parameters?",
        answer="number", draw=_draw_input, **structural(_lenet), link=_arch_link,
        hints=("Add each layer's weights and biases: C1, C3, C5, F6 and the output layer.",
               "Pooling has no parameters here."),
        explanation="C1 156 (or 456 for 3 channels), C3 2,416, C5 48,120, F6 10,164, output 850. The page's "
                    "table lists each layer's parameters; the total is under it.",
        misconceptions=((lambda p: _weights_only(_lenet(p)), "forgot the biases"),
                        (lambda p: measure(_lenet({**p, "c": 1})) if p["c"] == 3 else None,
                         "counted C1 with one input channel"))),
    Exercise(
        id="lenet-c3-shape", section="Architecture & LeNet-5", kind="compute", title="The shape after C3",
        page=ARCH_PAGE,
        question="LeNet-5 on a **{c} x {size} x {size}** input (C1 pads by {pad}): C1 is a 5x5 conv with 6 "
                 "filters, S2 a 2x2 max pool, C3 a 5x5 conv with 16 filters. Shape of C3's output (C x H x W)?",
        answer="shape", draw=_draw_input,
        **structural(lambda p: _lenet_layers(p, upto=_c3_upto(p))),
        link=_arch_link,
        hints=("out = (in + 2p − k) / s + 1 for each conv and pool.", "C3 has 16 filters."),
        explanation="C1 keeps 28 x 28 (32 − 5 + 1, or 28 + 4 − 5 + 1), S2 halves it to 14, C3 gives 14 − 5 + 1 = "
                    "10: 16 x 10 x 10. The page's table shows every layer's output shape.",
        misconceptions=((lambda p: measure(_lenet_layers(p, pad=False, upto=5)), "forgot the padding"),
                        (lambda p: measure(_lenet_layers(p, pool=False, upto=4)), "forgot the pooling"),
                        (lambda p: (6,) + measure(_lenet_layers(p, upto=5))[1:], "kept C1's 6 channels"))),
    Exercise(
        id="lenet-order-params", section="Architecture & LeNet-5", kind="compute",
        title="Where LeNet-5's parameters are",
        page=ARCH_PAGE,
        question="Order LeNet-5's weighted layers (**{shown}**) by their number of parameters, largest first "
                 "({c} x {size} x {size} input).",
        answer="order",
        draw=lambda r: {**_draw_input(r), "shown": ", ".join(r.sample(LENET_NAMES, len(LENET_NAMES)))},
        solve=_lenet_order,
        choices=lambda p: tuple(p["shown"].split(", ")),
        link=_arch_link,
        hints=("C5 connects 16 maps of 5 x 5 to 120 units: it is a fully-connected layer in disguise.",),
        explanation="C5 (48,120) > F6 (10,164) > C3 (2,416) > output (850) > C1 (156 or 456): most weights sit "
                    "where the maps are small and the channels many. Sort the page's parameter column.",
        misconceptions=((lambda p: LENET_NAMES, "listed the layers from input to output"),
                        (lambda p: _lenet_order(p, "macs"), "ordered them by multiply-adds, not parameters"))),
    Exercise(
        id="lenet-c1-macs", section="Architecture & LeNet-5", kind="compute", title="The work of C1",
        page=ARCH_PAGE,
        question="How many multiply-adds does C1 (6 filters of 5 x 5, padding {pad}) do for one "
                 "**{c} x {size} x {size}** image?",
        answer="number", draw=_draw_input,
        **structural(lambda p: _lenet_layers(p, upto=1, quantity="macs")),
        link=_arch_link,
        hints=("One multiply-add per weight of a filter, for every output value.",
               "Output values: 6 x 28 x 28."),
        explanation="6 x 28 x 28 outputs x (channels x 5 x 5) multiply-adds each: 117,600 for one channel. The "
                    "page's mult-adds column shows it per layer.",
        misconceptions=((lambda p: measure(_lenet_layers(p, pad=False, upto=1, quantity="macs")),
                         "forgot the padding"),
                        (lambda p: measure(replace(_lenet_layers(p, upto=1), quantity="params")),
                         "counted parameters, not multiply-adds"),
                        (lambda p: measure(_lenet_layers({**p, "c": 1}, upto=1, quantity="macs"))
                         if p["c"] == 3 else None, "forgot the input channels"))),
]

# ------------------------------------------------------------------------------------------- input layer


def _pixels(p: Params, channels: int | None = None) -> int:
    c = p["c"] if channels is None else channels
    return measure(Structure("output_shape", (c, p["h"], p["w"]), (layer("flatten"),)))[0]


def _batch_shape(p: Params) -> tuple[int, ...]:
    return tuple(int(v) for v in mnist_small().test_x[: p["n"]].shape)


def _normalized(p: Params, scale: float = 255.0, mean: bool = True, std: bool = True) -> float:
    data = mnist_small()
    pixel = torch.full((1, 1, 1), p["v"] / scale)
    return float(normalize(pixel, [data.mean[0] if mean else 0.0], [data.std[0] if std else 1.0])[0, 0, 0])


INPUT = [
    Exercise(
        id="input-values", section="Input layer", kind="compute", title="Numbers in one image",
        page=LAYERS_PAGE,
        question="An image of **{h} x {w}** pixels with **{c}** channel(s) enters the network. How many input "
                 "values is that?",
        answer="number",
        draw=lambda r: {**dict(zip(("h", "w"), r.choice([(28, 28), (32, 32), (240, 160), (64, 48), (224, 224)]))),
                        "c": r.choice([1, 3]), "digit": r.randrange(100)},
        solve=_pixels,
        link=lambda p: {"input_digit": p["digit"]},
        hints=("Channels x height x width.",),
        explanation="C·H·W values; an RGB image is three stacked grayscale images. The Input tab shows the "
                    "channels of a photo side by side.",
        misconceptions=((lambda p: _pixels(p, 1) if p["c"] == 3 else None, "forgot the colour channels"),
                        (lambda p: p["c"] * (p["h"] + p["w"]), "added height and width"))),
    Exercise(
        id="input-batch-shape", section="Input layer", kind="compute", title="A batch as nn.Conv2d wants it",
        page=LAYERS_PAGE,
        question="The page's MNIST test digits, **{n}** of them, as one tensor that `nn.Conv2d` accepts: its "
                 "shape (N x C x H x W)?",
        answer="shape",
        draw=lambda r: {"n": r.choice([8, 16, 32, 64, 100]), "digit": r.randrange(100)},
        solve=_batch_shape,
        link=lambda p: {"input_digit": p["digit"]},
        hints=("PyTorch puts the channels before height and width.", "MNIST is grayscale: 1 channel."),
        explanation="N x 1 x 28 x 28: batch first, then channels (1 for grayscale), then rows and columns. "
                    "PIL and NumPy images put channels last; PyTorch does not.",
        misconceptions=((lambda p: (p["n"], 28, 28, 1), "put the channels last"),
                        (lambda p: (p["n"], 28, 28), "left out the channel dimension"),
                        (lambda p: (1, 28, 28), "left out the batch dimension"))),
    Exercise(
        id="input-normalize", section="Input layer", kind="compute", title="A normalized pixel",
        page=LAYERS_PAGE,
        question="A pixel of brightness **{v}** (0..255) goes through `ToTensor()` and then `Normalize` with "
                 "the dataset's mean and std (the Input tab shows them). What value does the network see?",
        answer="number", tolerance=0.01,
        draw=lambda r: {"v": r.choice([0, 32, 64, 128, 200, 255]), "digit": r.randrange(100)},
        solve=_normalized,
        link=lambda p: {"input_digit": p["digit"]},
        hints=("ToTensor divides by 255 first.", "Then (x − mean) / std."),
        explanation="(v / 255 − mean) / std: black becomes about −0.42 and white about 2.8 for MNIST. The Input "
                    "tab shows the raw and the normalized values of a digit.",
        misconceptions=((lambda p: _normalized(p, scale=1.0), "forgot to divide by 255"),
                        (lambda p: _normalized(p, std=False), "subtracted the mean but did not divide by the std"),
                        (lambda p: _normalized(p, mean=False), "divided by the std but did not subtract the mean"))),
]

# ------------------------------------------------------------------------------------------- convolution

PRESETS = {name: preset for name, preset in KERNEL_PRESETS.items() if name != "identity-3x3"}


def _kernel_size(name: str) -> int:
    return int(KERNEL_PRESETS[name].tensor().shape[0])


def _conv_draw(r) -> dict:
    preset = r.choice(sorted(PRESETS))
    return {"preset": preset, "label": KERNEL_PRESETS[preset].label, "k": _kernel_size(preset),
            "s": r.choice([1, 2, 3]), "p": r.choice([0, 1, 2, 3])}


def _conv(p: Params, padding: int | None = None, stride: int | None = None, k: int | None = None,
          quantity: str = "output_shape") -> Structure:
    return Structure(quantity, (1, 28, 28), (layer("conv", out=1, k=k or p["k"], s=stride or p["s"],
                                                   p=p["p"] if padding is None else padding,
                                                   d=p.get("d", 1)),))


def _conv_link(p: Params) -> dict[str, str]:
    return {"conv_source": "MNIST digit", "conv_kernel": labels.kernel(p["preset"]), "conv_stride": p.get("s", 1),
            "conv_padding": p.get("p", 0), "conv_dilation": p.get("d", 1)}


def _same_padding(p: Params) -> int:
    size = (1, p["h"], p["h"])
    for padding in range(p["k"] + 1):  # the smallest padding whose output keeps the size (torch decides)
        if measure(Structure("output_shape", size, (layer("conv", out=1, k=p["k"], p=padding),)))[1:] == size[1:]:
            return padding
    raise AssertionError("no padding keeps the size")


def _conv_params_structure(p: Params, channels: int | None = None, bias: bool = True) -> Structure:
    return Structure("params", (channels or p["cin"], 8, 8), (layer("conv", out=p["cout"], k=p["k"], bias=bias),))


def _conv_params(p: Params, channels: int | None = None, bias: bool = True) -> int:
    return measure(_conv_params_structure(p, channels, bias))


CONVOLUTION = [
    Exercise(
        id="conv-output-shape", section="Convolution", kind="compute", title="Output size of a convolution",
        page=LAYERS_PAGE,
        question="The **{label}** kernel ({k} x {k}) slides over a 28 x 28 MNIST digit with stride **{s}** and "
                 "padding **{p}**. Shape of the output (C x H x W)?",
        answer="shape", draw=_conv_draw, **structural(_conv), link=_conv_link,
        hints=("out = ⌊(in + 2p − k) / s⌋ + 1.", "One kernel gives one output channel."),
        explanation="⌊(28 + 2p − k) / s⌋ + 1 per side. The Convolution tab prints the formula with your "
                    "numbers under the output image.",
        misconceptions=((lambda p: measure(_conv(p, padding=0)), "forgot the padding"),
                        (lambda p: (1,) + tuple(v - 1 for v in measure(_conv(p))[1:]),
                         "were off by one in the size formula"),
                        (lambda p: measure(_conv(p, stride=1)), "ignored the stride"))),
    Exercise(
        id="conv-dilation-span", section="Convolution", kind="compute", title="What dilation spans",
        page=LAYERS_PAGE,
        question="The **{label}** kernel ({k} x {k}) with dilation **{d}**: how many pixels wide is the window "
                 "it covers?",
        answer="number",
        draw=lambda r: {**_conv_draw(r), "s": 1, "p": 0, "d": r.choice([2, 3, 4])},
        **structural(lambda p: _conv(p, quantity="receptive_field")),
        link=_conv_link,
        hints=("Dilation d puts d − 1 gaps between neighbouring taps.",),
        explanation="d·(k − 1) + 1 pixels: the taps spread out, the weights stay k x k. Turn the dilation up "
                    "and watch the taps on the zoomed window.",
        misconceptions=((lambda p: p["k"] * p["d"], "multiplied the kernel size by the dilation"),
                        (lambda p: p["d"] * (p["k"] - 1), "were off by one in the span formula"),
                        (lambda p: p["k"], "thought dilation leaves the window unchanged"))),
    Exercise(
        id="conv-params", section="Convolution", kind="compute", title="Parameters of Conv2d",
        page=LAYERS_PAGE,
        question="`nn.Conv2d({cin}, {cout}, kernel_size={k})`: how many parameters?",
        answer="number",
        draw=lambda r: {"cin": r.choice([1, 3, 6, 16, 32]), "cout": r.choice([6, 16, 32, 64]),
                        "k": r.choice([1, 3, 5])},
        **structural(_conv_params_structure), link=lambda p: {},
        hints=("Each of the out_channels filters has in_channels x k x k weights and one bias.",),
        explanation="cout · (cin·k·k + 1). The bias is one number per filter, not per weight.",
        misconceptions=((lambda p: _conv_params(p, bias=False), "forgot the biases"),
                        (lambda p: _conv_params(p, bias=False) + 1, "counted the bias once"),
                        (lambda p: _conv_params(p, channels=1) if p["cin"] > 1 else None,
                         "forgot the input channels"))),
    Exercise(
        id="conv-same-padding", section="Convolution", kind="compute", title="Padding that keeps the size",
        page=LAYERS_PAGE,
        question="Which padding keeps a **{h} x {h}** map at {h} x {h} under the **{label}** kernel "
                 "({k} x {k}, stride 1)?",
        answer="number",
        draw=lambda r: {**_conv_draw(r), "s": 1, "p": 0, "h": r.choice([28, 32, 64])},
        solve=_same_padding,
        link=_conv_link,
        hints=("A k x k kernel loses k − 1 pixels per side pair without padding.",),
        explanation="(k − 1) / 2 on each side: 1 for 3x3, 2 for 5x5 ('same' padding). Set the padding on the "
                    "page and check the output size.",
        misconceptions=((lambda p: p["k"] - 1, "added all k − 1 pixels on each side"),
                        (lambda p: p["k"], "padded by the kernel size"),
                        (lambda p: 0, "thought a stride of 1 keeps the size by itself"))),
]

# ------------------------------------------------------------------------------------------- activation


def _feature_map(p: Params) -> torch.Tensor:
    generator = torch.Generator().manual_seed(p["map_seed"])
    return torch.randint(-3, 4, (3, 4), generator=generator).float()  # 3 x 4 small integers with zeros


def _map_text(t: torch.Tensor) -> str:
    return "[" + "; ".join(" ".join(f"{int(v)}" for v in row) for row in t.tolist()) + "]"


def _draw_relu_map(r) -> dict:
    """A map with zeros in it, where every typical miscount gives a different number."""
    while True:
        seed = r.randrange(10_000)
        t = _feature_map({"map_seed": seed})
        zero, negative, positive = int((t == 0).sum()), int((t < 0).sum()), int((t > 0).sum())
        if zero and positive != zero + negative:
            return {"map_seed": seed, "text": _map_text(t)}


def _derivative(name: str, x: float) -> float:
    value = torch.tensor(float(x), requires_grad=True)
    make_activation(name)(value).backward()  # autograd's slope of the registry's activation
    return float(value.grad)


def _activation_value(name: str, x: float) -> float:
    return float(apply_activation(name, torch.tensor(float(x))))


PROPERTIES = {
    "only outputs values between 0 and 1": lambda y, x: bool((y > 0).all() and (y < 1).all()),
    "only outputs values between −1 and 1, with negative outputs for negative inputs":
        lambda y, x: bool((y > -1).all() and (y < 1).all() and (y[x < 0] < 0).all()),
    "outputs exactly 0 for every negative input": lambda y, x: bool((y[x < 0] == 0).all()),
    "lets negative inputs through, scaled down by a small slope": lambda y, x: bool(
        (y[x < 0] < 0).all() and torch.allclose(y[x < 0], 0.01 * x[x < 0])),
}
ACTIVATION_CHOICES = ("relu", "leaky_relu", "tanh", "sigmoid")


def _with_property(prop: str) -> str:
    x = torch.linspace(-8, 8, 161)  # 161 points, 0.1 apart
    found = [name for name in ACTIVATION_CHOICES if PROPERTIES[prop](apply_activation(name, x), x)]
    return found[0]


def _dead_fraction(shift: float) -> float:
    """The share of C1's ReLU units that never fire on 64 test digits, for a fresh LeNet-5 (seed 0)."""
    return _dead_fraction_cached(round(float(shift), 3))


@lru_cache(maxsize=64)
def _dead_fraction_cached(shift: float) -> float:
    from cnn_core.models import build_model  # the registry: a real model, seeded

    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's random state
        torch.manual_seed(0)
        model = build_model("lenet5-modern")
    data = mnist_small()
    report = dead_relu_report(model, data.test_x[:64], data.test_y[:64], shift)
    return float(report["dead_fraction"].iloc[0])


def _judge_dead(p: Params, setting: dict) -> Verdict:
    if "dead_shift" not in setting:
        return Verdict(False, "Change the bias shift (dead_shift): that is what switched the units off.",
                       "changed another setting")
    shift = float(setting["dead_shift"])
    if not -5.0 <= shift <= 0.0:
        return Verdict(False, "The page's bias shift goes from −5 to 0.")
    dead = _dead_fraction(shift)
    if dead <= p["limit"]:
        return Verdict(True, f"Fixed: at a shift of {shift:g}, {dead:.0%} of C1's ReLU units are dead "
                             f"(at most {p['limit']:.0%} allowed).")
    label = "moved the bias further down" if shift < p["shift"] else (
        "left the bias shift as it was" if shift == p["shift"] else None)
    return Verdict(False, f"At a shift of {shift:g}, {dead:.0%} of C1's ReLU units still never fire.", label)


ACTIVATION = [
    Exercise(
        id="act-relu-zeros", section="Activation", kind="compute", title="Zeros after ReLU",
        page=LAYERS_PAGE,
        question="ReLU is applied to this 3 x 4 feature map (rows separated by ;): **{text}**. How many "
                 "outputs are exactly 0?",
        answer="number",
        draw=_draw_relu_map,
        solve=lambda p: int((torch.relu(_feature_map(p)) == 0).sum()),
        link=lambda p: {"act_apply": "relu"},
        hints=("ReLU(x) = max(0, x).",),
        explanation="Every value ≤ 0 becomes 0, zeros included. The Activation tab shows the share of exact "
                    "zeros after ReLU on a real feature map.",
        misconceptions=((lambda p: int((_feature_map(p) < 0).sum()), "forgot that 0 stays 0"),
                        (lambda p: int((_feature_map(p) > 0).sum()), "counted the values ReLU keeps"))),
    Exercise(
        id="act-derivative", section="Activation", kind="compute", title="The slope of a squashing function",
        page=LAYERS_PAGE,
        question="What is the derivative of **{fn}** at x = **{x}**?",
        answer="number", tolerance=0.01,
        draw=lambda r: {"fn": r.choice(["sigmoid", "tanh"]), "x": r.choice([0.0, 0.5, 1.0, 2.0, -1.0, 3.0])},
        solve=lambda p: _derivative(p["fn"], p["x"]),
        link=lambda p: {"act_apply": p["fn"]},
        hints=("σ'(x) = σ(x)(1 − σ(x)); tanh'(x) = 1 − tanh²(x).",),
        explanation="At most 0.25 for the sigmoid and 1 for tanh, falling fast away from 0: gradients through "
                    "many such layers shrink. Widen the x range on the page's curves to see the flat tails.",
        misconceptions=((lambda p: _activation_value(p["fn"], p["x"]), "gave the function's value, not its slope"),
                        (lambda p: _derivative("tanh" if p["fn"] == "sigmoid" else "sigmoid", p["x"]),
                         "mixed up the sigmoid and tanh"))),
    Exercise(
        id="act-which", section="Activation", kind="predict", title="Know your activations",
        page=LAYERS_PAGE,
        question="Which activation **{prop}**? Commit to one, then plot all four on the page.",
        answer="choice",
        draw=lambda r: {"prop": r.choice(sorted(PROPERTIES))},
        solve=lambda p: _with_property(p["prop"]),
        choices=lambda p: ACTIVATION_CHOICES,
        observe=lambda p, m: _with_property(p["prop"]),
        link=lambda p: {"act_range": ["-8.0", "8.0"]},
        hints=("Plot them over −8..8 and read the y axis.",),
        explanation="sigmoid lives in (0, 1), tanh in (−1, 1), ReLU is 0 for x < 0, leaky ReLU is 0.01·x there. "
                    "The curves on the page show each range.",
        misconceptions=((lambda p: "tanh" if _with_property(p["prop"]) == "sigmoid" else "sigmoid",
                         "mixed up the sigmoid and tanh"),
                        (lambda p: "leaky_relu" if _with_property(p["prop"]) == "relu" else "relu",
                         "mixed up ReLU and leaky ReLU"))),
    Exercise(
        id="act-dead-relu", section="Activation", kind="bug", title="Bring dead ReLUs back",
        page=LAYERS_PAGE,
        question="With a bias shift of **{shift}** (the 'Dying ReLU' slider), most ReLU units after C1 never "
                 "fire. Find a shift at which at most **{limit:.0%}** of them are dead, and give it as "
                 "`dead_shift=...`.",
        answer="fix",
        draw=lambda r: {"shift": r.choice([-3.0, -4.0, -5.0]), "limit": 0.5},
        solve=lambda p: {"dead_shift": 0.0},
        judge=_judge_dead,
        link=lambda p: {"dead_shift": p["shift"]},
        hints=("A unit is dead when its input is negative for every image.", "Move the bias back up."),
        explanation="A large negative bias makes every pre-activation negative: ReLU outputs 0 and passes no "
                    "gradient back, so the unit cannot recover. The check re-measures the dead share after C1 "
                    "(cnn_core's dead_relu_report, a fresh seeded LeNet-5, 64 test digits).",
        misconceptions=((lambda p: {"dead_shift": p["shift"]}, "left the bias shift as it was"),
                        (lambda p: {"dead_shift": p["shift"] - 1.0} if p["shift"] > -5 else None,
                         "moved the bias further down"),
                        (lambda p: {"act_apply": "leaky_relu"}, "changed another setting"))),
]

# --------------------------------------------------------------------------------------------- pooling


def _pool_draw(r) -> dict:
    k = r.choice([2, 3])
    return {"h": r.choice([5, 6, 7, 8, 9, 10]), "k": k, "s": r.choice([2, 3]), "p": r.choice(range(k // 2 + 1)),
            "ceil": r.choice([False, True]), "seed": r.randrange(1000)}


def _pool(p: Params, padding: int | None = None, ceil: bool | None = None, stride: int | None = None,
          kind: str = "maxpool") -> Structure:
    return Structure("output_shape", (1, p["h"], p["h"]),
                     (layer(kind, k=p["k"], s=stride or p["s"], p=p["p"] if padding is None else padding,
                            ceil=p["ceil"] if ceil is None else ceil),))


def _pool_link(p: Params) -> dict[str, str]:
    return {"pool_size": p["h"], "pool_seed": p["seed"], "pool_kernel": p["k"], "pool_stride": p["s"],
            "pool_padding": p.get("p", 0), "pool_ceil": str(bool(p.get("ceil", False))).lower()}


def _pooled(p: Params, kind: str) -> torch.Tensor:
    values = sample_feature_map(p["h"], p["seed"])[None, None]  # 1 x 1 x h x h, the page's map
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    return pool(values.float(), p["k"], p["s"])[0, 0]


def _pool_compare(avg_sum: float, max_sum: float) -> str:
    return "smaller" if avg_sum < max_sum else ("equal" if math.isclose(avg_sum, max_sum) else "larger")


def _block_params(p: Params, pool_weights: bool = False) -> int:
    total = measure(Structure("params", (p["cin"], 16, 16), (layer("conv", out=p["cout"], k=3), layer("relu"),
                                                              layer("maxpool", k=p["k"]))))
    return total + (p["cout"] * p["k"] ** 2 if pool_weights else 0)


POOLING = [
    Exercise(
        id="pool-output-shape", section="Pooling", kind="compute", title="Output size of a pooling layer",
        page=LAYERS_PAGE,
        question="`nn.MaxPool2d(kernel_size={k}, stride={s}, padding={p}, ceil_mode={ceil})` on a "
                 "**1 x {h} x {h}** map: output shape?",
        answer="shape", draw=_pool_draw, **structural(_pool), link=_pool_link,
        hints=("The same formula as a convolution; ceil_mode rounds up instead of down.",),
        explanation="⌊(h + 2p − k) / s⌋ + 1 (⌈⌉ with ceil_mode, as long as the last window starts inside the "
                    "map). The Pooling tab draws every window and its winner.",
        misconceptions=((lambda p: measure(_pool(p, padding=0)), "forgot the padding"),
                        (lambda p: measure(_pool(p, ceil=not p["ceil"])), "rounded the wrong way (ceil_mode)"),
                        (lambda p: measure(_pool(p, stride=1)), "ignored the stride"))),
    Exercise(
        id="pool-top-left", section="Pooling", kind="compute", title="One max-pooling window",
        page=LAYERS_PAGE,
        question="Max pooling **{k} x {k}** with stride {s} on the page's **{h} x {h}** map (seed {seed}): what "
                 "is the top-left output?",
        answer="number",
        draw=lambda r: {**_pool_draw(r), "p": 0, "ceil": False},
        solve=lambda p: float(_pooled(p, "max")[0, 0]),
        link=_pool_link,
        hints=("The top-left window covers rows and columns 0..k−1.",),
        explanation="The largest of the k x k values in the top-left window. The page colours each window's "
                    "winner.",
        misconceptions=((lambda p: float(_pooled(p, "avg")[0, 0]), "took the average (that is avg pooling)"),
                        (lambda p: float(sample_feature_map(p["h"], p["seed"])[0, 0]), "took the top-left input"))),
    Exercise(
        id="pool-avg-vs-max", section="Pooling", kind="predict", title="Average against max",
        page=LAYERS_PAGE,
        question="On the page's {h} x {h} map (seed {seed}), pool with {k} x {k} windows, stride {s}. The sum "
                 "of the average-pooling outputs is … the sum of the max-pooling outputs.",
        answer="choice",
        draw=lambda r: {**_pool_draw(r), "p": 0, "ceil": False},
        solve=lambda p: _pool_compare(float(_pooled(p, "avg").sum()), float(_pooled(p, "max").sum())),
        choices=lambda p: ("smaller", "equal", "larger"),
        observe=lambda p, m: _pool_compare(m["avg_sum"], m["max_sum"]), observed=("avg_sum", "max_sum"),
        link=_pool_link,
        hints=("Compare one window: its mean against its maximum.",),
        explanation="A window's mean is never above its maximum, and equals it only when all values are equal. "
                    "Switch between max and avg on the page.",
        misconceptions=((lambda p: "larger", "thought averaging adds the values up"),
                        (lambda p: "equal", "thought both keep the same information"))),
    Exercise(
        id="pool-params", section="Pooling", kind="compute", title="What pooling learns",
        page=LAYERS_PAGE,
        question="`Conv2d({cin}, {cout}, 3)` → `ReLU` → `MaxPool2d({k})`: how many parameters in the block?",
        answer="number",
        draw=lambda r: {"cin": r.choice([1, 3, 16]), "cout": r.choice([8, 16, 32]), "k": r.choice([2, 3])},
        solve=_block_params, link=lambda p: {},
        hints=("Which of the three layers has weights?",),
        explanation="Only the convolution: cout·(cin·9 + 1). Max pooling and ReLU have no parameters.",
        misconceptions=((lambda p: _block_params(p, pool_weights=True), "gave the pooling window weights"),)),
]

# ------------------------------------------------------------------------------------- fully-connected


def _lecture_net(p: Params, conv: bool = True, pool: bool = True, channels: int = 16) -> Structure:
    items = [layer("conv", out=channels, k=3)] if conv else []
    items += [layer("relu")] + ([layer("avgpool", k=2, s=2)] if pool else []) + [layer("flatten")]
    return Structure("output_shape", (3, p["size"], p["size"]), tuple(items))


@lru_cache(maxsize=64)
def _flatten_size(size: int) -> int:
    return lecture_flatten_walkthrough(size, 3)[1]


def _fc_params(p: Params, bias: bool = True) -> int:
    flat = _flatten_size(p["size"])
    return measure(Structure("params", (flat,), (layer("linear", out=60, bias=bias),)))


def _head_structure(p: Params, bias: bool = True) -> Structure:
    return Structure("params", (120,), (layer("linear", out=84, bias=bias), layer("linear", out=p["classes"],
                                                                                  bias=bias)))


def _head(p: Params, bias: bool = True) -> int:
    return measure(_head_structure(p, bias))


FULLY_CONNECTED = [
    Exercise(
        id="fc-flatten-size", section="Fully-connected", kind="compute", title="The flatten size",
        page=LAYERS_PAGE,
        question="The lecture's network on a **3 x {size} x {size}** image: `Conv2d(3, 16, 3)` → ReLU → "
                 "`AvgPool2d(2, 2)` → `x.view(-1, ...)`. How many numbers does the flattened vector hold?",
        answer="number",
        draw=lambda r: {"size": r.choice(range(6, 33))},
        solve=lambda p: _flatten_size(p["size"]),
        link=lambda p: {"fc_size": p["size"]},
        hints=("The 3x3 conv loses 2 pixels per side pair; the pool halves (rounding down).",
               "Then multiply by the 16 channels."),
        explanation="16 x ⌊(size − 2) / 2⌋²: 400 for the lecture's 12 x 12. The Fully-connected tab walks "
                    "through every shape.",
        misconceptions=((lambda p: measure(_lecture_net(p, pool=False))[0], "forgot the pooling"),
                        (lambda p: 16 * (p["size"] // 2) ** 2, "forgot that the conv shrinks the map"),
                        (lambda p: measure(_lecture_net(p))[0] // 16, "forgot the 16 channels"))),
    Exercise(
        id="fc-params", section="Fully-connected", kind="compute", title="The classifier's weights",
        page=LAYERS_PAGE,
        question="In the same network (3 x {size} x {size} input) the flattened vector feeds "
                 "`nn.Linear(..., 60)`. How many parameters does that layer have?",
        answer="number",
        draw=lambda r: {"size": r.choice(range(6, 33))},
        solve=_fc_params,
        link=lambda p: {"fc_size": p["size"]},
        hints=("in_features x out_features weights, plus out_features biases.",),
        explanation="(flatten size) x 60 + 60: 24,060 for 12 x 12. Most of the network's weights are here.",
        misconceptions=((lambda p: _fc_params(p, bias=False), "forgot the biases"),
                        (lambda p: _fc_params(p, bias=False) + 1, "counted the bias once"))),
    Exercise(
        id="fc-lenet-head", section="Fully-connected", kind="compute", title="LeNet-5's classifier",
        page=LAYERS_PAGE,
        question="LeNet-5's C5 gives 120 values; F6 has 84 units and the output layer **{classes}** classes. "
                 "Parameters of F6 and the output layer together?",
        answer="number",
        draw=lambda r: {"classes": r.choice([2, 10, 26, 100])},
        **structural(_head_structure), link=lambda p: {"fc_size": 12},
        hints=("Two nn.Linear layers: 120 → 84 and 84 → classes.",),
        explanation="120·84 + 84 + 84·classes + classes: 11,014 for 10 classes.",
        misconceptions=((lambda p: _head(p, bias=False), "forgot the biases"),
                        (lambda p: 120 * 84 + 84, "counted F6 only"))),
]

EXERCISES = [*ANN, *LENET, *INPUT, *CONVOLUTION, *ACTIVATION, *POOLING, *FULLY_CONNECTED]
