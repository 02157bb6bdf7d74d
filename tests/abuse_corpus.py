"""Hostile inputs a careless or malicious student can send, each with the cnn_core call a page makes with it.

Used by tests/test_abuse_inputs.py (every input must end in a PlaygroundError, nothing else) and
by benchmarks/abuse.py (outcome and peak extra memory per input, each in a child process).

A case is built in two steps: ``make()`` creates the input (the bytes a browser would upload, a
config a widget combination gives), ``act(input)`` is what cnn_core does with it. Only ``act`` is
measured. Every input here must be refused: none of them is legitimate.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from cnn_core import LayerSpec, ModelOptions, TrainConfig, build_model, checkpoint_bytes
from cnn_core.data.images import load_image
from cnn_core.experiments.compare import make_runs
from cnn_core.experiments.init_stats import InitStatsConfig, init_statistics
from cnn_core.experiments.sanity import gradient_norms_check
from cnn_core.experiments.sharing import FORMAT as SETTINGS_FORMAT, settings_from_json
from cnn_core.experiments.tuning import run_trials
from cnn_core.inspect.feature_maps import analyze
from cnn_core.models import build_from_specs, specs_from_json
from cnn_core.serialization import loads
from cnn_core.training.checkpoints import FORMAT, load_checkpoint
from cnn_core.training.loop import TrainingRun


@dataclass(frozen=True)
class Case:
    """One hostile input: where it comes from, how to make it, what cnn_core does with it."""

    name: str
    group: str                      # checkpoint / json / design / run / image
    make: Callable[[], Any]
    act: Callable[[Any], Any]
    why: str = ""


# ---------------------------------------------------------------- crafted checkpoints

def _lenet_meta(**changes: Any) -> dict[str, Any]:
    meta = {"format": FORMAT, "version": 1, "model_name": "lenet5-modern",
            "model_options": {"in_channels": 1, "image_size": 28, "num_classes": 10}, "config": {},
            "metrics": {}, "class_names": [str(i) for i in range(10)], "input_shape": [1, 28, 28]}
    meta.update(changes)
    return meta


def _saved(payload: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def crafted(meta: Any = None, state_dict: Any = None, meta_json: Any = None) -> bytes:
    """A checkpoint file with this metadata (or raw meta_json) and state dict (default: a tiny real LeNet-5)."""
    if state_dict is None:
        state_dict = build_model("lenet5-modern").state_dict()
    text = meta_json if meta_json is not None else json.dumps(meta if meta is not None else _lenet_meta())
    return _saved({"meta_json": text, "state_dict": state_dict})


def _stride_zero_plain_cnn() -> bytes:
    """A 28.9 M-parameter plain CNN whose every tensor is one stored value broadcast with stride 0 (a few KB)."""
    options = {"in_channels": 1, "image_size": 28, "num_classes": 10, "depth": 12, "width": 512}
    with torch.device("meta"):
        model = build_model("plain-cnn", ModelOptions(depth=12, width=512))
    state = {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in model.state_dict().items()}
    return crafted(_lenet_meta(model_name="plain-cnn", model_options=options, class_names=[]), state)


def _overlapping_lenet() -> bytes:
    state = {k: torch.zeros(sum(n - 1 for n in v.shape) + 1, dtype=v.dtype).as_strided(v.shape, [1] * v.ndim)
             if v.ndim > 1 else v for k, v in build_model("lenet5-modern").state_dict().items()}
    return crafted(state_dict=state)


def _oversized_storage_lenet() -> bytes:
    big = torch.zeros(4_000_000)  # 16 MB of storage behind a 6-value view
    state = build_model("lenet5-modern").state_dict()
    first = next(k for k, v in state.items() if v.dtype == torch.float32)
    state[first] = big[: state[first].numel()].view(state[first].shape)
    return crafted(state_dict=state)


def _float64_lenet() -> bytes:
    return crafted(state_dict={k: v.double() if v.is_floating_point() else v
                               for k, v in build_model("lenet5-modern").state_dict().items()})


BOMB_MIB = 1024  # the zip bomb's inflated size (the test uses a smaller one: same check, less CPU)


def zip_bomb(megabytes: int | None = None) -> bytes:
    """A real LeNet-5 checkpoint re-zipped with deflate plus one member of `megabytes` MiB of zeros (~1 MB/GiB)."""
    good = checkpoint_bytes(build_model("lenet5-modern"), "lenet5-modern", ModelOptions())
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        prefix = source.namelist()[0].split("/")[0]
        for info in source.infolist():
            bomb.writestr(info.filename, source.read(info))
        with bomb.open(f"{prefix}/data/999", "w", force_zip64=True) as member:
            chunk = bytes(2**20)
            for _ in range(BOMB_MIB if megabytes is None else megabytes):
                member.write(chunk)
    return out.getvalue()


class _Reduce:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def _deep_json(depth: int = 20_000) -> str:
    return "[" * depth + "]" * depth


CHECKPOINTS: list[tuple[str, Callable[[], bytes], str]] = [
    ("num_classes 2e8", lambda: crafted(_lenet_meta(
        model_options={"in_channels": 1, "image_size": 28, "num_classes": 200_000_000}, class_names=[])),
     "a 1.6 KB file whose metadata asks for a 200-million-way output layer"),
    ("plain CNN 50 x 1024", lambda: crafted(_lenet_meta(model_name="plain-cnn", class_names=[], model_options={
        "in_channels": 1, "image_size": 28, "num_classes": 10, "depth": 50, "width": 1024})),
     "metadata of a 472 M-parameter network"),
    ("12,000 px input", lambda: crafted(_lenet_meta(model_name="mlp", model_options={
        "in_channels": 3, "image_size": 12_000, "num_classes": 10}, input_shape=[3, 12_000, 12_000])),
     "an MLP for 12,000 x 12,000 images"),
    ("custom 10,000 layers", lambda: crafted(_lenet_meta(model_name="custom", model_options={
        "in_channels": 1, "image_size": 28, "num_classes": 10, "layers": [{"kind": "activation"}] * 10_000})),
     "a custom design of 10,000 layers"),
    ("custom 100 layers", lambda: crafted(_lenet_meta(model_name="custom", model_options={
        "in_channels": 1, "image_size": 28, "num_classes": 10, "layers": [{"kind": "activation"}] * 100})),
     "a custom design over the layer limit"),
    ("stride-0 tensors", _stride_zero_plain_cnn, "a few KB that decode to 28.9 M parameters"),
    ("overlapping strides", _overlapping_lenet, "tensors whose elements share storage"),
    ("oversized storage", _oversized_storage_lenet, "a 6-value tensor backed by 16 MB"),
    ("float64 weights", _float64_lenet, "weights of another number type"),
    ("zip bomb 1 GiB", zip_bomb, "a ~1 MB archive that inflates to 1 GiB"),
    ("model_options is a list", lambda: crafted(_lenet_meta(model_options=[1, 28, 10])), "wrong metadata type"),
    ("model_options is a string", lambda: crafted(_lenet_meta(model_options="big")), "wrong metadata type"),
    ("class_names is an int", lambda: crafted(_lenet_meta(class_names=10)), "wrong metadata type"),
    ("config is a list", lambda: crafted(_lenet_meta(config=[1, 2])), "wrong metadata type"),
    ("config with 10**400 epochs", lambda: crafted(meta_json=json.dumps(_lenet_meta()).replace(
        '"config": {}', '"config": {"epochs": 1' + "0" * 400 + "}")), "a 401-digit integer"),
    ("metrics is a string", lambda: crafted(_lenet_meta(metrics="fast")), "wrong metadata type"),
    ("input_shape is text", lambda: crafted(_lenet_meta(input_shape="1x28x28")), "wrong metadata type"),
    ("20,000-deep metadata", lambda: crafted(meta_json=_deep_json()), "JSON nested 20,000 levels"),
    ("meta_json is a number", lambda: crafted(meta_json=12), "metadata that is not text"),
    ("5,000-digit num_classes", lambda: crafted(meta_json=json.dumps(_lenet_meta()).replace(
        '"num_classes": 10', '"num_classes": ' + "9" * 5000)), "an integer Python will not even print"),
    ("1e400 dropout", lambda: crafted(meta_json=json.dumps(_lenet_meta()).replace(
        '"num_classes": 10', '"num_classes": 10, "dropout": 1e400')), "a float out of range"),
    ("50 MB model name", lambda: crafted(_lenet_meta(model_name="x" * 50_000_000)), "a 50 MB text in the metadata"),
    ("pickle that runs code", lambda: _saved({"meta_json": "{}", "state_dict": {}, "x": _Reduce()}),
     "a pickle with a __reduce__"),
    ("text named .pt", lambda: b"this is a text file named model.pt", "not a checkpoint"),
    ("empty file", lambda: b"", "0 bytes"),
    ("truncated checkpoint", lambda: checkpoint_bytes(build_model("lenet5-modern"), "lenet5-modern",
                                                      ModelOptions())[:30_000], "half a file"),
    ("plain state dict", lambda: _saved(build_model("lenet5-modern").state_dict()), "no metadata"),
]


# ---------------------------------------------------------------- JSON settings (Optimizers import)

def settings(**train: Any) -> dict[str, Any]:
    """Optimizer-comparison settings with these train fields (6 Adam runs)."""
    return {"format": SETTINGS_FORMAT, "version": 1,
            "runs": [{"label": f"run {i}", "optimizer": "adam", "lr": 0.001} for i in range(6)],
            "train": {"dataset": "mnist-5k", **train}}


def _settings_text(**train: Any) -> str:
    return json.dumps(settings(**train))


JSONS: list[tuple[str, Callable[[], str | bytes], str]] = [
    ("6 runs of a 50 x 1024 plain CNN", lambda: _settings_text(model="plain-cnn", model_options={
        "depth": 50, "width": 1024}), "6 x 1.9 GB models before a slot"),
    ("5,000-digit epochs", lambda: _settings_text().replace('"dataset"', '"epochs": ' + "7" * 5000 + ', "dataset"'),
     "a huge integer"),
    ("10**400 learning rate", lambda: _settings_text().replace('"lr": 0.001', '"lr": 1' + "0" * 400, 1),
     "an integer out of float range in a float field"),
    ("1e400 learning rate", lambda: _settings_text().replace('"lr": 0.001', '"lr": 1e400', 1), "float overflow"),
    ("NaN learning rate", lambda: _settings_text().replace('"lr": 0.001', '"lr": NaN', 1), "not a number"),
    ("50 MB label", lambda: _settings_text().replace('"run 0"', '"' + "y" * 50_000_000 + '"'), "a 50 MB string"),
    ("20,000-deep JSON", lambda: _deep_json(), "nested 20,000 levels"),
    ("300 KB of padding", lambda: _settings_text() + " " * 300_000, "over the size limit"),
    ("binary bytes", lambda: b"\xff\xfe\x00garbage", "not UTF-8"),
    ("200 epochs of a wide net", lambda: _settings_text(epochs=200, model="plain-cnn", model_options={
        "depth": 10, "width": 128}), "hours of training"),
]

TRAIN_CONFIG_JSONS: list[tuple[str, Callable[[], str], str]] = [
    ("TrainConfig 5,000-digit seed", lambda: '{"seed": ' + "1" * 5000 + "}", "a huge integer"),
    ("TrainConfig 10**400 loss limit", lambda: '{"divergence_loss": 1' + "0" * 400 + "}", "float overflow"),
    ("TrainConfig 5 MB model name", lambda: json.dumps({"model": "m" * 5_000_000}), "a huge string"),
]


# ---------------------------------------------------------------- builder designs

def _conv(channels: int, **more: Any) -> LayerSpec:
    return LayerSpec.of("conv", out_channels=channels, kernel_size=3, padding=1, **more)


DESIGNS: list[tuple[str, Callable[[], tuple], str]] = [
    ("10,000 activation layers", lambda: ((LayerSpec.of("activation"),) * 10_000, (1, 28, 28)),
     "10-21 s per rerun before"),
    ("3 x conv 1024 at 256 px", lambda: ((_conv(1024),) * 3 + (LayerSpec.of("flatten"),
                                          LayerSpec.of("linear", out_features=10)), (3, 256, 256)),
     "1.2e12 multiply-adds per image"),
    ("linear 1M -> 8192", lambda: ((_conv(16), LayerSpec.of("flatten"), LayerSpec.of("linear", out_features=8192)),
                                   (3, 256, 256)), "8.6 G weights"),
    ("huge prefix before a bad layer", lambda: ((_conv(1024), _conv(1024), LayerSpec.of("linear", out_features=10)),
                                                (16, 256, 256)), "the prefix used to run for real"),
]

DESIGN_JSONS: list[tuple[str, Callable[[], str], str]] = [
    ("design with a 5,000-digit channel count", lambda: json.dumps({"input_shape": [1, 28, 28], "layers": [
        {"kind": "conv", "out_channels": 1}]}).replace('"out_channels": 1', '"out_channels": ' + "9" * 5000),
     "int parsing beyond Python's 4,300-digit limit"),
    ("design 20,000 deep", lambda: '{"input_shape": [1, 28, 28], "layers": ' + _deep_json() + "}", "deep JSON"),
]


# ---------------------------------------------------------------- runs at widget maxima and beyond

def _wide(depth: int, width: int, **more: Any) -> TrainConfig:
    return TrainConfig(model="plain-cnn", model_options=ModelOptions(depth=depth, width=width), **more)


def _big_conv_model() -> tuple[nn.Module, torch.Tensor]:
    model = nn.Sequential(nn.Conv2d(1, 1024, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(1024, 10)).eval()
    return model, torch.zeros(1, 1, 2000, 2000)  # 16 MB image, 16 GB of feature maps


RUNS: list[tuple[str, Callable[[], Any], Callable[[Any], Any], str]] = [
    ("train 50 x 1024 at batch 512", lambda: _wide(50, 1024, batch_size=512), TrainingRun, ">= 7.9 GB per batch"),
    ("train 200 epochs of 10 x 128", lambda: _wide(10, 128, epochs=200), TrainingRun, "~94 h holding a slot"),
    ("compare 6 x 10 x 256", lambda: {f"r{i}": _wide(10, 256, seed=i) for i in range(6)}, make_runs,
     "memory adds up over runs"),
    ("search 32 trials x 10 epochs", lambda: [_wide(8, 64, epochs=10, seed=i) for i in range(32)],
     lambda configs: next(iter(run_trials(configs))), "times add up over trials"),
    ("init stats at the page's maxima", lambda: InitStatsConfig(model="plain-cnn", depth=30, width=256,
                                                                batch_size=512), init_statistics,
     "~33 GB per scheme"),
    ("init stats 50 x 1024 at batch 2048", lambda: InitStatsConfig(model="plain-cnn", depth=50, width=1024,
                                                                   batch_size=2048), init_statistics,
     "beyond any widget"),
    ("gradient check of 50 x 1024", lambda: _wide(50, 1024), lambda c: gradient_norms_check(c, batch_size=512),
     "a sanity check at full width"),
    ("analysis of a 2000 px image", _big_conv_model, lambda mx: analyze(*mx), "16 GB of feature maps"),
]


# ---------------------------------------------------------------- images

def _png_bomb() -> bytes:
    """A valid PNG header that claims 60,000 x 60,000 pixels (3.6 G) with a few bytes of data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")


IMAGES: list[tuple[str, Callable[[], bytes], str]] = [
    ("PNG claiming 3.6 G pixels", _png_bomb, "a decompression bomb"),
    ("30 MB of noise named .png", lambda: bytes(30 * 2**20), "over the image size limit"),
    ("text named .png", lambda: b"hello, not an image", "not an image"),
]


def all_cases() -> list[Case]:
    """Every hostile input with the cnn_core call a page makes with it."""
    cases = [Case(f"checkpoint: {n}", "checkpoint", m, load_checkpoint, w) for n, m, w in CHECKPOINTS]
    cases += [Case(f"settings JSON: {n}", "json", m, settings_from_json, w) for n, m, w in JSONS]
    cases += [Case(f"config JSON: {n}", "json", m, lambda text: loads(TrainConfig, text), w)
              for n, m, w in TRAIN_CONFIG_JSONS]
    cases += [Case(f"design: {n}", "design", m, lambda specs_shape: build_from_specs(*specs_shape), w)
              for n, m, w in DESIGNS]
    cases += [Case(f"design JSON: {n}", "design", m, specs_from_json, w) for n, m, w in DESIGN_JSONS]
    cases += [Case(f"run: {n}", "run", m, a, w) for n, m, a, w in RUNS]
    cases += [Case(f"image: {n}", "image", m, load_image, w) for n, m, w in IMAGES]
    return cases
