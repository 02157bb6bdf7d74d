"""The layer_ops helpers the Basic layers page draws with."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from cnn_core.models import ModelOptions, build_model
from cnn_core.teaching import layer_ops as ops


def test_relu_stage_labels_follow_lecun_numbering_and_measured_shapes():
    model = build_model("lenet5-modern", ModelOptions(in_channels=1, image_size=28))
    labels = ops.relu_stage_labels(model, (1, 28, 28))
    # LeCun et al. 1998: C1 6@28x28 (padded 32x32 input), C3 16@10x10, C5 120, F6 84.
    assert list(labels.values()) == ["C1 (6@28x28)", "C3 (16@10x10)", "C5 (120@1x1)", "F6 (84)"]
    assert all(isinstance(model.get_submodule(name), nn.ReLU) for name in labels)
    assert model.training  # capture_forward restored the flag


def test_window_overlay_pads_and_places_the_window_in_padded_coordinates():
    image = torch.arange(25.0).view(5, 5)
    settings = ops.ConvSettings(stride=2, padding=1, dilation=2, bias=0.0)
    kernel = torch.ones(3, 3)
    step = ops.patch_product(image, kernel, settings, 1, 0)
    padded, box, taps = ops.window_overlay(image, step, settings)
    assert torch.equal(padded, torch.nn.functional.pad(image, (1, 1, 1, 1)))
    top, left, bottom, right = box
    # The window's corners in padded coordinates hold the patch's corner values.
    assert padded[top, left] == step.patch[0, 0] and padded[bottom, right] == step.patch[-1, -1]
    assert taps is not None and len(taps) == 9
    assert torch.equal(torch.stack([padded[r, c] for r, c in taps]).view(3, 3), step.patch)
    assert ops.window_overlay(image, ops.patch_product(image, kernel, ops.ConvSettings(), 0, 0),
                              ops.ConvSettings())[2] is None


def test_rgb_channels_keep_one_channel_each():
    array = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    channels = ops.rgb_channels(Image.fromarray(array), size=(24, 16))
    assert len(channels) == 3
    for c, tinted in enumerate(channels):
        assert tinted.shape == (3, 16, 24)
        assert torch.allclose(tinted[c], torch.from_numpy(array[..., c] / 255).float())
        others = [i for i in range(3) if i != c]
        assert not tinted[others].any()  # the other two channels are zero


def test_pixel_frame_has_one_row_per_pixel():
    values = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    frame = ops.pixel_frame(values)
    assert len(frame) == 12
    for row in frame.itertuples():
        assert abs(row.value - float(values[row.row, row.col])) < 1e-6
