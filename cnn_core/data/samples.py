"""Real photos and digits that ship with installed packages: a first look without uploading anything."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from cnn_core.errors import ImageError


@dataclass(frozen=True)
class SamplePhoto:
    """A registry entry: a label, where the photo comes from, and its loader."""

    label: str
    source: str
    loader: Callable[[], Image.Image]


def _sklearn(name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(name)).convert("RGB")  # 427 x 640 x 3 uint8
    return load


def _matplotlib(name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        from matplotlib import cbook

        with cbook.get_sample_data(name) as handle:  # an open binary file for images
            image = Image.open(handle)
            image.load()
        return image.convert("RGB")
    return load


SAMPLE_PHOTOS: dict[str, SamplePhoto] = {
    "china": SamplePhoto("Chinese temple (china.jpg)", "scikit-learn: sklearn.datasets.load_sample_image",
                         _sklearn("china.jpg")),
    "flower": SamplePhoto("Flower (flower.jpg)", "scikit-learn: sklearn.datasets.load_sample_image",
                          _sklearn("flower.jpg")),
    "grace_hopper": SamplePhoto("Grace Hopper (grace_hopper.jpg)", "matplotlib sample data: cbook.get_sample_data",
                                _matplotlib("grace_hopper.jpg")),
}


def sample_photo(key: str) -> Image.Image:
    """Load a sample photo as RGB; ImageError naming the package when it is missing."""
    if key not in SAMPLE_PHOTOS:
        raise ImageError(f"Unknown sample photo '{key}'. Choose one of: {', '.join(SAMPLE_PHOTOS)}")
    entry = SAMPLE_PHOTOS[key]
    try:
        return entry.loader()
    except (ImportError, OSError, ValueError) as exc:
        raise ImageError(f"The sample photo {entry.label} could not be loaded from {entry.source}: {exc}") from exc


def dataset_digit(index: int, dataset: str = "mnist-5k") -> tuple[Image.Image, int]:
    """The index-th test digit of a playground dataset as a 28 x 28 grayscale image, and its label."""
    from cnn_core.data import load_dataset

    data = load_dataset(dataset)
    if not 0 <= index < len(data.test_y):
        raise ImageError(f"Test digit index must be in 0..{len(data.test_y) - 1}, got {index}")
    pixels = data.denormalize(data.test_x[index])[0].numpy()  # 28 x 28 in [0, 1]
    return Image.fromarray(np.round(pixels * 255).astype(np.uint8), mode="L"), int(data.test_y[index])
