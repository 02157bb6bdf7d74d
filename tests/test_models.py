"""Model registry and builder: exact parameter counts and shapes, clear errors for impossible specs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnn_core.errors import ArchitectureError, InvalidConfig
from cnn_core.models import (LENET5_SPECS, MODELS, LayerSpec, ModelOptions, build_from_specs, build_model,
                             output_shapes, specs_from_json, specs_to_json)


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_lenet5_layer_by_layer_matches_the_lecture():
    model = build_model("lenet5-modern")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    # C1: 6 * (1*5*5) + 6, C3: 16 * (6*5*5) + 16, C5: 120 * (16*5*5) + 120
    assert [_params(c) for c in convs] == [156, 2416, 48120]
    # F6: 84 * 120 + 84, output: 10 * 84 + 10
    assert [_params(l) for l in linears] == [10164, 850]
    assert _params(model) == 61706
    x = torch.zeros(3, 1, 28, 28)
    shapes, out = [], x
    for layer in model.features:
        out = layer(out)
        shapes.append(tuple(out.shape[1:]))
    assert shapes[0] == (6, 28, 28) and shapes[2] == (6, 14, 14)      # C1, S2
    assert shapes[3] == (16, 10, 10) and shapes[5] == (16, 5, 5)      # C3, S4
    assert shapes[6] == (120, 1, 1)                                   # C5
    assert model(x).shape == (3, 10)


def test_classic_and_modern_variants_differ_only_in_activation_and_pooling():
    classic, modern = build_model("lenet5-classic"), build_model("lenet5-modern")
    assert _params(classic) == _params(modern)
    assert any(isinstance(m, nn.Tanh) for m in classic.modules()) and any(isinstance(m, nn.AvgPool2d) for m in classic.modules())
    assert any(isinstance(m, nn.ReLU) for m in modern.modules()) and any(isinstance(m, nn.MaxPool2d) for m in modern.modules())
    # 32x32 inputs need no padding and give the same C1 size
    lenet32 = build_model("lenet5-modern", ModelOptions(image_size=32, in_channels=3))
    assert lenet32(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(InvalidConfig, match="28x28 or 32x32"):
        build_model("lenet5-modern", ModelOptions(image_size=64))


def test_lecture_convnet_both_forms_equal():
    a, b = build_model("convnet-lecture"), build_model("convnet-lecture-seq")
    # conv 3->16 k3: 16*27+16 = 448; fc 16*5*5 -> 60: 400*60+60 = 24060
    assert _params(a) == _params(b) == 448 + 24060
    assert a(torch.zeros(2, 3, 12, 12)).shape == b(torch.zeros(2, 3, 12, 12)).shape == (2, 60)


def test_every_registry_model_builds_and_runs():
    for name, spec in MODELS.items():
        shape = spec.fixed_input or (1, 28, 28)
        model = build_model(name, ModelOptions(in_channels=shape[0], image_size=shape[1]))
        assert model(torch.zeros(2, *shape)).shape[0] == 2, name


def test_mlp_and_plain_cnn_options():
    mlp = build_model("mlp")
    assert _params(mlp) == (784 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    deep = build_model("plain-cnn", ModelOptions(depth=10, width=8, batch_norm=True, dropout=0.2))
    assert sum(isinstance(m, nn.Conv2d) for m in deep.modules()) == 10
    assert sum(isinstance(m, nn.BatchNorm2d) for m in deep.modules()) == 10
    assert any(isinstance(m, nn.Dropout) for m in deep.modules())
    with pytest.raises(InvalidConfig):
        build_model("plain-cnn", ModelOptions(depth=0))
    with pytest.raises(InvalidConfig, match="Unknown model"):
        build_model("resnet-9000")


def test_builder_lenet_specs_equal_the_registry_lenet():
    built = build_from_specs(LENET5_SPECS, (1, 28, 28))
    assert _params(built) == 61706
    assert output_shapes(LENET5_SPECS, (1, 28, 28))[-1] == (10,)


@pytest.mark.parametrize("specs, fragment, index", [
    ((LayerSpec.of("conv", out_channels=4, kernel_size=7),), "kernel spans 7x7", 0),
    ((LayerSpec.of("flatten"), LayerSpec.of("conv", out_channels=4)), "before the Flatten", 1),
    ((LayerSpec.of("conv", out_channels=4), LayerSpec.of("linear", out_features=3)), "add a Flatten", 1),
    ((LayerSpec.of("flatten"), LayerSpec.of("linear", out_features=3, in_features=99)), "in_features=99", 1),
    ((LayerSpec.of("conv", out_channels=5, groups=2),), "groups=2", 0),
    ((LayerSpec.of("maxpool", kernel_size=2, padding=2),), "at most half", 0),
    ((LayerSpec.of("conv", out_channels=4, in_channels=3),), "in_channels=3", 0),
])
def test_builder_names_the_wrong_layer(specs, fragment, index):
    with pytest.raises(ArchitectureError) as err:
        build_from_specs(specs, (1, 6, 6))
    assert fragment in str(err.value)
    assert err.value.layer_index == index


def test_architecture_json_round_trip_and_malformed_input():
    text = specs_to_json(LENET5_SPECS, (1, 28, 28))
    specs, shape = specs_from_json(text)
    assert specs == LENET5_SPECS and shape == (1, 28, 28)
    for bad, fragment in [("{", "Not valid JSON"), ('{"layers": 3}', "layers"),
                          ('{"input_shape": [1, 28], "layers": []}', "input_shape"),
                          ('{"layers": [{"kind": "teleport"}]}', "Unknown layer kind"),
                          ('{"layers": [{"kind": "conv", "colour": 3}]}', "no parameter")]:
        with pytest.raises(ArchitectureError, match=fragment):
            specs_from_json(bad)
