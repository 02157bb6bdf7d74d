"""FC -> conv: the fully convolutional LeNet-5's score map equals the classifier at every window."""
import math

import torch
import torchinfo

from cnn_core.models.lenet import LeNet5
from cnn_core.vision.sliding import (WINDOW, compare_costs, count_macs, fcn_scores, fully_convolutional, pad_scene,
                                     sliding_scores, window_classifier, windows)


def _lenet() -> LeNet5:
    torch.manual_seed(0)
    return LeNet5("modern").eval()


def test_score_map_equals_classifier_at_every_window():
    lenet = _lenet()
    scene = pad_scene(torch.randn(1, 1, 60, 76), background=-0.42)  # 64 x 80 after padding
    dense = fcn_scores(fully_convolutional(lenet), scene)
    assert dense.shape == (10, (64 - 32) // 4 + 1, (80 - 32) // 4 + 1)
    classifier = window_classifier(lenet)
    for i, j in [(0, 0), (3, 5), (8, 12), (2, 11)]:
        crop = scene[:, :, 4 * i:4 * i + WINDOW, 4 * j:4 * j + WINDOW]
        assert torch.allclose(dense[:, i, j], classifier(crop)[0], atol=1e-5)
    assert torch.allclose(dense, sliding_scores(classifier, scene), atol=1e-5)


def test_window_classifier_is_lenet_on_a_zero_bordered_digit():
    lenet = _lenet()
    digit = torch.randn(3, 1, 28, 28)
    framed = torch.nn.functional.pad(digit, (2, 2, 2, 2))  # LeNet's own zero padding, now part of the window
    assert torch.allclose(window_classifier(lenet)(framed), lenet(digit), atol=1e-5)


def test_windows_are_row_major_crops():
    scene = torch.arange(40 * 36.0).view(1, 1, 40, 36)
    crops = windows(scene, 32, 4)
    assert crops.shape == (3 * 2, 1, 32, 32)
    assert torch.equal(crops[3], scene[0, :, 4:36, 4:36][None][0])


def test_macs_match_torchinfo_and_fcn_is_cheaper():
    lenet = _lenet()
    for model, shape in [(window_classifier(lenet), (1, 1, 32, 32)), (fully_convolutional(lenet), (1, 1, 96, 96))]:
        info = torchinfo.summary(model, input_size=shape, verbose=0)
        # torchinfo also counts one add per output for the bias; we count weight multiply-adds only
        bias_adds = sum(math.prod(layer.output_size) for layer in info.summary_list
                        if isinstance(layer.module, (torch.nn.Conv2d, torch.nn.Linear)) and layer.module.bias is not None)
        assert count_macs(model, shape) == info.total_mult_adds - bias_adds > 0
    cost = compare_costs(lenet, pad_scene(torch.randn(1, 1, 96, 96), 0.0), repeats=1)
    assert cost.positions == 18 * 18 and cost.max_difference < 1e-4
    assert cost.fcn_macs < cost.sliding_macs
