"""Dataset registry: real embedded data, seeded splits, IDX reader, offline errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cnn_core.data import DATASETS, datasets as datasets_module, load_dataset, per_class_subset, read_idx, write_idx
from cnn_core.errors import DatasetUnavailable, InvalidConfig


def test_mnist_5k_splits_shapes_and_balance():
    data = load_dataset("mnist-5k")
    assert data.sizes() == {"train": 4000, "val": 500, "test": 500}
    assert data.image_shape == (1, 28, 28)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    assert data.num_classes == 10 and data.class_names[3] == "3"
    # the csv is sorted by class: a seeded shuffle must give every class to every split
    for split in ("train", "val", "test"):
        assert set(data.split(split)[1].tolist()) == set(range(10))
    # normalized with the training split's own statistics
    assert abs(data.train_x.mean().item()) < 1e-4 and abs(data.train_x.std().item() - 1) < 1e-3
    assert 0.12 < data.mean[0] < 0.14  # MNIST's well-known mean pixel is about 0.13


def test_splits_are_disjoint_and_seeded():
    a, b, c = load_dataset(split_seed=0), load_dataset(split_seed=0), load_dataset(split_seed=1)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.test_y, c.test_y)
    flat = lambda t: {tuple(row.tolist()) for row in t.flatten(1)[:, ::7]}  # noqa: E731
    assert not flat(a.test_x) & flat(a.train_x[:1000])


def test_per_class_subset_is_balanced_and_deterministic():
    data = load_dataset("mnist-5k", per_class=20)
    assert data.sizes()["train"] == 200
    assert torch.bincount(data.train_y).tolist() == [20] * 10
    again = load_dataset("mnist-5k", per_class=20)
    assert torch.equal(data.train_y, again.train_y)
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    idx = per_class_subset(labels, 2, torch.Generator().manual_seed(0))
    assert sorted(labels[idx].tolist()) == [0, 0, 1, 1, 2]


def test_denormalize_returns_pixels():
    data = load_dataset("mnist-5k")
    pixels = data.denormalize(data.train_x[0])
    assert pixels.min() >= 0 and pixels.max() <= 1 and pixels.max() > 0.9


def test_idx_round_trip_plain_and_gzip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        write_idx(tmp_path / name, images)
        assert np.array_equal(read_idx(tmp_path / name), images)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(ValueError, match="expected 10 data bytes"):
        read_idx(tmp_path / "short")


def test_fashion_mnist_from_a_user_folder(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 10)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    datasets_module._raw.cache_clear()
    data = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert data.sizes() == {"train": 36, "val": 4, "test": 10}
    assert data.class_names[9] == "Ankle boot"


def test_offline_download_gives_a_clear_error(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    datasets_module._raw.cache_clear()
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset("cifar10", data_dir=tmp_path)
    message = str(err.value)
    assert "CIFAR10" in message and "mnist-5k" in message and "works offline" in message


def test_unknown_dataset_and_bad_fractions():
    with pytest.raises(InvalidConfig, match="Unknown dataset"):
        load_dataset("imagenet")
    with pytest.raises(InvalidConfig):
        load_dataset("mnist-5k", val_fraction=0.7)
    assert DATASETS["mnist-5k"].offline and not DATASETS["cifar10"].offline


@pytest.mark.skipif(not datasets_module.FASHION_MNIST_SYSTEM_DIR.exists(),
                    reason="Debian package dataset-fashion-mnist not installed (CI installs it)")
def test_fashion_mnist_from_the_debian_package():
    datasets_module._raw.cache_clear()
    data = load_dataset("fashion-mnist")
    assert data.sizes() == {"train": 54000, "val": 6000, "test": 10000}
    assert torch.bincount(data.test_y).tolist() == [1000] * 10
