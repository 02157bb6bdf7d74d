"""layer_summary on models that are not a plain stack, against torchinfo and torch.utils.flop_counter."""
from __future__ import annotations

import pytest
import torch
import torchinfo
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnn_core.inspect.summary import layer_summary
from cnn_core.models import build_model


def _efficientnet_lite0() -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet
    return EfficientNet.from_name("efficientnet-lite0")  # the architecture only: no weight file read


MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(weights=None), (3, 224, 224)),
    "efficientnet-lite0": (_efficientnet_lite0, (3, 224, 224)),
    "lenet5-1998": (lambda: build_model("lenet5-1998"), (1, 28, 28)),
    "lenet5-modern": (lambda: build_model("lenet5-modern"), (1, 28, 28)),
}


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    factory, shape = MODELS[request.param]
    torch.manual_seed(0)
    model = factory().eval()
    return request.param, model, shape, layer_summary(model, shape)


def test_rows_sum_to_the_model_and_to_flop_counter(case):
    name, model, shape, table = case
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *shape))
    assert 2 * int(table["mult_adds"].sum()) == counter.get_total_flops(), name
    assert int(table["params"].sum()) == sum(p.numel() for p in model.parameters()), name


def test_each_row_equals_torchinfo(case):
    name, model, shape, table = case
    info = torchinfo.summary(model, input_size=(1, *shape), verbose=0)
    calls: dict[int, list] = {}  # a module called twice (EfficientNet's shared ReLU6) has one entry per call
    for layer in info.summary_list:
        calls.setdefault(id(layer.module), []).append(layer)
    checked = 0
    for row in table.itertuples():
        module = model.get_submodule(row.layer)
        layer = calls[id(module)].pop(0)
        own = sum(p.numel() for p in module.parameters(recurse=False))
        assert row.params == own == (layer.leftover_params() if list(module.children()) else layer.num_params)
        assert row.output_shape == "x".join(map(str, layer.output_size[1:])), row.layer
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            # torchinfo adds one bias addition per output value; torch's FLOP counter (and this summary) does not
            bias = row.activations if module.bias is not None else 0
            assert row.mult_adds + bias == layer.macs, row.layer
            checked += 1
    assert checked >= 5


def test_resnet18_receptive_field_follows_the_longest_path():
    model = torchvision.models.resnet18(weights=None)
    table = layer_summary(model, (3, 224, 224)).set_index("layer")["receptive_field"]
    # By hand: stem conv 7 (jump 2), maxpool 3/2 -> 11 (jump 4); each basic block adds two 3x3 convs.
    # layer1: 11 + 4 * 2 * 4 = 43; layer2 (jump 8 after its first conv): 43 + 2*4 + 3*2*8 = 99;
    # layer3: 99 + 2*8 + 3*2*16 = 211; layer4: 211 + 2*16 + 3*2*32 = 435.
    assert table["conv1"] == 7 and table["maxpool"] == 11 and table["layer1.1.conv2"] == 43
    assert table["layer2.1.conv2"] == 99 and table["layer3.1.conv2"] == 211
    assert table["layer4.1.conv2"] == 435
    # the 1x1 stride-2 shortcut adds nothing to the field and does not double the jump twice
    assert table["layer4.0.downsample.0"] == table["layer3.1.conv2"]


def test_conv_subclasses_with_children_have_rows():
    model = _efficientnet_lite0()
    table = layer_summary(model, (3, 224, 224))
    stem = table[table["layer"] == "_conv_stem"].iloc[0]
    assert stem["type"] == "Conv2dStaticSamePadding" and stem["params"] == 32 * 3 * 3 * 3
    assert stem["output_shape"] == "32x112x112" and stem["mult_adds"] == 112 * 112 * 32 * 27
    assert "_conv_stem.static_padding" in set(table["layer"])


def test_receptive_field_of_a_branching_toy_by_hand():
    class TwoPaths(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.long = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))
            self.short = nn.Conv2d(1, 1, 1)
            self.after = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.after(self.short(x) + self.long(x))  # executed: long first, then short

    table = layer_summary(TwoPaths(), (1, 16, 16)).set_index("layer")["receptive_field"]
    assert table["long.1"] == 5 and table["short"] == 1 and table["after"] == 7  # 5 + 2, not 1 + 2


def test_transposed_conv_and_upsampling_count_like_flop_counter():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ConvTranspose2d(4, 2, 2, stride=2), nn.Upsample(scale_factor=2),
                          nn.Conv2d(2, 1, 3, padding=1))
    table = layer_summary(model, (1, 8, 8))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 1, 8, 8))
    assert 2 * int(table["mult_adds"].sum()) == counter.get_total_flops()
    assert list(table["mult_adds"])[1] == 4 * 8 * 8 * 2 * 2 * 2  # input values x C_out x k x k
    # field: 3; a 2x2 stride-2 transposed conv and nearest x2 each read one pixel per output pixel (3, 3);
    # the last 3x3 conv reads two of the first conv's units for some of its pixels: 3 + 1 = 4 at most.
    # (test_truth_receptive_fields measures the same numbers with autograd)
    assert list(table["receptive_field"]) == [3, 3, 3, 4]
