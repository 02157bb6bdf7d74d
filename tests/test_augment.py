"""Augmentation: labels and shapes kept, reproducible with a seed, and each transform does what it says."""
from __future__ import annotations

import pytest
import torch

from cnn_core import AugmentConfig, InvalidConfig, augment_batch, load_dataset
from cnn_core.experiments.regularization import augmentation_preview, preview_grid


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist-5k", per_class=10)


def test_preview_keeps_labels_and_shapes_and_is_seeded(data):
    config = AugmentConfig(shift=3, rotate=15, min_scale=0.85)
    images, augmented, labels = augmentation_preview(data, config, n_images=5, copies=3, seed=7)
    assert images.shape == (5, 1, 28, 28) and augmented.shape == (5, 3, 1, 28, 28) and labels.shape == (5,)
    # the labels are those of the original images, which are real training images
    for image, label in zip(images, labels):
        match = [i for i in range(len(data.train_y)) if torch.allclose(data.denormalize(data.train_x[i]), image)]
        assert match and int(data.train_y[match[0]]) == int(label)
    assert 0.0 <= float(augmented.min()) and float(augmented.max()) <= 1.0
    again = augmentation_preview(data, config, n_images=5, copies=3, seed=7)
    assert torch.equal(again[1], augmented) and torch.equal(again[2], labels)
    other = augmentation_preview(data, config, n_images=5, copies=3, seed=8)
    assert not torch.equal(other[1], augmented)
    assert not torch.equal(augmented[:, 0], augmented[:, 1])  # copies differ from each other
    grid = preview_grid(images, augmented)
    assert grid.dtype == torch.uint8 and grid.shape[2] == 1 and grid.shape[0] == 5 * 30 + 2


def test_augment_batch_same_generator_seed_same_batch(data):
    x = data.train_x[:16]
    config = AugmentConfig(shift=2, rotate=10, min_scale=0.9, hflip=True)
    a = augment_batch(x, config, torch.Generator().manual_seed(3))
    b = augment_batch(x, config, torch.Generator().manual_seed(3))
    c = augment_batch(x, config, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert augment_batch(x, AugmentConfig(), torch.Generator()) is x  # all off: the batch itself


def _translated(image: torch.Tensor, dx: int, dy: int, fill: float) -> torch.Tensor:
    # image shifted right by dx and down by dy, uncovered pixels = fill
    out = torch.full_like(image, fill)
    h, w = image.shape[-2:]
    src = image[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    out[..., max(0, dy):max(0, dy) + src.shape[-2], max(0, dx):max(0, dx) + src.shape[-1]] = src
    return out


def test_shift_only_is_an_integer_translation_within_the_limit(data):
    x = data.train_x[:12]
    fill = float(x.min())
    out = augment_batch(x, AugmentConfig(shift=2), torch.Generator().manual_seed(0))
    shifts = []
    for original, moved in zip(x, out):
        found = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)
                 if torch.allclose(_translated(original, dx, dy, fill), moved, atol=1e-5)]
        assert found, "every augmented image is the original moved by at most 2 pixels"
        shifts.append(found[0])
    assert len(set(shifts)) > 1  # and the shifts are random, not all the same


def test_flip_only_gives_the_image_or_its_mirror(data):
    x = data.train_x[:20]
    out = augment_batch(x, AugmentConfig(hflip=True), torch.Generator().manual_seed(0))
    flipped = 0
    for original, result in zip(x, out):
        if torch.allclose(result, original.flip(-1), atol=1e-6) and not torch.allclose(result, original):
            flipped += 1
        else:
            assert torch.allclose(result, original, atol=1e-6)
    assert 3 <= flipped <= 17  # about half


def test_invalid_augmentation_is_refused(data):
    with pytest.raises(InvalidConfig):
        augmentation_preview(data, AugmentConfig(shift=20))
    with pytest.raises(InvalidConfig):
        augmentation_preview(data, AugmentConfig(), n_images=0)
