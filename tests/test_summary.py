"""Layer summary against PyTorch's own numbers; hooks leave the model untouched."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnn_core.inspect.hooks import capture_forward
from cnn_core.inspect.summary import layer_summary, summary_totals
from cnn_core.models import LayerSpec, ModelOptions, build_from_specs, build_model


def test_lenet5_summary_table():
    model = build_model("lenet5-modern")
    table = layer_summary(model, (1, 28, 28))
    convs = table[table["type"] == "Conv2d"]
    assert list(convs["output_shape"]) == ["6x28x28", "16x10x10", "120x1x1"]
    assert list(convs["params"]) == [156, 2416, 48120]
    # Receptive fields by hand: C1 5; S2 5+1*1 = 6; C3 6+4*2 = 14; S4 14+1*2 = 16; C5 16+4*4 = 32
    pools = table[table["type"] == "MaxPool2d"]
    assert list(convs["receptive_field"]) == [5, 14, 32]
    assert list(pools["receptive_field"]) == [6, 16]
    assert table["params"].sum() == sum(p.numel() for p in model.parameters()) == 61706


def test_mult_adds_equal_torch_flop_counter():
    for name in ("lenet5-modern", "mlp", "plain-cnn"):
        model = build_model(name, ModelOptions(depth=3))
        table = layer_summary(model, (1, 28, 28))
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, 1, 28, 28))
        # torch counts 2 FLOPs per multiply-add of conv and matmul layers (bias adds are not counted)
        assert 2 * table["mult_adds"].sum() == counter.get_total_flops(), name


def test_output_shapes_equal_a_real_forward_pass():
    specs = (LayerSpec.of("conv", out_channels=4, kernel_size=3, stride=2, padding=1, dilation=2),
             LayerSpec.of("batchnorm"), LayerSpec.of("activation", name="gelu"),
             LayerSpec.of("avgpool", kernel_size=3, stride=2, ceil_mode=True),
             LayerSpec.of("conv", out_channels=8, kernel_size=3, groups=4),
             LayerSpec.of("flatten"), LayerSpec.of("dropout", p=0.1), LayerSpec.of("linear", out_features=5))
    model = build_from_specs(specs, (3, 33, 33))
    table = layer_summary(model, (3, 33, 33))
    x = torch.zeros(1, 3, 33, 33)
    model.eval()
    with torch.no_grad():
        for module, shape in zip(model, table["output_shape"]):
            x = module(x)
            assert "x".join(map(str, x.shape[1:])) == shape
    totals = summary_totals(table, model)
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    assert totals["activation_mb"] > 0


def test_hooks_are_removed_and_modes_restored_even_on_error():
    model = build_model("lenet5-modern", ModelOptions(dropout=0.5))
    model.train()
    model.features[0].eval()  # a mixed state must come back exactly
    with capture_forward(model) as calls:
        assert not model.training
        model(torch.zeros(2, 1, 28, 28))
    assert len(calls) == len([m for m in model.modules() if not list(m.children())])
    assert calls[0].output.shape == (2, 6, 28, 28) and not calls[0].output.requires_grad
    assert model.training and not model.features[0].training
    assert all(not m._forward_hooks for m in model.modules())
    try:
        with capture_forward(model):
            model(torch.zeros(2, 3, 28, 28))  # wrong channel count
    except RuntimeError:
        pass
    assert all(not m._forward_hooks for m in model.modules()) and model.training
    summary_model = build_model("lenet5-modern")
    layer_summary(summary_model, (1, 28, 28))
    assert summary_model.training and all(not m._forward_hooks for m in summary_model.modules())


def test_linear_mult_adds_count_rows():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 7))
    assert layer_summary(model, (3, 2, 2))["mult_adds"].tolist() == [0, 84]
