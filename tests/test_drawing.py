"""Canvas pixels -> MNIST-style input (cnn_core.data.drawing)."""
import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnn_core.data.drawing import EmptyCanvas, canvas_ink, centre_digit, drawing_warning, ink_coverage, prepare_drawing
from cnn_core.data.preprocess import InputSpec
from cnn_core.errors import ImageError

SPEC = InputSpec(1, 28, (0.1307,), (0.3081,), "digit")


def canvas_with(draw_fn, size=280, transparent=False) -> np.ndarray:
    """An RGBA canvas like streamlit-drawable-canvas returns: black strokes on white (or on transparent)."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0) if transparent else (255, 255, 255, 255))
    draw_fn(ImageDraw.Draw(image))
    return np.asarray(image)


def one(draw):
    draw.line([(150, 40), (160, 240)], fill=(0, 0, 0, 255), width=20)


def test_ink_is_dark_opaque_pixels_on_white_or_transparent():
    for transparent in (False, True):
        ink = canvas_ink(canvas_with(one, transparent=transparent))
        assert ink.shape == (280, 280)
        assert ink[140, 155] == pytest.approx(1.0) and ink[10, 10] == pytest.approx(0.0)


def test_centre_digit_matches_the_mnist_recipe():
    ink = np.zeros((100, 100), np.float32)
    ink[10:60, 70:80] = 1.0  # a 10 x 50 bar in a corner
    steps, pixels = centre_digit(ink)
    assert [s.title for s in steps] == ["Cropped to the ink", "Fit into 20 x 20", "Centre of mass at the centre"]
    assert pixels.shape == (28, 28)
    rows, cols = np.nonzero(pixels > 0.05)
    assert rows.max() - rows.min() + 1 == 20          # the long side fills the 20 px box
    assert 3 <= cols.max() - cols.min() + 1 <= 5      # aspect ratio kept (10/50 of 20 = 4)
    total = pixels.sum()
    com = ((pixels.sum(1) * np.arange(28)).sum() / total, (pixels.sum(0) * np.arange(28)).sum() / total)
    assert com == pytest.approx((13.5, 13.5), abs=0.6)  # centre of mass at the centre (integer shift)


def test_prepare_drawing_gives_the_normalized_network_input():
    ready = prepare_drawing(canvas_with(one), SPEC)
    assert tuple(ready.tensor.shape) == (1, 1, 28, 28)
    assert float(ready.tensor.min()) == pytest.approx(-0.1307 / 0.3081, abs=1e-5)  # background = 0 normalized
    assert [s.title for s in ready.steps][0] == "Your drawing" and ready.steps[-1].title == "Normalized"
    rgb = prepare_drawing(canvas_with(one), InputSpec(3, 64, (0.5,) * 3, (0.5,) * 3, "photo"))
    assert tuple(rgb.tensor.shape) == (1, 3, 64, 64)


def test_empty_canvas_says_draw_a_digit():
    with pytest.raises(EmptyCanvas, match="Draw a digit"):
        prepare_drawing(canvas_with(lambda d: None), SPEC)
    with pytest.raises(EmptyCanvas):
        prepare_drawing(canvas_with(lambda d: None, transparent=True), SPEC)
    assert issubclass(EmptyCanvas, ImageError)


def test_full_black_and_noise_get_an_input_and_a_warning():
    black = canvas_with(lambda d: d.rectangle([0, 0, 279, 279], fill=(0, 0, 0, 255)))
    noise = np.random.default_rng(0).integers(0, 256, (280, 280, 4), dtype=np.uint8)
    noise[:, :, 3] = 255
    confident = np.array([0.97] + [0.003] * 9)
    for canvas in (black, noise):
        ready = prepare_drawing(canvas, SPEC)
        assert ink_coverage(np.asarray(ready.view.convert("L")) / 255) > 0.45
        assert "does not look like a digit" in drawing_warning(ready.view, confident)
    digit = prepare_drawing(canvas_with(one), SPEC)
    assert drawing_warning(digit.view, confident) is None
    assert "Low confidence" in drawing_warning(digit.view, np.full(10, 0.1))


def test_bad_canvas_arrays_are_clear_errors():
    with pytest.raises(ImageError):
        canvas_ink(np.zeros((280, 280), np.uint8))
    with pytest.raises(ImageError):
        canvas_ink(np.zeros((4, 4, 4), np.uint8))
