"""Feature visualization by activation maximization (cnn_core.inspect.feature_vis)."""
import numpy as np
import pytest
import torch

from cnn_core.errors import InvalidConfig
from cnn_core.inspect.feature_vis import FeatureVisConfig, visualize_channels
from cnn_core.models import build_model

MEAN, STD = (0.1307,), (0.3081,)


def lenet():
    torch.manual_seed(0)
    return build_model("lenet5-modern").eval()


def test_optimized_inputs_make_their_channel_fire_more_than_the_start():
    model = lenet()
    pictures = visualize_channels(model, "features.3", [0, 3, 7, 11], (1, 28, 28), MEAN, STD,
                                  FeatureVisConfig(steps=40, seed=1))
    assert [p.channel for p in pictures] == [0, 3, 7, 11]
    for p in pictures:
        assert p.image.shape == (28, 28, 3) and p.image.dtype == np.uint8
        assert p.activation > p.start_activation + 0.1
    assert len({p.image.tobytes() for p in pictures}) == 4


def test_seeded_and_independent_of_the_batch():
    model = lenet()
    config = FeatureVisConfig(steps=20, seed=7)
    alone = visualize_channels(model, "features.0", [2], (1, 28, 28), MEAN, STD, config)[0]
    batch = visualize_channels(model, "features.0", [5, 2, 1], (1, 28, 28), MEAN, STD, config)[1]
    again = visualize_channels(model, "features.0", [2], (1, 28, 28), MEAN, STD, config)[0]
    assert np.array_equal(alone.image, again.image)
    assert alone.activation == pytest.approx(batch.activation, rel=1e-3)
    other_seed = visualize_channels(model, "features.0", [2], (1, 28, 28), MEAN, STD,
                                    FeatureVisConfig(steps=20, seed=8))[0]
    assert not np.array_equal(alone.image, other_seed.image)


def test_the_model_is_not_modified():
    model = lenet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    visualize_channels(model, "features.6", [0, 1], (1, 28, 28), MEAN, STD, FeatureVisConfig(steps=5))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())
    assert not any(m.training for m in model.modules())


def test_a_model_without_conv_layers_is_told_it_needs_one():
    with pytest.raises(InvalidConfig, match="no convolution layer"):
        visualize_channels(build_model("mlp").eval(), "fc1", [0], (1, 28, 28), MEAN, STD)


def test_bad_requests_are_clear_errors():
    model = lenet()
    with pytest.raises(InvalidConfig, match="Channels"):
        visualize_channels(model, "features.0", [6], (1, 28, 28), MEAN, STD)
    with pytest.raises(InvalidConfig, match="not a convolution"):
        visualize_channels(model, "features.1", [0], (1, 28, 28), MEAN, STD)
    with pytest.raises(InvalidConfig):
        visualize_channels(model, "features.0", [0], (1, 28, 28), MEAN, STD, FeatureVisConfig(steps=0))
