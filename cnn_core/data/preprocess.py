"""Turn an RGB image into a network input, keeping every step as a picture the student can look at."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from cnn_core.errors import ImageError

DIGIT_BOX = 20      # MNIST digits are scaled into a 20x20 box ...
DIGIT_CANVAS = 28   # ... and centered by their center of mass in 28x28
DISPLAY_MIN = 112   # tiny steps (28x28) are enlarged (nearest neighbour) to at least this for display
DISPLAY_MAX = 512   # the original is shown as a thumbnail of at most this size (keeps cached steps small)


@dataclass(frozen=True)
class InputSpec:
    """What a network expects and how an image is turned into it."""

    channels: int                 # 1 (grayscale) or 3 (RGB)
    size: int                     # height = width of the network input
    mean: tuple[float, ...]       # per channel, of [0, 1] pixels
    std: tuple[float, ...]
    style: str = "photo"          # "photo": resize + center crop; "digit": MNIST-style conversion; "plain": resize
    resize: int | None = None     # photo style: shorter side before the center crop (None = size)
    normalization: str = ""       # the formula, for the page


@dataclass(frozen=True)
class Step:
    """One preprocessing step: a title, the image after it (for display) and what happened."""

    title: str
    image: Image.Image
    caption: str


@dataclass(frozen=True)
class Prepared:
    """The network input with the steps that produced it."""

    steps: tuple[Step, ...]
    tensor: torch.Tensor     # 1 x C x H x W, normalized: exactly what the network receives
    view: Image.Image        # RGB, H x W, what the network sees before normalization (for overlays)


def enlarge(image: Image.Image, minimum: int = DISPLAY_MIN) -> Image.Image:
    """Nearest-neighbour upscaling of tiny images so pixels stay visible as squares."""
    if min(image.size) >= minimum:
        return image
    factor = -(-minimum // min(image.size))
    return image.resize((image.width * factor, image.height * factor), Image.NEAREST)


def _thumbnail(image: Image.Image, maximum: int = DISPLAY_MAX) -> Image.Image:
    """A copy no larger than maximum x maximum, for display."""
    if max(image.size) <= maximum:
        return image
    small = image.copy()
    small.thumbnail((maximum, maximum), Image.BILINEAR)
    return small


def resize_shorter(image: Image.Image, side: int, max_ratio: float = 8.0) -> Image.Image:
    """Resize so the shorter side is `side`, keeping the aspect ratio (bilinear, antialiased).

    A strip longer than `max_ratio` times its width is first cut to its central part (the center crop
    keeps only that part anyway; resizing all of it could need gigabytes).
    """
    w, h = image.size
    if max(w, h) > max_ratio * min(w, h):
        keep = int(max_ratio * min(w, h))
        image = center_crop_box(image, min(w, keep), min(h, keep))
        w, h = image.size
    scale = side / min(w, h)
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR, reducing_gap=3.0)


def center_crop_box(image: Image.Image, width: int, height: int) -> Image.Image:
    """The central width x height region."""
    w, h = image.size
    left, top = (w - width) // 2, (h - height) // 2
    return image.crop((left, top, left + width, top + height))


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """The central size x size square."""
    return center_crop_box(image, size, size)


def standardize(pixels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(x - mean) / std per channel of a C x H x W tensor of [0, 1] pixels (same shape back)."""
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (pixels - mean_t) / std_t


def normalize(pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """H x W x C (or H x W) float pixels in [0, 1] -> 1 x C x H x W tensor, standardized per channel."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32))  # C x H x W
    return standardize(tensor, mean, std).unsqueeze(0)


def tensor_image(tensor: torch.Tensor) -> Image.Image:
    """A 1 x C x H x W (or C x H x W) tensor as an image, min-max scaled to 0..255 (C = 1 or 3)."""
    t = tensor.detach().float().reshape(-1, *tensor.shape[-2:])
    lo, hi = float(t.min()), float(t.max())
    scaled = ((t - lo) / (hi - lo if hi > lo else 1.0) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(scaled[:, :, 0] if scaled.shape[2] == 1 else scaled)


def _normalized_step(tensor: torch.Tensor, spec: InputSpec) -> Step:
    lo, hi = float(tensor.min()), float(tensor.max())
    return Step("Normalized", enlarge(tensor_image(tensor)),
                f"{spec.normalization or '(x − mean) / std'}: values now {lo:.2f} … {hi:.2f} "
                "(shown min-max scaled)")


def mnist_style(image: Image.Image) -> tuple[list[Step], np.ndarray]:
    """Convert a photo of a digit to MNIST style: returns the steps and the 28 x 28 pixels in [0, 1].

    Grayscale; inverted when the background (median of the border pixels) is light, because MNIST
    digits are white on black; the background level is subtracted and the contrast stretched;
    cropped to the ink's bounding box; scaled into a 20 x 20 box keeping the aspect ratio; pasted
    into 28 x 28 so that the center of mass lies at the center. Raises ImageError when no ink is found.
    """
    steps: list[Step] = [Step("Original", _thumbnail(image), f"{image.width} x {image.height} px")]
    gray_image = image.convert("L")
    if max(gray_image.size) > 512:  # work on a manageable size; the result is 28 x 28 anyway
        gray_image = gray_image.copy()
        gray_image.thumbnail((512, 512), Image.BILINEAR)
    gray = np.asarray(gray_image, dtype=np.float32) / 255.0  # H x W
    steps.append(Step("Grayscale", enlarge(gray_image), "one channel, like MNIST"))
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        gray = 1.0 - gray
        background = 1.0 - background
        steps.append(Step("Inverted", enlarge(Image.fromarray((gray * 255).astype(np.uint8))),
                          f"light background (border median {1 - background:.2f}): inverted to white ink on black"))
    peak = float(gray.max())
    if peak - background < 0.1:
        raise ImageError("No digit found: the image has almost no contrast. Upload a dark digit on light paper "
                         "(or a light digit on a dark background).")
    level = background + 0.25 * (peak - background)  # below this: paper, shadows and noise
    ink = np.clip((gray - level) / (peak - level), 0.0, 1.0)
    rows, cols = np.nonzero(ink > 0.05)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    cropped = ink[top:bottom, left:right]
    steps.append(Step("Cropped to the ink", enlarge(Image.fromarray((cropped * 255).astype(np.uint8))),
                      f"background removed, bounding box {right - left} x {bottom - top} px"))
    h, w = cropped.shape
    scale = DIGIT_BOX / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    box = Image.fromarray((cropped * 255).astype(np.uint8)).resize((new_w, new_h), Image.LANCZOS)
    boxed = np.asarray(box, dtype=np.float32) / 255.0
    steps.append(Step("Scaled to 20 x 20", enlarge(box), f"{new_w} x {new_h} px, aspect ratio kept"))
    total = float(boxed.sum()) or 1.0
    com_y = float((boxed.sum(axis=1) * np.arange(new_h)).sum()) / total
    com_x = float((boxed.sum(axis=0) * np.arange(new_w)).sum()) / total
    center = (DIGIT_CANVAS - 1) / 2
    top = int(np.clip(round(center - com_y), 0, DIGIT_CANVAS - new_h))
    left = int(np.clip(round(center - com_x), 0, DIGIT_CANVAS - new_w))
    canvas = np.zeros((DIGIT_CANVAS, DIGIT_CANVAS), dtype=np.float32)
    canvas[top:top + new_h, left:left + new_w] = boxed
    steps.append(Step("Centered in 28 x 28", enlarge(Image.fromarray((canvas * 255).astype(np.uint8))),
                      "center of mass moved to the image center, as in MNIST"))
    return steps, canvas


def prepare(image: Image.Image, spec: InputSpec, already_mnist: bool = False) -> Prepared:
    """Preprocess an RGB image for a model; every intermediate image is kept for display.

    photo style: resize the shorter side to `spec.resize`, center crop `spec.size`, normalize.
    digit style: MNIST-style conversion (see mnist_style); `already_mnist` skips it for dataset digits.
    plain style: grayscale when the model takes one channel, resize to size x size, normalize.
    """
    if spec.style == "digit" and spec.size == DIGIT_CANVAS and spec.channels == 1:
        if already_mnist:
            gray = image.convert("L").resize((DIGIT_CANVAS, DIGIT_CANVAS), Image.BILINEAR)
            steps = [Step("Original", enlarge(gray), "a 28 x 28 MNIST test digit: already in MNIST style")]
            pixels = np.asarray(gray, dtype=np.float32) / 255.0
        else:
            step_list, pixels = mnist_style(image)
            steps = step_list
        view = Image.fromarray((pixels * 255).astype(np.uint8)).convert("RGB")
    elif spec.style == "photo":
        steps = [Step("Original", _thumbnail(image), f"{image.width} x {image.height} px")]
        resized = resize_shorter(image, spec.resize or spec.size)
        steps.append(Step("Resized", resized, f"shorter side {spec.resize or spec.size} px: "
                                              f"{resized.width} x {resized.height}"))
        view = center_crop(resized, spec.size)
        steps.append(Step("Center crop", view, f"{spec.size} x {spec.size}: the network's input size"))
        if spec.channels == 1:
            view = view.convert("L").convert("RGB")
            steps.append(Step("Grayscale", view, "the model takes one channel"))
        pixels = np.asarray(view, dtype=np.float32) / 255.0
        if spec.channels == 1:
            pixels = pixels[:, :, 0]
    else:
        steps = [Step("Original", _thumbnail(image), f"{image.width} x {image.height} px")]
        working = image
        if spec.channels == 1:
            working = image.convert("L")
            steps.append(Step("Grayscale", working, "the model takes one channel"))
        working = working.resize((spec.size, spec.size), Image.BILINEAR, reducing_gap=3.0)
        steps.append(Step("Resized", enlarge(working), f"{spec.size} x {spec.size} (aspect ratio not kept)"))
        pixels = np.asarray(working, dtype=np.float32) / 255.0
        view = working.convert("RGB")
    tensor = normalize(pixels, spec.mean, spec.std)  # 1 x C x size x size
    steps.append(_normalized_step(tensor, spec))
    return Prepared(tuple(steps), tensor, view)
