"""channels_last on the CPU: the training loop and the vision runs switch CNNs to NHWC memory, where it works.

The layout must change speed only: the same losses as the default layout up to float rounding, and a model whose
forward needs the default layout (``x.view`` on a feature map, as in the lecture's ConvNet) is left as it was.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from cnn_core import OptimizerConfig, TrainConfig, TrainingRun, load_dataset
from cnn_core.models.simple import LectureConvNet
from cnn_core.training.loop import build_initialized_model, use_channels_last


def _conv_weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in model.parameters() if p.dim() == 4]


def test_a_cnn_trains_in_channels_last_with_the_default_layouts_losses():
    data = load_dataset("mnist-5k", per_class=20)
    config = TrainConfig(model="lenet5-modern", epochs=1, batch_size=20, device="cpu", seed=3,
                         optimizer=OptimizerConfig("adam", lr=1e-3))
    run = TrainingRun(config, data)
    assert run.channels_last
    weights = _conv_weights(run.model)  # the first conv (1 input channel) is both layouts at once
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    assert sum(not w.is_contiguous() for w in weights) == len(weights) - 1
    losses = [r.train_loss for r in run.records() if r.kind == "step"]

    # the reference: the same initial weights, the default layout, a hand-written loop with torch.optim.Adam
    model = build_initialized_model(config, data)
    assert all(w.is_contiguous() for w in _conv_weights(model))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(config.seed))
    reference = []
    for first in range(0, len(order), config.batch_size):
        idx = order[first:first + config.batch_size]
        loss = F.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        reference.append(loss.item())
    assert len(losses) == len(reference) == 10
    assert losses == pytest.approx(reference, rel=1e-4)
    assert losses[-1] < losses[0]


def test_a_model_that_needs_the_default_layout_is_left_unchanged():
    model = LectureConvNet(in_channels=1, num_classes=10, image_size=28)
    before = copy.deepcopy(model.state_dict())
    assert not use_channels_last(model, torch.rand(2, 1, 28, 28), torch.device("cpu"))  # x.view fails in NHWC
    assert all(w.is_contiguous() for w in _conv_weights(model))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_an_mlp_or_a_non_cpu_device_is_not_switched():
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    assert not use_channels_last(mlp, torch.rand(2, 1, 28, 28), torch.device("cpu"))
    conv = torch.nn.Conv2d(1, 4, 3)
    assert not use_channels_last(conv, torch.rand(2, 1, 28, 28), torch.device("meta"))
    assert conv.weight.is_contiguous()
