"""A corpus of bad, odd and hostile uploads, generated on demand (nothing binary is committed).

    from tests.bad_inputs import write_corpus, valid_inputs, marker_path
    corpus = write_corpus(tmp_path)          # list[Upload], files written into tmp_path
    valid = valid_inputs(tmp_path)           # {"image": Upload, "checkpoint": ..., "json_arch": ..., ...}

Each entry says which kind of uploader it targets (``image`` / ``checkpoint`` / ``json``) and what
a page must do with it: ``accept`` (a valid but odd file: decode it and show it), ``refuse`` (one
clear message, never a traceback) or ``either`` (a legal file a page may show or politely refuse).
The two pickles would create ``marker_path(folder)`` if anything unpickled them without
``weights_only``: a test asserts that file never appears.

Run ``python -m tests.bad_inputs OUT_DIR`` to write the files for a manual try in the browser.
"""
from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE, CHECKPOINT, JSON = "image", "checkpoint", "json"
ACCEPT, REFUSE, EITHER = "accept", "refuse", "either"
MARKER_NAME = "PICKLE_CODE_RAN.marker"

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
        ".tif": "image/tiff", ".tiff": "image/tiff", ".webp": "image/webp", ".bmp": "image/bmp",
        ".json": "application/json", ".pt": "application/octet-stream", ".pth": "application/octet-stream"}


@dataclass(frozen=True)
class Upload:
    """One file of the corpus: what a browser would send, and what the page must do with it."""

    name: str                 # file name as uploaded (its extension passes the uploader's type filter)
    data: bytes
    mime: str
    targets: frozenset[str]   # uploader kinds it is meant for: image / checkpoint / json
    expect: str               # accept / refuse / either
    why: str                  # one line: what is odd about it

    def as_upload(self) -> tuple[str, bytes, str]:
        """The (name, bytes, mime) tuple AppTest's file_uploader.set_value takes."""
        return self.name, self.data, self.mime

    def __repr__(self) -> str:  # short ids in pytest output
        return f"Upload({self.name}, {len(self.data):,} B, {self.expect})"


def marker_path(folder: str | Path) -> Path:
    """The file the malicious pickles would create if they were ever executed."""
    return Path(folder) / MARKER_NAME


def _entry(name: str, data: bytes, targets: set[str], expect: str, why: str) -> Upload:
    return Upload(name, data, MIME[Path(name).suffix.lower()], frozenset(targets), expect, why)


# ------------------------------------------------------------------------------------------ images

def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _noise_rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    """Random colours: incompressible, so a cut file really loses pixel data."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def _digit_like(size: int = 64) -> Image.Image:
    """A dark '7'-ish stroke on white paper: a plausible photo of a handwritten digit."""
    image = Image.new("RGB", (size, size), (245, 245, 240))
    pixels = np.asarray(image).copy()
    s = size // 8
    pixels[2 * s:3 * s, 2 * s:6 * s] = (20, 20, 30)          # the top bar
    for row in range(3 * s, 7 * s):                           # the diagonal
        col = 6 * s - (row - 3 * s) // 2
        pixels[row, max(col - s // 2, 0):col + s // 2] = (20, 20, 30)
    return Image.fromarray(pixels, "RGB")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def blank_png(width: int, height: int, bit_depth: int = 1) -> bytes:
    """A black grayscale PNG written row by row, never holding the pixels in memory.

    At 1 bit per pixel, 20000 x 20000 (400 M pixels, 50 MB decoded) compresses to ~50 KB: a
    decompression bomb.
    """
    row_bytes = (width * bit_depth + 7) // 8
    row = b"\x00" * (row_bytes + 1)  # filter byte 0 + zero pixels
    packer = zlib.compressobj(9)
    parts, rows_per_chunk = [], max(1, 4_000_000 // len(row))
    for start in range(0, height, rows_per_chunk):
        parts.append(packer.compress(row * min(rows_per_chunk, height - start)))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((220, 30, 30), (30, 200, 30), (30, 30, 220))]
    for i, frame in enumerate(frames):
        frame.paste((255, 255, 255), (8 + 12 * i, 8, 28 + 12 * i, 56))
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)
    return buffer.getvalue()


def _gray16_png() -> bytes:
    ramp = np.linspace(0, 65535, 64 * 64, dtype=np.float64).reshape(64, 64).astype(np.uint16)
    return _encode(Image.fromarray(ramp), "PNG")  # uint16 -> mode I;16


def _cmyk(fmt: str) -> bytes:
    image = Image.new("CMYK", (64, 48), (0, 200, 200, 0))  # red in CMYK
    image.paste((255, 0, 0, 0), (16, 12, 48, 36))          # a cyan box
    return _encode(image, fmt)


def _palette_transparent_png() -> bytes:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    image.paste(1, (8, 8, 56, 56))
    image.paste(2, (24, 24, 40, 40))
    return _encode(image, "PNG", transparency=0)


def exif_rotated_jpeg() -> bytes:
    """An 80 x 40 (landscape) JPEG whose EXIF Orientation = 6 says: show it rotated, as 40 x 80."""
    image = _noise_rgb(80, 40, seed=3)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    return _encode(image, "JPEG", exif=exif.tobytes(), quality=90)


def _image_entries() -> list[Upload]:
    png = _encode(_noise_rgb(64, 64), "PNG")
    jpeg = _encode(_noise_rgb(64, 64, seed=1), "JPEG", quality=90)
    header_only = png[:8 + 25]  # signature + IHDR, no pixel data at all
    images = {IMAGE}
    return [
        _entry("truncated.png", png[: len(png) * 6 // 10], images, REFUSE, "a PNG cut at 60 % of its bytes"),
        _entry("truncated.jpg", jpeg[: len(jpeg) // 2], images, REFUSE, "a JPEG cut in half"),
        _entry("header_only.png", header_only, images, REFUSE, "a PNG signature and header, no pixel data"),
        _entry("empty.png", b"", images, REFUSE, "zero bytes"),
        _entry("not_an_image.png", b"Dear teacher, this is a text file, not a picture.\n" * 20, images, REFUSE,
               "text named .png"),
        _entry("bomb_20000x20000.png", blank_png(20_000, 20_000, 1), images, REFUSE,
               "decompression bomb: 1-bit 20000 x 20000 PNG (~50 KB file, 400 M pixels)"),
        _entry("huge_12000x12000.png", blank_png(12_000, 12_000, 8), images, REFUSE,
               "huge dimensions: 12000 x 12000 8-bit grayscale (144 M pixels)"),
        _entry("animated.gif", _animated_gif(), images, ACCEPT, "animated GIF, 3 frames (first frame is used)"),
        _entry("gray16.png", _gray16_png(), images, ACCEPT, "16-bit grayscale PNG"),
        _entry("cmyk.jpg", _cmyk("JPEG"), images, ACCEPT, "CMYK JPEG"),
        _entry("cmyk.tif", _cmyk("TIFF"), images, ACCEPT, "CMYK TIFF"),
        _entry("palette_transparent.png", _palette_transparent_png(), images, ACCEPT,
               "palette PNG with a transparent colour"),
        _entry("exif_rotated.jpg", exif_rotated_jpeg(), images, ACCEPT, "JPEG with EXIF Orientation = 6"),
        _entry("jpeg_named.png", jpeg, images, ACCEPT, "a valid JPEG with a .png name"),
        _entry("phone_photo_4000x3000.jpg", _encode(_digit_like(64).resize((4000, 3000)), "JPEG", quality=85),
               images, ACCEPT, "a 12-megapixel phone photo"),
        _entry("one_pixel.png", _encode(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), images, EITHER,
               "a 1 x 1 image"),
        _entry("strip_4000x2.png", _encode(_noise_rgb(4000, 2, seed=2), "PNG"), images, EITHER,
               "extreme aspect ratio: 4000 x 2"),
    ]


# ------------------------------------------------------------------------------------- checkpoints

class _RunsCodeWhenUnpickled:
    """Unpickling this calls open(marker, "w"), which creates the marker file (harmless proof of execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _lenet_checkpoint() -> bytes:
    import torch

    from cnn_core import TrainConfig
    from cnn_core.models import ModelOptions, build_model
    from cnn_core.training.checkpoints import checkpoint_bytes
    torch.manual_seed(0)
    config = TrainConfig(per_class=20, epochs=1)
    return checkpoint_bytes(build_model(config.model, ModelOptions()), config.model, ModelOptions(), config=config,
                            metrics={"test_accuracy": 0.1, "epochs": 0}, class_names=tuple(str(i) for i in range(10)),
                            input_shape=(1, 28, 28))


def _checkpoint_entries(folder: Path) -> list[Upload]:
    import torch

    from cnn_core.models import ModelOptions, build_model
    from cnn_core.training.checkpoints import checkpoint_bytes

    torch.manual_seed(0)
    mlp = build_model("mlp", ModelOptions())
    other = checkpoint_bytes(mlp, "mlp", ModelOptions(), class_names=tuple(str(i) for i in range(10)),
                             input_shape=(1, 28, 28))
    state_dict = io.BytesIO()
    torch.save(build_model("lenet5-modern", ModelOptions()).state_dict(), state_dict)
    evil_torch = io.BytesIO()
    torch.save({"meta_json": "{}", "state_dict": _RunsCodeWhenUnpickled(marker_path(folder))}, evil_torch)
    evil_pickle = pickle.dumps(_RunsCodeWhenUnpickled(marker_path(folder)), protocol=2)
    unknown = io.BytesIO()
    torch.save({"meta_json": json.dumps({"format": "cnn-playground-checkpoint", "version": 1,
                                         "model_name": "resnet-9000", "model_options": {}}),
                "state_dict": {}}, unknown)
    not_torch_zip = io.BytesIO()
    with zipfile.ZipFile(not_torch_zip, "w") as archive:
        archive.writestr("notes.txt", "a zip file, but not a PyTorch one")
    valid = _lenet_checkpoint()
    ckpt = {CHECKPOINT}
    return [
        _entry("empty.pt", b"", ckpt, REFUSE, "zero bytes"),
        _entry("truncated.pt", valid[: len(valid) // 2], ckpt, REFUSE, "a valid checkpoint cut in half"),
        _entry("not_a_checkpoint.pt", b"just some text\n" * 50, ckpt, REFUSE, "text named .pt"),
        _entry("image_named.pt", _encode(_digit_like(), "PNG"), ckpt, REFUSE, "a PNG named .pt"),
        _entry("zip_not_torch.pt", not_torch_zip.getvalue(), ckpt, REFUSE, "a zip archive that is not PyTorch's"),
        _entry("plain_state_dict.pt", state_dict.getvalue(), ckpt, REFUSE,
               "torch.save(model.state_dict()): weights without the playground's metadata"),
        _entry("unknown_model.pt", unknown.getvalue(), ckpt, REFUSE, "metadata names a model that does not exist"),
        _entry("other_model_mlp.pt", other, ckpt, EITHER,
               "a real CNN Playground checkpoint, but of the MLP (no convolutions)"),
        _entry("malicious_pickle.pt", evil_pickle, ckpt, REFUSE,
               "a raw pickle whose __reduce__ calls open(marker, 'w')"),
        _entry("malicious_torch.pt", evil_torch.getvalue(), ckpt, REFUSE,
               "a torch.save zip whose state_dict unpickles via open(marker, 'w')"),
    ]


# -------------------------------------------------------------------------------------------- JSON

def valid_settings_json(runs: tuple[str, ...] = ("sgd", "adam", "rmsprop")) -> str:
    """Exported optimizer-comparison settings (Optimizers page), one run per optimizer name."""
    from cnn_core import TrainConfig
    from cnn_core.experiments.sharing import ComparisonSettings, labelled, settings_to_json
    from cnn_core.training.optimizers import OPTIMIZERS, configure

    return settings_to_json(ComparisonSettings(labelled({OPTIMIZERS[n].label: configure(n) for n in runs}),
                                               base=TrainConfig(per_class=50, epochs=1)))


def valid_architecture_json() -> str:
    """A small design (4 layers, not LeNet-5) for the Architecture page's loader."""
    return json.dumps({"input_shape": [1, 28, 28], "layers": [
        {"kind": "conv", "out_channels": 4, "kernel_size": 3},
        {"kind": "activation", "name": "relu"},
        {"kind": "flatten"},
        {"kind": "linear", "out_features": 10}]})


def _json_entries() -> list[Upload]:
    settings = json.loads(valid_settings_json(("sgd", "adam")))
    wrong_types = json.loads(json.dumps(settings))
    wrong_types["runs"][0]["lr"] = "fast"
    wrong_types["train"]["epochs"] = "two"
    nan_lr = json.loads(json.dumps(settings))
    nan_lr["runs"][1]["lr"] = float("nan")
    surface_list = json.loads(json.dumps(settings))
    surface_list["surface"] = {"function": ["rosenbrock"]}
    js = {JSON}
    return [
        _entry("empty.json", b"", js, REFUSE, "zero bytes"),
        _entry("malformed.json", b'{"input_shape": [1, 28, 28], "layers": [{"kind": "conv", ', js, REFUSE,
               "JSON cut in the middle"),
        _entry("not_utf8.json", b"\xff\xfe{\x00\"\x00a\x00", js, REFUSE, "UTF-16 bytes, not UTF-8"),
        _entry("json_list.json", b"[1, 2, 3]", js, REFUSE, "valid JSON, but a list"),
        _entry("deep_nesting.json", b"[" * 100_000 + b"]" * 100_000, js, REFUSE,
               "100000 nested lists (blows Python's recursion limit in json.loads)"),
        _entry("arch_wrong_types.json", json.dumps({"input_shape": [1, 28, 28], "layers": [
            {"kind": "conv", "out_channels": "six", "kernel_size": [5]}]}).encode(), js, REFUSE,
               "architecture with strings/lists where integers belong"),
        _entry("arch_kind_is_list.json", json.dumps({"input_shape": [1, 28, 28], "layers": [
            {"kind": ["conv"]}]}).encode(), js, REFUSE, "architecture whose layer kind is a list"),
        _entry("arch_huge_numbers.json", json.dumps({"input_shape": [1, 28, 28], "layers": [
            {"kind": "conv", "out_channels": 10 ** 30, "kernel_size": 3}]}).encode(), js, REFUSE,
               "architecture with out_channels = 10**30"),
        _entry("settings_wrong_types.json", json.dumps(wrong_types).encode(), js, REFUSE,
               "optimizer settings with lr = 'fast' and epochs = 'two'"),
        _entry("settings_nan_lr.json", json.dumps(nan_lr).encode(), js, REFUSE, "optimizer settings with lr = NaN"),
        _entry("settings_surface_is_list.json", json.dumps(surface_list).encode(), js, REFUSE,
               "optimizer settings whose surface function is a list"),
    ]


# ---------------------------------------------------------------------------------------- public

def build_corpus(folder: str | Path) -> list[Upload]:
    """Every bad/odd upload (the pickles point their marker into `folder`); nothing is written."""
    return _image_entries() + _checkpoint_entries(Path(folder)) + _json_entries()


def write_corpus(folder: str | Path) -> list[Upload]:
    """Write every corpus file into `folder` (created if needed) and return the entries."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(folder)
    names = [u.name for u in corpus]
    assert len(names) == len(set(names)), "corpus file names must be unique"
    for upload in corpus:
        (folder / upload.name).write_bytes(upload.data)
    return corpus


def valid_inputs(folder: str | Path | None = None) -> dict[str, Upload]:
    """One good file per uploader kind, to check that the upload after a bad one works."""
    good = {
        "image": _entry("valid_digit.png", _encode(_digit_like(64), "PNG"), {IMAGE}, ACCEPT, "a clean 64x64 RGB PNG"),
        "checkpoint": _entry("valid_lenet5.pt", _lenet_checkpoint(), {CHECKPOINT}, ACCEPT,
                             "a LeNet-5 CNN Playground checkpoint"),
        "json_arch": _entry("valid_architecture.json", valid_architecture_json().encode(), {JSON}, ACCEPT,
                            "a 4-layer design"),
        "json_settings": _entry("valid_settings.json", valid_settings_json().encode(), {JSON}, ACCEPT,
                                "3 optimizer runs"),
    }
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for upload in good.values():
            (Path(folder) / upload.name).write_bytes(upload.data)
    return good


def for_kind(corpus: list[Upload], kind: str) -> list[Upload]:
    """The entries meant for one uploader kind."""
    return [u for u in corpus if kind in u.targets]


def interleaved(files: list[Upload]) -> list[Upload]:
    """Refused/either files alternate with accepted ones, so each accepted file also proves that the
    upload after a refusal works (fewer reruns than a valid upload after every bad one)."""
    bad = [u for u in files if u.expect != ACCEPT]
    good = [u for u in files if u.expect == ACCEPT]
    out: list[Upload] = []
    for i in range(max(len(bad), len(good))):
        out += bad[i:i + 1] + good[i:i + 1]
    return out
