"""Effective receptive fields (cnn_core.inspect.receptive_field): the gradient never leaves the theoretical field."""
import numpy as np
import pytest
import torch
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.inspect.receptive_field import conv_layer_names, effective_field, field_geometry, untrained_copy
from cnn_core.inspect.summary import layer_summary
from cnn_core.models import build_model


def strided_dilated_net() -> nn.Module:
    """A chain with every argument that moves a field: stride, padding, dilation, max and average pooling."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=1, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2, padding=0, dilation=2), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(6, 8, 5, stride=1, padding=2), nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 8, 2, stride=1, padding=1, dilation=3),
        nn.Flatten(), nn.LazyLinear(10)).eval()


def models():
    lenet = build_model("lenet5-modern").eval()
    net = strided_dilated_net()
    net(torch.zeros(1, 1, 40, 40))  # materialize the lazy layer
    return [("lenet5", lenet, (1, 28, 28)), ("strided-dilated", net, (1, 40, 40))]


@pytest.mark.parametrize("name,model,shape", models(), ids=lambda v: v if isinstance(v, str) else "")
def test_field_sizes_equal_layer_summary(name, model, shape):
    summary = dict(zip(*layer_summary(model, shape)[["layer", "receptive_field"]].T.values))
    geometry = field_geometry(model, shape)
    assert set(conv_layer_names(model)) <= set(geometry)
    for layer, g in geometry.items():
        assert g.size == summary[layer], layer


@pytest.mark.parametrize("name,model,shape", models(), ids=lambda v: v if isinstance(v, str) else "")
def test_gradient_footprint_never_exceeds_the_theoretical_field(name, model, shape):
    gen = torch.Generator().manual_seed(1)
    checked = 0
    for variant in (model, untrained_copy(model, seed=3)):
        x = torch.randn(1, *shape, generator=gen)
        for layer in conv_layer_names(variant):
            out_c, h, w = effective_field(variant, x, layer, 0).output_shape
            for _ in range(6):
                c, r, col = (int(torch.randint(0, n, (1,), generator=gen)) for n in (out_c, h, w))
                field = effective_field(variant, x, layer, c, r, col)
                assert field.footprint is not None, (layer, c, r, col)
                assert field.theoretical.clipped(*shape[1:]).contains(field.footprint), (layer, c, r, col, field)
                assert field.gradient.shape == shape[1:]
                checked += 1
    assert checked >= 24


def test_first_layer_footprint_is_exactly_the_kernel_window():
    model = build_model("lenet5-modern").eval()  # features.0: 5x5, padding 2
    field = effective_field(model, torch.randn(1, 1, 28, 28), "features.0", 2, 10, 7)
    assert (field.theoretical.top, field.theoretical.left, field.theoretical.size) == (8, 5, (5, 5))
    assert field.footprint == field.theoretical  # every weight is non-zero: all 25 pixels matter
    ref = model[0] if isinstance(model, nn.Sequential) else model.features[0]
    expected = ref.weight[2, 0].detach().abs().numpy()
    np.testing.assert_allclose(field.gradient[8:13, 5:10], expected, rtol=1e-6)


def test_effective_side_is_smaller_than_the_theoretical_field_deep_down():
    model = build_model("lenet5-modern").eval()
    field = effective_field(model, torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
                            "features.6", 0)
    assert field.theoretical.size == (32, 32)
    assert 0 < field.effective_side(0.9) < 32


def test_model_is_left_untouched_and_bad_requests_are_clear():
    model = build_model("lenet5-modern").eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    effective_field(model, torch.randn(1, 1, 28, 28), "features.3", 1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert not model._forward_hooks and not any(m._forward_hooks for m in model.modules())
    with pytest.raises(InvalidConfig, match="outside"):
        effective_field(model, torch.randn(1, 1, 28, 28), "features.3", 99)
    with pytest.raises(InvalidConfig, match="not a convolution"):
        effective_field(model, torch.randn(1, 1, 28, 28), "features.1", 0)
    with pytest.raises(InvalidConfig, match="no convolution layer"):
        conv_layer_names(build_model("mlp"))
    with pytest.raises(InvalidConfig, match="eval mode"):
        effective_field(model.train(), torch.randn(1, 1, 28, 28), "features.0", 0)


def test_untrained_copy_is_seeded_and_leaves_the_original_alone():
    model = build_model("lenet5-modern").eval()
    original = [p.clone() for p in model.parameters()]
    a, b = untrained_copy(model, seed=5), untrained_copy(model, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), model.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(original, model.parameters()))


def test_trained_lenet_footprints_stay_inside_and_are_smaller_than_the_field():
    from cnn_core.data import load_dataset
    from cnn_core.training.pretrained import LENET5_MNIST, trained_model

    model, _ = trained_model(LENET5_MNIST)  # the playground's LeNet-5 (disk cache; trained on first use)
    digits = load_dataset("mnist-5k").test_x[:8]
    for i, x in enumerate(digits):
        for layer in ("features.0", "features.3", "features.6"):
            field = effective_field(model, x[None], layer, i % 6)
            assert field.theoretical.clipped(28, 28).contains(field.footprint), (i, layer)
            assert field.effective_side(0.9) <= field.theoretical.size[0]
