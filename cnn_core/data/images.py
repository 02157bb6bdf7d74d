"""Decode user images safely: clear errors for corrupt, fake, huge or odd files."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnn_core.errors import ImageError

MAX_IMAGE_PIXELS = 40_000_000   # about 6300 x 6300; Pillow's bomb guard trips above this
MAX_IMAGE_BYTES = 25 * 2**20    # 25 MiB upload limit for images
SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF", "MPO")


def load_image(data: bytes, name: str = "image") -> Image.Image:
    """Decode image bytes into an RGB PIL image (EXIF rotation applied, first frame of animations).

    Raises ImageError with a message for: empty files, non-images (e.g. text named .png),
    truncated or corrupt files, unsupported formats, and images above MAX_IMAGE_PIXELS
    (decompression bombs). 16-bit, CMYK, palette and transparent images are converted to RGB
    (transparency composited on white).
    """
    if not data:
        raise ImageError(f"{name} is empty (0 bytes).")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"{name} is {len(data) / 2**20:.1f} MiB; images up to {MAX_IMAGE_BYTES // 2**20} MiB "
                         "are accepted.")
    try:
        # open() reads only the header, so the pixel count is checked before any pixel is decoded.
        # (No change to Image.MAX_IMAGE_PIXELS: it is global state shared by every session.)
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise Image.DecompressionBombError("too many pixels")
        if image.format not in SUPPORTED_FORMATS:
            raise ImageError(f"{name}: {image.format} images are not supported; use PNG, JPEG, WebP, BMP, "
                             "GIF or TIFF.")
        image.seek(0)  # first frame of an animated GIF / WebP
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name} is too large: more than {MAX_IMAGE_PIXELS:,} pixels (the limit that guards "
                         "against decompression bombs). Resize it and upload again.") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{name} is not an image this app can read (is it really a PNG/JPEG?).") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name} is damaged or truncated and cannot be decoded ({exc}).") from exc
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode (16-bit, CMYK, P, LA, RGBA, ...) to 8-bit RGB, EXIF orientation applied."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() or 1.0
        image = Image.fromarray((array / top * 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")
