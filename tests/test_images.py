"""Image decoding: every supported format loads as RGB, every bad input ends in one clear ImageError.

The bad files are generated here: truncated PNG/JPEG, text named .png, zero bytes, a 20,000 x
20,000 PNG (a valid 1-bit PNG, built chunk by chunk: it compresses to a few kB), 16-bit grayscale,
CMYK JPEG/TIFF, a palette PNG with transparency and an EXIF-rotated JPEG.
"""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cnn_core.data.images import MAX_IMAGE_PIXELS, load_image, to_rgb
from cnn_core.errors import ImageError, PlaygroundError


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid all-black 1-bit PNG of width x height pixels (each row: filter byte 0 + packed bits)."""
    row = b"\x00" + bytes((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, grayscale
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))


# ------------------------------------------------------------------ bad input: one clear message each

def test_bad_inputs_each_raise_a_clear_image_error(photo):
    cases = {
        "truncated.png": (encode(photo, "PNG")[:200], "damaged or truncated"),
        "truncated.jpg": (encode(photo, "JPEG")[:300], "damaged or truncated"),
        "notes.png": (b"this is a text file, not a picture\n" * 20, "not an image"),
        "empty.png": (b"", "empty (0 bytes)"),
        "huge.png": (huge_png(), f"{MAX_IMAGE_PIXELS:,} pixels"),
    }
    for name, (data, expected) in cases.items():
        with pytest.raises(ImageError) as info:
            load_image(data, name)
        message = str(info.value)
        assert expected in message, (name, message)
        assert name in message, "the message names the file"
        assert isinstance(info.value, PlaygroundError), "pages show PlaygroundErrors as messages"


def test_huge_png_really_is_20000_square_and_small():
    data = huge_png()
    assert len(data) < 100_000  # it is the pixel count, not the file size, that must be refused
    assert struct.unpack(">II", data[16:24]) == (20_000, 20_000)  # the IHDR chunk's width and height
    with pytest.raises(Image.DecompressionBombError):  # Pillow itself sees a real 400-megapixel PNG
        Image.open(io.BytesIO(data))


def test_loader_recovers_after_a_bad_file(photo):
    with pytest.raises(ImageError):
        load_image(b"\x89PNG\r\n\x1a\n garbage", "bad.png")
    assert load_image(encode(photo, "PNG"), "good.png").size == (64, 48)


# ------------------------------------------------------------------ odd but valid images are converted

def test_16bit_grayscale_keeps_its_gradient():
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (8, 1))  # 8 x 256, 16 bits
    image = Image.fromarray(ramp)
    assert image.mode.startswith("I;16")
    rgb = load_image(encode(image, "PNG"), "ramp16.png")
    pixels = np.asarray(rgb)
    assert rgb.mode == "RGB" and rgb.size == (256, 8)
    assert pixels[0, 0].tolist() == [0, 0, 0] and pixels[0, -1].tolist() == [255, 255, 255]
    assert np.all(np.diff(pixels[0, :, 0].astype(int)) >= 0), "monotone ramp, not clipped to white"
    assert len(np.unique(pixels[0, :, 0])) > 200


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_images_become_rgb_with_their_colours(fmt):
    red = Image.new("RGB", (32, 16), (220, 30, 30))
    rgb = load_image(encode(red.convert("CMYK"), fmt), f"cmyk.{fmt.lower()}")
    assert rgb.mode == "RGB" and rgb.size == (32, 16)
    r, g, b = np.asarray(rgb)[8, 16].tolist()
    assert r > 180 and g < 80 and b < 80, (r, g, b)


def test_palette_transparency_is_composited_on_white():
    image = Image.new("P", (20, 10), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 red (transparent), 1 blue
    image.paste(1, (0, 0, 10, 10))
    rgb = load_image(encode(image, "PNG", transparency=0), "palette.png")
    pixels = np.asarray(rgb)
    assert pixels[5, 2].tolist() == [0, 0, 255]       # opaque blue stays
    assert pixels[5, 15].tolist() == [255, 255, 255]  # transparent red becomes white, not red or black


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rgb = load_image(encode(image, "JPEG", exif=exif, quality=95), "phone.jpg")
    assert rgb.size == (20, 40), "portrait after applying the orientation"
    top, bottom = np.asarray(rgb)[2, 10], np.asarray(rgb)[37, 10]
    assert top[0] > 200 and top[2] < 60, "the left (red) half is on top after a clockwise turn"
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF"])
def test_supported_formats_load(photo, fmt):
    rgb = load_image(encode(photo, fmt), f"photo.{fmt.lower()}")
    assert rgb.mode == "RGB" and rgb.size == (64, 48)


def test_gif_first_frame_is_used():
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rgb = load_image(data, "anim.gif")
    r, _, b = np.asarray(rgb)[8, 8].tolist()
    assert r > 200 and b < 50


def test_to_rgb_handles_rgba_and_la():
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(to_rgb(rgba))[0, 0].tolist() == [255, 255, 255]
    la = Image.new("LA", (4, 4), (0, 255))
    assert np.asarray(to_rgb(la))[0, 0].tolist() == [0, 0, 0]
