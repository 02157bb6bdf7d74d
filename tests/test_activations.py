"""Feature maps of every layer: shapes, statistics, ranking, pictures, and a model left untouched."""
from __future__ import annotations

import io
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnn_core.errors import InvalidConfig, PlaygroundError
from cnn_core.inspect import feature_maps as act
from cnn_core.inspect.summary import layer_summary
from cnn_core.models import ModelOptions, build_model


@pytest.fixture
def lenet() -> nn.Module:
    torch.manual_seed(0)
    return build_model("lenet5-modern", ModelOptions()).eval()


@pytest.fixture
def image() -> torch.Tensor:
    return torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_feature_map_shapes_match_layer_summary(lenet, image):
    analysis = act.analyze(lenet, image, tuple("0123456789"))
    summary = layer_summary(lenet, (1, 28, 28)).set_index("layer")
    shown = [layer.key for layer in analysis.layers]
    assert shown == ["features.0", "features.1", "features.2", "features.3", "features.4", "features.5",
                     "features.6", "features.7", "classifier.1", "classifier.2", "classifier.3"]
    for layer in analysis.layers:
        assert "x".join(map(str, layer.shape)) == summary.loc[layer.key, "output_shape"], layer.key
        assert layer.maps.shape[0] == layer.shape[0]
    assert analysis.layer("features.0").shape == (6, 28, 28)
    assert analysis.layer("features.5").shape == (16, 5, 5)
    assert analysis.probabilities.shape == (10,) and analysis.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_statistics_and_ranking_are_computed_on_the_real_activations(lenet, image):
    analysis = act.analyze(lenet, image)
    with torch.no_grad():
        relu = lenet.features[1](lenet.features[0](image))[0]  # 6 x 28 x 28
    layer = analysis.layer("features.1")
    assert layer.group == "activation" and layer.kind == "ReLU"
    assert layer.zero_fraction == pytest.approx(float((relu == 0).float().mean()))
    assert layer.mean == pytest.approx(float(relu.mean()), rel=1e-5)
    assert layer.std == pytest.approx(float(relu.std()), rel=1e-4)
    assert layer.max == pytest.approx(float(relu.max()))
    strength = relu.abs().mean(dim=(1, 2)).numpy()
    np.testing.assert_allclose(layer.strength, strength, rtol=1e-5)
    assert list(layer.order) == list(np.argsort(-strength, kind="stable"))
    assert act.strongest_channels(layer, 3) == [int(c) for c in np.argsort(-strength)[:3]]
    frame = act.stats_frame(analysis)
    assert list(frame.columns) == ["layer", "type", "group", "output_shape", "mean", "std", "zero_fraction", "min",
                                   "max"]
    assert len(frame) == len(analysis.layers)
    assert frame.loc[frame["layer"] == "features.1", "zero_fraction"].item() == pytest.approx(layer.zero_fraction)


def test_hooks_removed_and_train_mode_restored(lenet, image):
    lenet.train()
    before = {name: m.training for name, m in lenet.named_modules()}
    act.analyze(lenet, image)
    assert hook_count(lenet) == 0
    assert {name: m.training for name, m in lenet.named_modules()} == before


def test_an_eval_model_is_never_switched(lenet, image, monkeypatch):
    calls = []
    original = nn.Module.train

    def spy(self, mode=True):
        calls.append((type(self).__name__, mode))
        return original(self, mode)

    monkeypatch.setattr(nn.Module, "train", spy)  # model.eval() would call train(False)
    act.analyze(lenet, image)
    assert calls == [], "a shared model in eval mode must not be re-moded (a race between sessions)"
    assert not any(m.training for m in lenet.modules())


def test_hooks_removed_when_the_forward_pass_fails(lenet):
    class FailsForReal(nn.Module):
        """Passes the meta-device cost estimate, then fails in the real (hooked) forward pass."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.device.type != "meta":
                raise RuntimeError("a layer failed mid-forward")
            return x

    model = nn.Sequential(lenet, FailsForReal())
    with pytest.raises(RuntimeError, match="mid-forward"):
        act.analyze(model, torch.zeros(1, 1, 28, 28))
    assert hook_count(model) == 0
    with pytest.raises(PlaygroundError):  # a wrong channel count is now refused before any hook is added
        act.analyze(lenet, torch.zeros(1, 3, 28, 28))
    assert hook_count(lenet) == 0


def test_in_place_activation_does_not_overwrite_the_conv_map():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    analysis = act.analyze(model, torch.randn(1, 1, 8, 8))
    conv, relu = analysis.layer("0"), analysis.layer("1")
    assert conv.min < 0, "the conv output keeps its negative values"
    assert relu.min == 0 and relu.zero_fraction > 0


def test_a_module_called_twice_gets_two_keys():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.act = nn.ReLU()
            self.head = nn.Linear(2 * 4 * 4, 2)

        def forward(self, x):
            x = self.act(self.conv(x))
            x = self.act(x - 1.0)
            return self.head(x.flatten(1))

    analysis = act.analyze(Twice().eval(), torch.randn(1, 1, 4, 4))
    assert [l.key for l in analysis.layers] == ["conv", "act", "act#2", "head"]


def test_concurrent_callers_of_one_shared_model_do_not_mix(lenet):
    images = [torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(s)) for s in range(4)]
    expected = [act.analyze(lenet, x) for x in images]
    errors: list[str] = []

    def worker(i: int) -> None:
        for _ in range(5):
            got = act.analyze(lenet, images[i])
            if len(got.layers) != len(expected[i].layers):
                errors.append(f"thread {i}: {len(got.layers)} layers")
            elif not np.allclose(got.probabilities, expected[i].probabilities, atol=1e-6):
                errors.append(f"thread {i}: other probabilities")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert hook_count(lenet) == 0


def test_large_maps_are_downsampled_for_display_only():
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    analysis = act.analyze(model.eval(), torch.randn(1, 3, 200, 100), max_side=64)
    conv = analysis.layer("0")
    assert conv.shape == (2, 200, 100)          # the real shape
    assert conv.maps.shape == (2, 50, 25)       # for display: averages of 4 x 4 blocks, longest side <= 64
    assert conv.maps.dtype == np.float16


def test_feature_grid_layout_scales_and_png(lenet, image):
    layer = act.analyze(lenet, image).layer("features.3")  # 16 x 10 x 10
    shared = act.feature_grid(layer, [0, 1, 2, 3], scale="shared", tile=40, columns=2)
    per_map = act.feature_grid(layer, [0, 1, 2, 3], scale="per-map", tile=40, columns=2)
    pad, label = 4, 16
    assert shared.size == (2 * (40 + pad) + pad, 2 * (40 + pad + label) + pad)
    assert np.asarray(shared).tolist() != np.asarray(per_map).tolist(), "the scale toggle changes the picture"
    png = act.png_bytes(act.feature_grid(layer))  # all channels
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size[0] > 0
    with pytest.raises(InvalidConfig):
        act.feature_grid(layer, [0], scale="sideways")
    assert act.channel_image(layer, 5, size=100).size == (100, 100)
    with pytest.raises(InvalidConfig):
        act.channel_image(layer, 16)


def test_overview_has_one_tile_per_spatial_layer(lenet, image):
    analysis = act.analyze(lenet, image)
    tiles = act.overview_tiles(analysis, analysis.keys(maps_only=True))
    assert [caption.split(" · ")[0] for _, caption in tiles] == ["features.0", "features.1", "features.2",
                                                                   "features.3", "features.4", "features.5"]
    assert analysis.keys("conv", maps_only=True) == ["features.0", "features.3"]
    assert act.default_layer(analysis) == "features.1"
    assert act.default_layer(analysis, for_cam=True) == "features.5"


def test_filters_rgb_gray_per_input_channel_and_pointwise():
    rgb_conv = nn.Conv2d(3, 8, 5)
    tiles = np.asarray(act.first_layer_filters(rgb_conv, tile=20))
    assert tiles.shape[2] == 3
    gray_conv = nn.Conv2d(1, 4, 5)
    gray = np.asarray(act.first_layer_filters(gray_conv, tile=20))[4:24, 4:24]  # the first tile
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    deep = nn.Conv2d(6, 16, 5)
    grid = act.kernel_slices(deep, 3, tile=20)
    assert grid.size[0] == 6 * (20 + 4) + 4, "one tile per input channel"
    with pytest.raises(InvalidConfig):
        act.kernel_slices(deep, 16)
    depthwise = nn.Conv2d(8, 8, 3, groups=8)
    assert act.depthwise_filters(depthwise, tile=20).size[0] == 8 * (20 + 4) + 4
    assert act.pointwise_matrix(nn.Conv2d(16, 32, 1)).size == (16 * 16, 32 * 16)
    weights_before = deep.weight.detach().clone()
    act.kernel_slices(deep, 0)
    assert torch.equal(deep.weight, weights_before)


def test_layer_groups_of_common_modules():
    assert act.layer_group(nn.Conv2d(1, 1, 1)) == "conv"
    assert act.layer_group(nn.ReLU6()) == "activation"
    assert act.layer_group(nn.MaxPool2d(2)) == "pool"
    assert act.layer_group(nn.BatchNorm2d(2)) == "norm"
    assert act.layer_group(nn.Linear(1, 1)) == "linear"
    assert act.layer_group(nn.Sequential(nn.ReLU())) == "block"
    names = act.visual_layers(nn.Sequential(nn.Conv2d(1, 1, 1), nn.Dropout(), nn.Identity(), nn.Flatten()))
    assert names == ["0"]


def test_analyze_rejects_a_batch(lenet):
    with pytest.raises(InvalidConfig):
        act.analyze(lenet, torch.zeros(2, 1, 28, 28))
