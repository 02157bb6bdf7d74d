"""cnn_core.teaching.layer_ops: every number the Basic Layers page shows, checked against PyTorch itself."""
from __future__ import annotations

import itertools
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_core.data.preprocess import standardize
from cnn_core.data.samples import sample_photo
from cnn_core.errors import InvalidConfig
from cnn_core.models import conv_output_size
from cnn_core.models.simple import LectureConvNet
from cnn_core.teaching import layer_ops as ops


def _latex_result(text: str) -> int:
    """The number after the last '=' of output_size_latex (before any \\quad remark)."""
    return int(re.findall(r"= (\d+)", text.split(r"\quad")[0])[-1])


# ---------------------------------------------------------------- output sizes


def test_conv_output_size_sweep_matches_nn_conv2d():
    checked = 0
    for size, k, s, p, d in itertools.product([5, 7, 12, 28], [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2]):
        if d * (k - 1) + 1 > size + 2 * p:
            continue
        conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
        actual = conv(torch.zeros(1, 1, size, size + 3)).shape
        assert conv_output_size(size, k, s, p, d) == actual[2]
        assert conv_output_size(size + 3, k, s, p, d) == actual[3]
        assert _latex_result(ops.output_size_latex(size, k, s, p, d)) == actual[2]
        checked += 1
    assert checked > 250


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_output_size_sweep_matches_pytorch_including_ceil_mode(kind):
    checked = refused = 0
    for size, k, s, p, d, ceil in itertools.product(range(2, 10), [1, 2, 3, 4], [1, 2, 3], [0, 1, 2], [1, 2],
                                                      [False, True]):
        if p > k // 2 or (kind == "avg" and d > 1):
            continue
        settings = ops.PoolSettings(k, s, p, d, ceil)
        module = (nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil) if kind == "max"
                  else nn.AvgPool2d(k, s, p, ceil_mode=ceil))
        x = torch.arange(size * size, dtype=torch.float32).view(1, 1, size, size)
        try:
            expected = module(x)
        except RuntimeError:  # PyTorch refuses (output would be empty): so must we
            with pytest.raises(InvalidConfig):
                ops.pool(x[0, 0], kind, settings)
            refused += 1
            continue
        result = ops.pool(x[0, 0], kind, settings)
        assert settings.output_size(size, kind) == expected.shape[2]
        assert torch.equal(result.output, expected[0, 0])
        assert _latex_result(ops.output_size_latex(size, k, s, p, d if kind == "max" else 1, ceil)) \
            == expected.shape[2]
        checked += 1
    assert checked > 200 and refused > 0


def test_ceil_mode_drops_a_window_that_would_start_in_the_padding():
    # 5 + 2 - 1 - 1 = 5; ceil(5 / 2) + 1 = 4, but the 4th window starts in the padding: PyTorch gives 3
    assert nn.MaxPool2d(2, 2, 1, ceil_mode=True)(torch.zeros(1, 1, 5, 5)).shape[-1] == 3
    text = ops.output_size_latex(5, 2, 2, 1, 1, ceil_mode=True)
    assert _latex_result(text) == 3 and "dropped" in text


# ---------------------------------------------------------------- convolution explorer


def test_convolve_equals_nn_conv2d_with_the_same_weights_and_bias():
    image = torch.rand(17, 23, generator=torch.Generator().manual_seed(0))
    kernel = ops.KERNEL_PRESETS["sobel-x-5x5"].tensor()
    settings = ops.ConvSettings(stride=2, padding=3, dilation=2, bias=0.25)
    conv = nn.Conv2d(1, 1, 5, stride=2, padding=3, dilation=2)
    with torch.no_grad():
        conv.weight.copy_(kernel[None, None])
        conv.bias.fill_(0.25)
        expected = conv(image[None, None])[0, 0]
    assert torch.allclose(ops.convolve(image, kernel, settings), expected, atol=1e-5)


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 2, 2)])
def test_patch_dot_product_equals_the_output_map_at_every_position(stride, padding, dilation):
    image = torch.rand(11, 13, generator=torch.Generator().manual_seed(1))
    kernel = torch.randn(3, 3, generator=torch.Generator().manual_seed(2))
    settings = ops.ConvSettings(stride, padding, dilation, bias=-0.5)
    out = ops.convolve(image, kernel, settings)
    for row, col in itertools.product(range(out.shape[0]), range(out.shape[1])):
        step = ops.patch_product(image, kernel, settings, row, col)
        assert step.total == pytest.approx(float(out[row, col]), abs=1e-5)
        assert torch.allclose(step.products, step.kernel * step.patch)
        for i, r in enumerate(step.rows):  # taps in the padding read 0, the others the image
            for j, c in enumerate(step.cols):
                inside = 0 <= r < image.shape[0] and 0 <= c < image.shape[1]
                assert float(step.patch[i, j]) == (float(image[r, c]) if inside else 0.0)
    text = ops.patch_product(image, kernel, settings, 0, 0).terms_text()
    assert text.count("×") == 9 and text.endswith(f"{ops.patch_product(image, kernel, settings, 0, 0).total:.4g}")


def test_patch_product_rejects_positions_outside_the_output():
    image = torch.zeros(8, 8)
    with pytest.raises(InvalidConfig, match="outside the 6x6"):
        ops.patch_product(image, torch.ones(3, 3), ops.ConvSettings(), 6, 0)


def test_kernel_presets_are_what_they_claim():
    image = torch.rand(9, 9, generator=torch.Generator().manual_seed(3))
    flat = torch.full((9, 9), 0.7)
    for name, preset in ops.KERNEL_PRESETS.items():
        kernel = preset.tensor()
        assert kernel.shape[0] == kernel.shape[1] and kernel.shape[0] in (3, 5), name
        response = ops.convolve(flat, kernel, ops.ConvSettings())
        if name.startswith(("edge", "sobel")):  # derivatives: zero on a flat image
            assert torch.allclose(response, torch.zeros_like(response), atol=1e-5), name
        else:  # identity, blur, sharpen keep a flat image flat
            assert torch.allclose(response, torch.full_like(response, 0.7), atol=1e-4), name
    identity = ops.convolve(image, ops.KERNEL_PRESETS["identity-3x3"].tensor(), ops.ConvSettings(padding=1))
    assert torch.equal(identity, image)
    ramp = torch.arange(8.0).repeat(8, 1)  # brighter to the right
    assert (ops.convolve(ramp, ops.KERNEL_PRESETS["sobel-x-3x3"].tensor(), ops.ConvSettings()) > 0).all()
    assert torch.allclose(ops.convolve(ramp, ops.KERNEL_PRESETS["sobel-y-3x3"].tensor(), ops.ConvSettings()),
                          torch.zeros(6, 6))


def test_bad_kernels_and_settings_are_clear_errors():
    with pytest.raises(InvalidConfig, match="number"):
        ops.check_kernel([[1.0, float("nan")], [0.0, 1.0]])
    with pytest.raises(InvalidConfig, match="square"):
        ops.check_kernel([[1.0, 2.0, 3.0]])
    with pytest.raises(InvalidConfig, match="spans 9x9"):
        ops.convolve(torch.zeros(6, 6), torch.ones(5, 5), ops.ConvSettings(dilation=2))


def test_image_to_gray_and_display():
    photo = sample_photo("china")  # the one sample-photo registry (cnn_core.data.samples)
    gray = ops.image_to_gray(photo, 64)
    assert gray.shape == (43, 64) and 0 <= float(gray.min()) and float(gray.max()) <= 1
    shown = ops.to_display(torch.rand(10, 20), 200, boxes=[(1, 2, 3, 4)], taps=[(1, 2)])
    assert shown.size == (200, 100) and shown.getpixel((2 * 10 + 5, 1 * 10 + 5)) == (230, 30, 30)


# ---------------------------------------------------------------- activations


def test_activation_curves_and_autograd_derivatives():
    frame = ops.activation_curves(ops.activation_names(), -3, 3, 61)
    assert set(frame["activation"]) == {"relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"}
    assert len(frame) == 6 * 2 * 61

    def curve(name: str, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        rows = frame[(frame["activation"] == name) & (frame["curve"] == which)]
        return torch.tensor(rows["x"].to_numpy()), torch.tensor(rows["value"].to_numpy())

    x, y = curve("sigmoid", "f(x)")
    _, dy = curve("sigmoid", "f'(x)")
    assert torch.allclose(y, torch.sigmoid(x), atol=1e-6) and torch.allclose(dy, y * (1 - y), atol=1e-6)
    x, y = curve("tanh", "f(x)")
    _, dy = curve("tanh", "f'(x)")
    assert torch.allclose(dy, 1 - y ** 2, atol=1e-5)
    x, dy = curve("relu", "f'(x)")
    assert torch.equal(dy, (x > 0).to(dy.dtype))
    x, dy = curve("leaky_relu", "f'(x)")
    assert torch.allclose(dy[x < 0], torch.full_like(dy[x < 0], 0.01))
    assert torch.equal(ops.apply_activation("relu", torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0]))


def _tiny_relu_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_dead_relu_report_counts_units_and_zero_gradients():
    model = _tiny_relu_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(32) % 3
    killed = ops.dead_relu_report(model, images, labels, bias_shift=-100.0).iloc[0]
    assert killed["units"] == 4 * 6 * 6 and killed["dead_units"] == 144 and killed["dead_fraction"] == 1.0
    assert killed["dead_channels"] == 4 and killed["zero_grad_channels"] == 4
    alive = ops.dead_relu_report(model, images, labels, bias_shift=+100.0).iloc[0]
    assert alive["dead_units"] == 0 and alive["zero_grad_channels"] == 0
    # measured by hand: a unit is dead when it is <= 0 for every image
    with torch.no_grad():
        pre = model[0](images)
    expected = int((pre <= 0).all(dim=0).sum())
    assert ops.dead_relu_report(model, images, labels).iloc[0]["dead_units"] == expected
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the model is not modified
    sweep = ops.dead_relu_sweep(model, images, labels, [0.0, -1.0, -100.0])
    assert list(sweep["bias_shift"]) == [0.0, -1.0, -100.0] and sweep["dead_fraction"].is_monotonic_increasing


# ---------------------------------------------------------------- pooling, flatten, input


def test_max_pool_winners_are_the_inputs_that_hold_the_max():
    fmap = ops.sample_feature_map(7, seed=4)
    settings = ops.PoolSettings(3, 2, 1, 1, True)
    result = ops.pool(fmap, "max", settings)
    _, torch_indices = F.max_pool2d(fmap[None, None], 3, 2, 1, 1, ceil_mode=True, return_indices=True)
    assert torch.equal(result.indices, torch_indices[0, 0])
    winners = ops.winners_frame(result, 7)
    assert len(winners) == result.output.numel()
    for row in winners.itertuples():
        assert float(fmap[row.in_row, row.in_col]) == row.value == float(result.output[row.out_row, row.out_col])
    counts = ops.win_counts(result, (7, 7))
    assert int(counts.sum()) == result.output.numel()
    with pytest.raises(InvalidConfig, match="half the kernel"):
        ops.pool(fmap, "max", ops.PoolSettings(2, 2, 2))
    with pytest.raises(InvalidConfig, match="winners"):
        ops.winners_frame(ops.pool(fmap, "avg", settings), 7)


def test_sample_feature_map_is_seeded():
    assert torch.equal(ops.sample_feature_map(6, 1), ops.sample_feature_map(6, 1))
    assert not torch.equal(ops.sample_feature_map(6, 1), ops.sample_feature_map(6, 2))


@pytest.mark.parametrize("size,side", [(12, 5), (16, 7), (28, 13)])
def test_flatten_walkthrough_gives_the_lectures_16_times_5_times_5(size, side):
    steps, flat = ops.lecture_flatten_walkthrough(size)
    model = LectureConvNet(image_size=size)
    assert flat == 16 * side * side == model.fc.in_features
    assert model(torch.zeros(2, 3, size, size)).shape == (2, 60)
    shapes = dict(zip(steps["step"], steps["output_shape"]))
    assert shapes["conv"] == f"16 x {size - 2} x {size - 2}" and shapes["pool"] == f"16 x {side} x {side}"
    assert shapes["flatten"] == str(flat)
    params = dict(zip(steps["step"], steps["params"]))
    assert params["fc"] == sum(p.numel() for p in model.fc.parameters()) == flat * 60 + 60
    assert params["conv"] == sum(p.numel() for p in model.conv.parameters()) == 3 * 16 * 9 + 16


def test_input_normalization_uses_the_dataset_statistics():
    pixels = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(5))
    normalized = standardize(pixels, (0.1307,), (0.3081,))
    assert torch.allclose(normalized, (pixels - 0.1307) / 0.3081)
    stats = ops.describe_tensors({"raw": pixels, "normalized": normalized}).set_index("tensor")
    assert stats.loc["raw", "shape"] == "1 x 28 x 28"
    assert stats.loc["normalized", "mean"] == pytest.approx(float(normalized.mean()))
