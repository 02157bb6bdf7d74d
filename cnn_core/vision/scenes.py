"""Seeded scenes of real digits for localization, detection and segmentation (offline: mnist-5k).

A scene is a canvas (default 64 x 64, black) with 1-5 MNIST digits pasted at random positions and
sizes. Every digit comes with its exact box and its pixels in a class mask:

- ink: a pixel of a pasted digit is ink when its value is above ``INK_THRESHOLD`` (0.3 on the [0, 1]
  scale, after resizing the 28 x 28 digit to its drawn size);
- box: the tight box of that digit's ink, ``(x1, y1, x2, y2)`` in pixel coordinates with x2, y2
  exclusive (the box covers columns x1 .. x2-1), torchvision's xyxy convention; area = (x2-x1)*(y2-y1);
- mask: ``0`` = background, ``1 + digit class`` where the digit's ink lies. With ``max_overlap > 0`` a
  digit pasted later covers an earlier one in the mask; boxes always stay the full ink box;
- clutter (optional): fragments of other digits pasted away from every box; ink without a box and
  background (0) in the mask, so a model has to learn what is *not* a digit.

Digits of the ``train`` / ``val`` / ``test`` scenes come only from the same split of mnist-5k
(``load_dataset('mnist-5k', split_seed=0)``), so held-out scenes contain held-out digits. Scene ``i``
of ``(split, seed)`` depends only on ``(seed, split, i)``: asking for more scenes keeps the first ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from cnn_core.data import load_dataset
from cnn_core.errors import InvalidConfig

INK_THRESHOLD = 0.3  # pixel value (0..1) above which a pasted digit pixel counts as ink
SPLITS = ("train", "val", "test")
MAX_TRIES = 60  # random placements tried per digit before the scene gets one digit fewer
DIGIT_CLASSES = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class SceneConfig:
    """Everything that decides a set of scenes (hashable: a cache key and a run label)."""

    split: str = "train"  # 'train' | 'val' | 'test': which mnist-5k split the digits come from
    count: int = 256  # number of scenes
    seed: int = 0  # scene i depends only on (seed, split, i)
    canvas: int = 64  # side of the square canvas in pixels
    min_digits: int = 1  # digits drawn per scene, uniform in [min_digits, max_digits]
    max_digits: int = 5
    min_scale: float = 0.25  # drawn digit side (of its 28 x 28 frame) as a fraction of the canvas
    max_scale: float = 0.5
    max_overlap: float = 0.0  # largest IoU allowed between two digit boxes (0 = boxes never overlap)
    clutter: int = 0  # digit fragments pasted as distractors (ink, no box, background in the mask)
    dataset: str = "mnist-5k"  # any 28 x 28 grey registry dataset with 10 classes


@dataclass(frozen=True, eq=False)
class Scenes:
    """A batch of scenes with exact targets; tensors are never mutated after construction."""

    images: torch.Tensor  # N x 1 x H x W float32 in [0, 1]
    boxes: tuple[torch.Tensor, ...]  # N entries, each k x 4 float32 xyxy pixels (x2, y2 exclusive)
    labels: tuple[torch.Tensor, ...]  # N entries, each k int64 digit classes 0..9
    masks: torch.Tensor  # N x H x W int64: 0 = background, 1 + class on the digit's ink
    config: SceneConfig
    class_names: tuple[str, ...] = DIGIT_CLASSES

    def __len__(self) -> int:
        """Number of scenes."""
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        """Object classes (without background)."""
        return len(self.class_names)

    def target(self, i: int) -> dict[str, torch.Tensor]:
        """Scene i's ground truth as torchvision/torchmetrics expect it: {'boxes', 'labels'}."""
        return {"boxes": self.boxes[i], "labels": self.labels[i]}

    def targets(self) -> list[dict[str, torch.Tensor]]:
        """Ground truth of every scene, in torchmetrics' MeanAveragePrecision format."""
        return [self.target(i) for i in range(len(self))]

    def subset(self, indices: list[int] | range) -> "Scenes":
        """The scenes at these indices, in that order."""
        idx = list(indices)
        return Scenes(self.images[idx], tuple(self.boxes[i] for i in idx), tuple(self.labels[i] for i in idx),
                      self.masks[idx], self.config, self.class_names)

    def object_counts(self) -> list[int]:
        """Number of digits in each scene."""
        return [len(lab) for lab in self.labels]


@lru_cache(maxsize=4)
def _digits(dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images N x 28 x 28 in [0, 1], labels N) of one split, un-normalized; cached, never mutated."""
    data = load_dataset(dataset, split_seed=0)
    x, y = data.split(split)
    if x.shape[1:] != (1, 28, 28):
        raise InvalidConfig(f"Scenes need 28 x 28 grey images; '{dataset}' has {tuple(x.shape[1:])}")
    pixels = data.denormalize(x)[:, 0]  # N x 28 x 28
    pixels = torch.where(pixels < 1e-3, torch.zeros_like(pixels), pixels)  # undo float noise of the round trip
    return pixels.contiguous(), y.clone()


@lru_cache(maxsize=4)
def _digits_np(dataset: str, split: str) -> tuple[np.ndarray, list[int]]:
    """The same digits as float32 numpy arrays (for PIL) and the labels as ints; cached, never mutated."""
    pixels, labels = _digits(dataset, split)
    return pixels.numpy().astype(np.float32), labels.tolist()


def _validate(cfg: SceneConfig) -> None:
    if cfg.split not in SPLITS:
        raise InvalidConfig(f"split must be one of {', '.join(SPLITS)}, not '{cfg.split}'")
    if cfg.count < 0 or cfg.count > 20_000:
        raise InvalidConfig(f"count must lie in 0 .. 20,000 scenes, not {cfg.count}")
    if not 16 <= cfg.canvas <= 512:
        raise InvalidConfig(f"canvas must lie in 16 .. 512 pixels, not {cfg.canvas}")
    if not 0 <= cfg.min_digits <= cfg.max_digits <= 20:
        raise InvalidConfig(f"need 0 <= min_digits <= max_digits <= 20, got {cfg.min_digits} and {cfg.max_digits}")
    if not 0 < cfg.min_scale <= cfg.max_scale <= 1:
        raise InvalidConfig(f"need 0 < min_scale <= max_scale <= 1, got {cfg.min_scale} and {cfg.max_scale}")
    if round(cfg.min_scale * cfg.canvas) < 6:
        raise InvalidConfig(f"digits of {cfg.min_scale:g} x {cfg.canvas} px are too small to read: use at least 6 px")
    if not 0 <= cfg.max_overlap <= 1:
        raise InvalidConfig(f"max_overlap is an IoU in [0, 1], not {cfg.max_overlap}")
    if not 0 <= cfg.clutter <= 50:
        raise InvalidConfig(f"clutter must lie in 0 .. 50 fragments, not {cfg.clutter}")


def _ink_box(patch: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight (x1, y1, x2, y2) of the pixels above INK_THRESHOLD in an h x w patch, x2/y2 exclusive."""
    ink = patch > INK_THRESHOLD
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _resized(digit: np.ndarray, side: int) -> np.ndarray:
    """A 28 x 28 float32 digit resized to side x side (PIL bilinear, antialiased when shrinking), in [0, 1]."""
    out = Image.fromarray(digit, mode="F").resize((side, side), Image.BILINEAR)
    return np.asarray(out, dtype=np.float32).clip(0, 1)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """IoU of two integer xyxy boxes (tiny, so no tensor round trip per placement try)."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _paste(canvas: np.ndarray, patch: np.ndarray, top: int, left: int) -> tuple[slice, slice, np.ndarray]:
    """Max-blend patch into canvas at (top, left), clipped at the borders; returns where, and its ink there.

    numpy, not torch: a scene is a few dozen tiny array operations, and numpy's per-call cost is ~10x lower.
    """
    h, w = canvas.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + patch.shape[0], h), min(left + patch.shape[1], w)
    part = patch[y0 - top:y1 - top, x0 - left:x1 - left]
    region = canvas[y0:y1, x0:x1]
    np.maximum(region, part, out=region)
    return slice(y0, y1), slice(x0, x1), part > INK_THRESHOLD


def _one_scene(cfg: SceneConfig, index: int, pixels: np.ndarray, classes: list[int]
               ) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, np.ndarray]:
    """Scene `index`: (image H x W, boxes k x 4, labels k, mask H x W)."""
    rng = np.random.default_rng([cfg.seed, SPLITS.index(cfg.split), index])
    size = cfg.canvas
    image = np.zeros((size, size), dtype=np.float32)
    mask = np.zeros((size, size), dtype=np.int64)
    boxes: list[tuple[int, int, int, int]] = []
    labels: list[int] = []
    lo, hi = round(cfg.min_scale * size), round(cfg.max_scale * size)
    for _ in range(int(rng.integers(cfg.min_digits, cfg.max_digits + 1))):
        pick = int(rng.integers(len(classes)))  # classes: python ints, pixels: N x 28 x 28 numpy
        patch = _resized(pixels[pick], int(rng.integers(lo, hi + 1)))
        ink = _ink_box(patch)
        if ink is None:
            continue
        bw, bh = ink[2] - ink[0], ink[3] - ink[1]
        if bw > size or bh > size:
            continue
        for _try in range(MAX_TRIES):
            bx, by = int(rng.integers(0, size - bw + 1)), int(rng.integers(0, size - bh + 1))
            box = (bx, by, bx + bw, by + bh)
            if all(_iou(box, other) <= cfg.max_overlap for other in boxes) and (
                    cfg.max_overlap > 0 or not any(_intersects(box, other) for other in boxes)):
                rows, cols, on = _paste(image, patch, by - ink[1], bx - ink[0])
                mask[rows, cols][on] = 1 + int(classes[pick])  # a later digit covers an earlier one
                boxes.append(box)
                labels.append(int(classes[pick]))
                break
    for _ in range(cfg.clutter):
        _add_clutter(image, boxes, pixels, rng)
    box_t = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return image, box_t, torch.tensor(labels, dtype=torch.long), mask


def _intersects(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """True when two boxes share at least one pixel."""
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _add_clutter(image: np.ndarray, boxes: list[tuple[int, int, int, int]], pixels: np.ndarray,
                 rng: np.random.Generator) -> None:
    """Paste one fragment (a 6-9 px crop of a random digit's ink) where it touches no box (1 px margin)."""
    size = image.shape[0]
    digit = pixels[int(rng.integers(len(pixels)))]
    side = int(rng.integers(6, 10))
    y, x = int(rng.integers(6, 28 - side - 5)), int(rng.integers(6, 28 - side - 5))
    piece = digit[y:y + side, x:x + side]
    if not (piece > INK_THRESHOLD).any():
        return
    for _try in range(MAX_TRIES):
        top, left = int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
        zone = (left - 1, top - 1, left + side + 1, top + side + 1)
        if not any(_intersects(zone, b) for b in boxes):
            _paste(image, piece, top, left)
            return


def make_scenes(split: str = "train", count: int = 256, seed: int = 0, canvas: int = 64, max_digits: int = 5,
                **options: object) -> Scenes:
    """Generate `count` seeded scenes of `split` digits; other SceneConfig fields go in `options`."""
    cfg = SceneConfig(split=split, count=count, seed=seed, canvas=canvas, max_digits=max_digits,
                      **options)  # type: ignore[arg-type]
    return scenes_from_config(cfg)


def scenes_from_config(cfg: SceneConfig) -> Scenes:
    """Generate the scenes a SceneConfig describes (raises InvalidConfig with a readable message)."""
    _validate(cfg)
    pixels, classes = _digits_np(cfg.dataset, cfg.split)
    images = torch.zeros(cfg.count, 1, cfg.canvas, cfg.canvas)
    masks = torch.zeros(cfg.count, cfg.canvas, cfg.canvas, dtype=torch.long)
    boxes, labels = [], []
    for i in range(cfg.count):
        image, box, label, mask = _one_scene(cfg, i, pixels, classes)
        images[i, 0], masks[i] = torch.from_numpy(image), torch.from_numpy(mask)
        boxes.append(box)
        labels.append(label)
    return Scenes(images, tuple(boxes), tuple(labels), masks, cfg)
