"""cnn_core.teaching.upsampling: every number of the upsampling explorer, checked against torch itself."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.teaching import upsampling as up


def random_settings(rng: random.Random) -> tuple[int, up.TransposedSettings]:
    stride, dilation = rng.randint(1, up.MAX_STRIDE), rng.randint(1, up.MAX_DILATION)
    return rng.randint(1, 12), up.TransposedSettings(kernel=rng.randint(1, up.MAX_KERNEL), stride=stride,
                                                     padding=rng.randint(0, 4),
                                                     output_padding=rng.randint(0, max(stride, dilation) - 1),
                                                     dilation=dilation)


def test_output_size_formula_equals_torch_on_hundreds_of_settings():
    rng = random.Random(0)
    checked = refused = 0
    for _ in range(400):
        size, t = random_settings(rng)
        layer = nn.ConvTranspose2d(1, 1, t.kernel, t.stride, t.padding, t.output_padding, dilation=t.dilation)
        formula = up.transposed_output_size(size, t)
        try:
            torch_size = layer(torch.zeros(1, 1, size, size)).shape[-1]
        except RuntimeError:
            torch_size = None
        if torch_size is None or torch_size <= 0:
            refused += 1
            assert formula <= 0
            with pytest.raises(InvalidConfig, match="No output"):
                up.check_transposed(size, t)
        else:
            checked += 1
            assert formula == torch_size == up.check_transposed(size, t)
    assert checked > 300 and refused > 0


def test_the_formula_text_names_the_numbers():
    t = up.TransposedSettings(kernel=3, stride=2, padding=1, output_padding=1)
    assert t.formula(4).endswith("(4 - 1) x 2 - 2 x 1 + 1 x (3 - 1) + 1 + 1 = 8")


def test_impossible_settings_get_the_formula_not_a_traceback():
    with pytest.raises(InvalidConfig, match=r"\(1 - 1\) x 1 - 2 x 3 .* = -5.*Lower the padding"):
        up.check_transposed(1, up.TransposedSettings(kernel=1, stride=1, padding=3))
    with pytest.raises(InvalidConfig, match="output_padding 2, stride 2"):
        up.check_transposed(4, up.TransposedSettings(stride=2, output_padding=2))


def test_one_input_value_spreads_as_the_kernel_at_stride_times_its_position():
    weight = torch.arange(1.0, 10.0).reshape(3, 3)
    t = up.TransposedSettings(kernel=3, stride=2, padding=0)
    out, (top, left) = up.spread_of_one_input(4, 1, 2, weight, t)
    assert (top, left) == (2, 4)
    assert torch.equal(out[2:5, 4:7], weight)
    assert out.sum() == weight.sum()


def test_transposed_conv_equals_zero_insertion_plus_flipped_ordinary_conv():
    rng = random.Random(1)
    gen = torch.Generator().manual_seed(1)
    for _ in range(200):
        size, t = random_settings(rng)
        if up.transposed_output_size(size, t) <= 0:
            continue
        x = torch.randn(1, 1, size, size, generator=gen)
        w = torch.randn(t.kernel, t.kernel, generator=gen)
        assert torch.allclose(up.as_ordinary_convolution(x, w, t), up.transposed_conv(x, w, t), atol=1e-5)


def test_checkerboard_when_kernel_is_not_a_multiple_of_the_stride():
    uneven = up.overlap_counts(8, kernel=3, stride=2)
    even = up.overlap_counts(8, kernel=4, stride=2)
    assert up.unevenness(uneven, margin=2) == 4.0  # 1 or 2 placements per axis: 1, 2 or 4 per pixel
    assert torch.unique(uneven[2:-2, 2:-2]).tolist() == [1.0, 2.0, 4.0]
    assert up.unevenness(even, margin=2) == 1.0
    assert up.unevenness(up.upsample_then_conv_counts(8, kernel=3, stride=2), margin=2) == 1.0


def test_upsampling_and_unpooling_are_torchs():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(up.upsample(x, 2, "nearest"), nn.Upsample(scale_factor=2, mode="nearest")(x))
    assert torch.allclose(up.upsample(x, 3, "bilinear"), nn.Upsample(scale_factor=3, mode="bilinear")(x))
    pooled, indices, unpooled = up.max_unpool(x)
    assert pooled.flatten().tolist() == [5.0, 7.0, 13.0, 15.0]
    assert unpooled.count_nonzero() == 4 and torch.equal(unpooled.flatten()[indices.flatten()], pooled.flatten())
    with pytest.raises(InvalidConfig, match="nearest or bilinear"):
        up.upsample(x, 2, "bicubic")
    assert F.interpolate(x, scale_factor=2).shape[-1] == 8
