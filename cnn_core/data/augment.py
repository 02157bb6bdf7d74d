"""On-the-fly data augmentation of in-memory batches with torchvision transforms v2 (seeded)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cnn_core.errors import InvalidConfig


@dataclass(frozen=True)
class AugmentConfig:
    """Random per-sample transforms; all off by default."""

    shift: int = 0           # max translation in pixels, each axis
    rotate: float = 0.0      # max rotation in degrees, either way
    hflip: bool = False      # flip left-right with probability 0.5 (wrong for digits: a teaching point)
    min_scale: float = 1.0   # random zoom in [min_scale, 1] then back to size (a random crop)

    def enabled(self) -> bool:
        """True when any transform is switched on."""
        return bool(self.shift or self.rotate or self.hflip or self.min_scale < 1.0)

    def validate(self) -> None:
        """Raise InvalidConfig for values that cannot run."""
        if not 0 <= self.shift <= 14:
            raise InvalidConfig("Augmentation shift must be 0..14 pixels")
        if not 0 <= self.rotate <= 180:
            raise InvalidConfig("Augmentation rotation must be 0..180 degrees")
        if not 0.3 <= self.min_scale <= 1.0:
            raise InvalidConfig("Augmentation min_scale must be in [0.3, 1]")


def augment_batch(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Apply random transforms to each image of an N x C x H x W batch; labels are unchanged.

    Parameters are drawn from `generator`, so the same seed gives the same augmented batches.
    Pixels uncovered by a shift or rotation are filled with the batch minimum (the background
    of normalized digits), not with 0 (which would be grey after normalization).
    """
    from torchvision.transforms.v2 import functional as TF  # lazy: it imports every torchvision model (~0.8 s)
    if not config.enabled():
        return images
    n = images.shape[0]
    # One row of random numbers per image: angle, dx, dy, scale, flip (all in [0, 1)).
    u = torch.rand(n, 5, generator=generator)
    angles = (u[:, 0] * 2 - 1) * config.rotate
    shifts = torch.round((u[:, 1:3] * 2 - 1) * config.shift)
    scales = 1 / (config.min_scale + (1 - config.min_scale) * u[:, 3])  # zoom in = crop
    flips = (u[:, 4] < 0.5) & config.hflip
    fill = float(images.min())
    out = torch.empty_like(images)
    for i in range(n):
        img = images[i]
        if flips[i]:
            img = TF.horizontal_flip(img)
        out[i] = TF.affine(img, angle=float(angles[i]), translate=[int(shifts[i, 0]), int(shifts[i, 1])],
                           scale=float(scales[i]), shear=[0.0, 0.0], fill=fill)
    return out
