"""Preprocessing steps (resize, crop, grayscale, normalize) and the MNIST-style digit conversion."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from cnn_core.data.preprocess import InputSpec, mnist_style, prepare, tensor_image
from cnn_core.data.samples import SAMPLE_PHOTOS, dataset_digit, sample_photo
from cnn_core.errors import ImageError
from cnn_core.training.zoo import IMAGENET_MEAN, IMAGENET_STD, LITE_MEAN, LITE_STD

LITE = InputSpec(3, 224, LITE_MEAN, LITE_STD, "photo", resize=256)
MNIST_STATS = ((0.1307,), (0.3081,))
DIGITS = InputSpec(1, 28, *MNIST_STATS, "digit")


def digit_photo(text: str = "7", size: tuple[int, int] = (300, 400), paper=(235, 230, 220), ink=(30, 30, 40),
                offset: tuple[int, int] = (0, 0)) -> Image.Image:
    """A photo-like digit: dark strokes on light paper, off-center."""
    image = Image.new("RGB", size, paper)
    font = ImageFont.load_default(size=180)
    ImageDraw.Draw(image).text((size[0] // 2 + offset[0], size[1] // 2 + offset[1]), text, fill=ink, font=font,
                               anchor="mm")
    return image


def test_photo_steps_and_lite_normalization():
    image = sample_photo("china")  # 640 x 427
    prepared = prepare(image, LITE)
    assert [s.title for s in prepared.steps] == ["Original", "Resized", "Center crop", "Normalized"]
    assert prepared.steps[1].image.size == (384, 256)  # shorter side 256, aspect kept
    assert prepared.view.size == (224, 224)
    assert prepared.tensor.shape == (1, 3, 224, 224)
    crop = np.asarray(prepared.view, dtype=np.float32)  # what the network sees, 0..255
    expected = (crop * 1.0 - 127.0) / 128.0  # EfficientNet-Lite: (x*255 - 127) / 128 with x in [0, 1]
    assert torch.allclose(prepared.tensor[0].permute(1, 2, 0), torch.from_numpy(expected), atol=1e-5)


def test_photo_with_imagenet_statistics_and_grayscale_model():
    image = Image.new("RGB", (300, 200), (128, 64, 32))
    spec = InputSpec(3, 224, IMAGENET_MEAN, IMAGENET_STD, "photo", resize=256)
    tensor = prepare(image, spec).tensor
    for c, value in enumerate((128, 64, 32)):
        assert tensor[0, c].mean().item() == pytest.approx((value / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c],
                                                           abs=1e-4)
    gray = prepare(image, InputSpec(1, 64, (0.5,), (0.5,), "photo"))
    assert gray.tensor.shape == (1, 1, 64, 64)
    assert "Grayscale" in [s.title for s in gray.steps]


def test_a_long_strip_is_cut_before_resizing():
    strip = Image.new("RGB", (20_000, 10), (255, 0, 0))  # 200,000 pixels: allowed, but 10 -> 256 is 26x
    prepared = prepare(strip, LITE)
    assert prepared.steps[1].image.size == (2048, 256), "only the central 8:1 part is resized"
    assert prepared.tensor.shape == (1, 3, 224, 224)


def test_plain_style_resizes_without_crop():
    spec = InputSpec(3, 32, (0.5,) * 3, (0.25,) * 3, "plain")
    prepared = prepare(Image.new("RGB", (100, 50), (255, 255, 255)), spec)
    assert prepared.tensor.shape == (1, 3, 32, 32)
    assert torch.allclose(prepared.tensor, torch.full((1, 3, 32, 32), 2.0))  # (1 - 0.5) / 0.25


def test_mnist_style_conversion_of_a_dark_digit_on_light_paper():
    steps, pixels = mnist_style(digit_photo("7", offset=(60, -80)))
    titles = [s.title for s in steps]
    assert titles == ["Original", "Grayscale", "Inverted", "Cropped to the ink", "Scaled to 20 x 20",
                      "Centered in 28 x 28"]
    assert pixels.shape == (28, 28) and pixels.dtype == np.float32
    assert pixels.max() == pytest.approx(1.0) and pixels.min() == 0.0
    assert np.all(pixels[[0, -1], :] == 0) and np.all(pixels[:, [0, -1]] == 0), "black border like MNIST"
    rows, cols = np.nonzero(pixels > 0)
    assert max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == 20, "longest side scaled to 20 px"
    total = pixels.sum()
    com = ((pixels.sum(axis=1) * np.arange(28)).sum() / total, (pixels.sum(axis=0) * np.arange(28)).sum() / total)
    assert abs(com[0] - 13.5) <= 1.0 and abs(com[1] - 13.5) <= 1.0, f"center of mass {com} is centered"


def test_mnist_style_keeps_a_light_digit_on_dark_background():
    steps, pixels = mnist_style(digit_photo("3", paper=(10, 10, 10), ink=(240, 240, 240)))
    assert "Inverted" not in [s.title for s in steps]
    assert pixels.max() == pytest.approx(1.0)


def test_blank_image_has_no_digit():
    with pytest.raises(ImageError, match="No digit found"):
        mnist_style(Image.new("RGB", (50, 50), (200, 200, 200)))


def test_dataset_digit_round_trips_to_the_dataset_tensor():
    from cnn_core.data import load_dataset

    data = load_dataset("mnist-5k")
    image, label = dataset_digit(3)
    assert image.size == (28, 28) and label == int(data.test_y[3])
    spec = InputSpec(1, 28, tuple(data.mean), tuple(data.std), "digit")
    prepared = prepare(image, spec, already_mnist=True)
    assert [s.title for s in prepared.steps] == ["Original", "Normalized"]
    # uint8 rounding is the only difference: half a grey level, divided by the std
    assert torch.allclose(prepared.tensor[0], data.test_x[3], atol=0.5 / 255 / float(data.std[0]) + 1e-5)
    with pytest.raises(ImageError):
        dataset_digit(10_000)


def test_digit_model_converts_an_uploaded_photo():
    prepared = prepare(digit_photo("5"), DIGITS)
    assert prepared.tensor.shape == (1, 1, 28, 28)
    assert prepared.view.size == (28, 28)
    # black background -> (0 - mean) / std everywhere outside the digit
    assert prepared.tensor[0, 0, 0, 0].item() == pytest.approx(-0.1307 / 0.3081, abs=1e-5)


@pytest.mark.parametrize("key", list(SAMPLE_PHOTOS))
def test_sample_photos_ship_with_installed_packages(key):
    image = sample_photo(key)
    assert image.mode == "RGB" and min(image.size) >= 200


def test_tensor_image_scales_to_full_range():
    image = tensor_image(torch.tensor([[[-2.0, 0.0], [1.0, 2.0]]]))
    assert image.mode == "L" and np.asarray(image).tolist() == [[0, 128], [191, 255]]
