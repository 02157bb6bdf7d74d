"""A digit drawn on a canvas (RGBA pixels) -> an MNIST-style network input, every step kept as a picture.

MNIST's recipe (LeCun et al.): the ink is cropped to its bounding box, scaled (aspect ratio kept,
anti-aliased) into a 20 x 20 box, and pasted into 28 x 28 so that its centre of mass lies at the centre.
A drawing differs from a photo of paper: the canvas tells us exactly where the ink is (dark pixels or
alpha), so no background guess is needed and a canvas filled with ink still gives an input (and a
warning) instead of an error. An empty canvas raises EmptyCanvas.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from cnn_core.data.preprocess import DIGIT_BOX, DIGIT_CANVAS, InputSpec, Prepared, Step, enlarge, normalize
from cnn_core.errors import ImageError

INK_THRESHOLD = 0.05      # ink values above this count as ink (anti-aliased stroke edges are fainter)
MAX_DIGIT_COVERAGE = 0.45  # fraction of the 28 x 28 pixels with ink > 0.1: at most 0.37 in mnist-5k's training split
LOW_CONFIDENCE = 0.6       # a top probability below this is flagged as a guess


class EmptyCanvas(ImageError):
    """Nothing is drawn yet."""


def canvas_ink(rgba: np.ndarray) -> np.ndarray:
    """H x W x 4 (or x 3) uint8 canvas pixels -> H x W ink in [0, 1]: dark, opaque pixels are ink.

    Works for a white background as for a transparent one (alpha 0 = no ink): the pixels are composited
    over white, and the ink is 1 - luminance.
    """
    pixels = np.asarray(rgba)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or min(pixels.shape[:2]) < 8:
        raise ImageError(f"A canvas image is H x W x 4 (RGBA) pixels of at least 8 x 8, got shape {pixels.shape}")
    values = pixels.astype(np.float32) / (255.0 if pixels.dtype == np.uint8 else 1.0)
    rgb = values[:, :, :3]
    alpha = values[:, :, 3:4] if values.shape[2] == 4 else np.ones_like(rgb[:, :, :1])
    over_white = alpha * rgb + (1.0 - alpha)                                   # H x W x 3
    luminance = over_white @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # H x W (ITU-R 601, as PIL's "L")
    return np.clip(1.0 - luminance, 0.0, 1.0)


def _picture(values: np.ndarray, dark_ink: bool = False) -> Image.Image:
    """[0, 1] values as a grayscale picture (white ink on black, or black on white)."""
    shown = 1.0 - values if dark_ink else values
    return Image.fromarray(np.round(np.clip(shown, 0, 1) * 255).astype(np.uint8), mode="L")


def centre_digit(ink: np.ndarray) -> tuple[list[Step], np.ndarray]:
    """Crop to the ink, fit 20 x 20, centre of mass to the centre of 28 x 28: the steps and the 28 x 28 pixels."""
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    if rows.size == 0:
        raise EmptyCanvas("Draw a digit on the canvas first: it is empty.")
    top, bottom, left, right = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    cropped = ink[top:bottom, left:right]                                       # h x w
    steps = [Step("Cropped to the ink", enlarge(_picture(cropped)),
                  f"white ink on black, like MNIST; bounding box {right - left} x {bottom - top} px")]
    h, w = cropped.shape
    scale = DIGIT_BOX / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    box = _picture(cropped).resize((new_w, new_h), Image.LANCZOS)  # anti-aliased, as MNIST's
    boxed = np.asarray(box, dtype=np.float32) / 255.0                           # new_h x new_w
    steps.append(Step("Fit into 20 x 20", enlarge(box), f"{new_w} x {new_h} px, aspect ratio kept"))
    total = float(boxed.sum()) or 1.0
    com_y = float((boxed.sum(axis=1) * np.arange(new_h)).sum()) / total
    com_x = float((boxed.sum(axis=0) * np.arange(new_w)).sum()) / total
    centre = (DIGIT_CANVAS - 1) / 2
    y0 = int(np.clip(round(centre - com_y), 0, DIGIT_CANVAS - new_h))
    x0 = int(np.clip(round(centre - com_x), 0, DIGIT_CANVAS - new_w))
    canvas = np.zeros((DIGIT_CANVAS, DIGIT_CANVAS), dtype=np.float32)
    canvas[y0:y0 + new_h, x0:x0 + new_w] = boxed
    steps.append(Step("Centre of mass at the centre", enlarge(_picture(canvas)),
                      f"pasted into 28 x 28 at ({x0}, {y0}) so the ink's centre of mass is at (13.5, 13.5)"))
    return steps, canvas


def prepare_drawing(rgba: np.ndarray, spec: InputSpec) -> Prepared:
    """Canvas RGBA -> the network input of a digit model (1 x 1 x 28 x 28), with every step as a picture.

    For a model that is not a 28 x 28 digit model the centred digit is resized to its input (and
    repeated over 3 channels for RGB models), so any model can look at a drawing.
    """
    ink = canvas_ink(rgba)
    steps = [Step("Your drawing", enlarge(_picture(ink, dark_ink=True)), f"{ink.shape[1]} x {ink.shape[0]} px canvas")]
    more, pixels = centre_digit(ink)
    steps += more
    view = _picture(pixels)
    if (spec.size, spec.channels) != (DIGIT_CANVAS, 1):
        view = view.resize((spec.size, spec.size), Image.BILINEAR)
        steps.append(Step("Resized", enlarge(view), f"{spec.size} x {spec.size}: this model's input size"))
        pixels = np.asarray(view, dtype=np.float32) / 255.0
    if spec.channels == 3:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    tensor = normalize(pixels, spec.mean, spec.std)                             # 1 x C x size x size
    lo, hi = float(tensor.min()), float(tensor.max())
    steps.append(Step("Normalized", enlarge(_picture((pixels if pixels.ndim == 2 else pixels[:, :, 0]))),
                      f"{spec.normalization or '(x − mean) / std'}: values now {lo:.2f} … {hi:.2f}"))
    return Prepared(tuple(steps), tensor, view.convert("RGB"))


def ink_coverage(pixels: np.ndarray) -> float:
    """Fraction of pixels with ink > 0.1 (an MNIST digit covers 10-37 % of its 28 x 28)."""
    return float((np.asarray(pixels) > 0.1).mean())


def drawing_warning(view: Image.Image, probabilities: np.ndarray) -> str | None:
    """A warning when the prediction should not be trusted: unlike any MNIST digit, or a low top probability."""
    pixels = np.asarray(view.convert("L"), dtype=np.float32) / 255.0
    coverage = ink_coverage(pixels)
    top = float(np.max(probabilities))
    if coverage > MAX_DIGIT_COVERAGE:
        return (f"This does not look like a digit: ink covers {coverage:.0%} of the input, more than any of the "
                f"4,000 training digits (at most 37 %). The network still answers ({top:.0%} for its top class), "
                "but it was never shown anything like it: treat the prediction as a guess.")
    if top < LOW_CONFIDENCE:
        return (f"Low confidence: the top class has only {top:.0%} probability. The network is unsure; try a "
                "larger, centred digit with a thicker stroke.")
    return None
