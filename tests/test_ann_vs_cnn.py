"""cnn_core.experiments.ann_vs_cnn: parameter growth and the shifted-digit experiment."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from cnn_core import load_dataset
from cnn_core.errors import InvalidConfig
from cnn_core.experiments import ann_vs_cnn as avc
from cnn_core.training import evaluate, pretrained


def test_parameter_counts_equal_real_modules():
    frame = avc.fc_vs_conv_params([8, 28, 64], channels=(1, 3), hidden=32, filters=6, kernel=5)
    assert len(frame) == 3 * 2 * 2
    for row in frame.itertuples():
        if row.layer.startswith("fully"):
            module = nn.Linear(row.channels * row.size ** 2, 32)  # real weights, small enough to allocate
        else:
            module = nn.Conv2d(row.channels, 6, 5)
        assert row.params == sum(p.numel() for p in module.parameters())
    conv = frame[frame["layer"].str.startswith("conv")]
    assert conv.groupby("channels")["params"].nunique().eq(1).all()  # independent of the image size
    big = avc.fc_vs_conv_params([1024], channels=(3,))
    assert big.set_index("layer")["params"].to_dict() == {"fully-connected, 256 units": 3 * 1024 * 1024 * 256 + 256,
                                                          "conv 3x3, 16 filters": 3 * 16 * 9 + 16}


def test_shift_images_pad_and_roll():
    images = torch.arange(2 * 1 * 5 * 6, dtype=torch.float32).view(2, 1, 5, 6)
    right = avc.shift_images(images, 2, "right", "pad", fill=-1.0)
    assert torch.equal(right[..., :, 2:], images[..., :, :-2]) and (right[..., :, :2] == -1).all()
    down = avc.shift_images(images, 1, "down", "pad", fill=0.5)
    assert torch.equal(down[..., 1:, :], images[..., :-1, :]) and (down[..., 0, :] == 0.5).all()
    diagonal = avc.shift_images(images, 3, "diagonal", "pad")
    assert torch.equal(diagonal[..., 3:, 3:], images[..., :-3, :-3])
    assert torch.equal(avc.shift_images(images, 2, "diagonal", "roll"), torch.roll(images, (2, 2), (-2, -1)))
    assert torch.equal(avc.shift_images(images, 0, "right", "pad"), images)
    with pytest.raises(InvalidConfig, match="0..4"):
        avc.shift_images(images, 5, "right")
    with pytest.raises(InvalidConfig, match="Direction"):
        avc.shift_images(images, 1, "left")


@pytest.fixture
def tiny_configs(tmp_path, monkeypatch):
    """The page's two models, trained on 40 digits per class for 2 epochs into a temporary cache."""
    monkeypatch.setenv("CNN_PLAYGROUND_CACHE", str(tmp_path / "models"))
    return {"MLP": replace(pretrained.MLP_MNIST, per_class=40, epochs=2),
            "LeNet-5": replace(pretrained.LENET5_MNIST, per_class=40, epochs=2)}


@pytest.mark.slow
def test_translation_experiment_trains_once_and_measures_accuracy(tiny_configs):
    frame, metrics = avc.translation_experiment(tiny_configs, shifts=[0, 3, 8], direction="right", mode="pad")
    assert list(frame.columns) == ["model", "shift", "accuracy"] and len(frame) == 6
    for label, config in tiny_configs.items():
        assert pretrained.cached_path(config).exists()
        model, cached_metrics = pretrained.trained_model(config)  # loads from disk: same numbers
        assert cached_metrics == metrics[label]
        data = load_dataset("mnist-5k")
        at_zero = frame[(frame["model"] == label) & (frame["shift"] == 0)]["accuracy"].item()
        assert at_zero == pytest.approx(evaluate(model, data.test_x, data.test_y)[1])
        assert at_zero == pytest.approx(metrics[label]["test_accuracy"])
        at_eight = frame[(frame["model"] == label) & (frame["shift"] == 8)]["accuracy"].item()
        assert at_eight < at_zero - 0.2  # 8 pixels of a 28-pixel digit: both models suffer
    mtimes = {label: pretrained.cached_path(c).stat().st_mtime_ns for label, c in tiny_configs.items()}
    avc.translation_experiment(tiny_configs, shifts=[1])
    assert mtimes == {label: pretrained.cached_path(c).stat().st_mtime_ns for label, c in tiny_configs.items()}


def test_predict_shifted_agrees_with_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 4))
    image = torch.rand(1, 6, 6)
    moved, answers = avc.predict_shifted({"m": model}, image, 2, "down", "pad", fill=0.0)
    assert torch.equal(moved, avc.shift_images(image[None], 2, "down")[0])
    with torch.no_grad():
        probs = torch.softmax(model(moved[None]), dim=1)[0]
    assert answers.iloc[0]["prediction"] == int(probs.argmax())
    assert answers.iloc[0]["confidence"] == pytest.approx(float(probs.max()))
