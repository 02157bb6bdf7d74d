"""Save and load models with their config and metrics; loading never runs pickled code.

An uploaded checkpoint is untrusted, so it is checked before it costs anything: the archive's
member sizes before anything is decompressed, the metadata's types and bounds by the same
validators as the configs (and the model against the run budget, priced on the meta device),
every tensor's strides and storage, and every shape against the meta-device model, before the
weights are assigned to it (no second copy, no random initialization).
"""
from __future__ import annotations

import io
import json
import logging
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnn_core.errors import BudgetExceeded, CheckpointError, PlaygroundError, short, short_repr
from cnn_core.models import MODELS, ModelOptions
from cnn_core.models.registry import meta_model
from cnn_core.serialization import MAX_JSON_BYTES, from_jsonable, parse_json, to_jsonable
from cnn_core.training.budget import check_model, max_checkpoint_bytes

log = logging.getLogger(__name__)

FORMAT = "cnn-playground-checkpoint"
VERSION = 1
MAX_CHECKPOINT_BYTES = max_checkpoint_bytes()  # the weights of the largest model a run may train (+ 1 MiB)
MAX_TENSORS = 2_000          # entries of a state dict (LeNet-5 has 10, a 50-layer plain CNN ~300)
MAX_ARCHIVE_MEMBERS = MAX_TENSORS + 16
MAX_CLASSES = 10_000
MAX_IN_CHANNELS, MAX_IMAGE_SIZE = 16, 512
MAX_CLASS_NAME = 100


@dataclass
class Checkpoint:
    """A loaded checkpoint: a ready model (eval mode, CPU) plus what was saved with it."""

    model: nn.Module
    model_name: str
    model_options: ModelOptions
    config: dict[str, Any] = field(default_factory=dict)   # the TrainConfig as a JSON-able dict
    metrics: dict[str, Any] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()
    input_shape: tuple[int, ...] = ()


def checkpoint_bytes(model: nn.Module, model_name: str, model_options: ModelOptions, *,
                     config: Any = None, metrics: dict[str, Any] | None = None,
                     class_names: tuple[str, ...] = (), input_shape: tuple[int, ...] = ()) -> bytes:
    """Serialize weights (CPU tensors) + JSON metadata with torch.save; returns the file's bytes."""
    meta = {
        "format": FORMAT, "version": VERSION, "model_name": model_name,
        "model_options": to_jsonable(model_options),
        "config": to_jsonable(config) if config is not None else {},
        "metrics": metrics or {}, "class_names": list(class_names), "input_shape": list(input_shape),
    }
    payload = {
        "meta_json": json.dumps(meta),  # a string: weights_only loading accepts it, and it is plain data
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_checkpoint(path: str | Path, model: nn.Module, model_name: str, model_options: ModelOptions,
                    **extra: Any) -> Path:
    """Write a checkpoint file (see checkpoint_bytes for the keyword arguments)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(checkpoint_bytes(model, model_name, model_options, **extra))
    return path


# Messages of torch's weights-only unpickler when it refuses to import or call something (torch 2.6+).
_REFUSED_CODE = ("Unsupported global", "unsupported GLOBAL", "Trying to call reduce", "Can only create new object",
                 "Can only build")


def _read_bytes(source: bytes | str | Path) -> bytes:
    """The checkpoint's bytes; a file is measured before it is read."""
    if isinstance(source, (str, Path)):
        size = Path(source).stat().st_size
        if size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(_too_large(size))
        return Path(source).read_bytes()
    return bytes(source)


def _too_large(size: int) -> str:
    return (f"The checkpoint is {size / 2**20:.0f} MiB; the limit is {MAX_CHECKPOINT_BYTES / 2**20:.0f} MiB "
            "(the weights of the largest model a run may train on this server).")


def _check_archive(data: bytes) -> None:
    """Refuse a zip whose members are compressed or add up to more than the file: checked before decompression."""
    if not data.startswith(b"PK"):
        return  # not a zip: torch's legacy format (or no checkpoint at all); its storages are as big as the file
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError("This is not a readable PyTorch checkpoint (a damaged or truncated archive).") from exc
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise CheckpointError(f"The checkpoint archive holds {len(members):,} files; a checkpoint has at most "
                              f"{MAX_ARCHIVE_MEMBERS:,}.")
    if any(m.compress_type != zipfile.ZIP_STORED for m in members):
        raise CheckpointError("Refused: the checkpoint archive is compressed. torch.save writes uncompressed "
                              "archives; a compressed one may unpack to far more than its size (a zip bomb).")
    declared = sum(m.file_size for m in members)
    if declared > len(data):
        raise CheckpointError(f"Refused: the archive claims {declared / 2**20:,.0f} MiB of content in a "
                              f"{len(data) / 2**20:,.1f} MiB file.")


def _read_payload(data: bytes) -> dict[str, Any]:
    if len(data) == 0:
        raise CheckpointError("The checkpoint file is empty.")
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(_too_large(len(data)))
    _check_archive(data)
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if any(marker in str(exc) for marker in _REFUSED_CODE):
            # weights_only=True refused a global: the pickle would import or call Python code.
            raise CheckpointError("Refused to load this file: it contains Python objects beyond tensors and "
                                  "plain data (a pickle that could run code). Only CNN Playground checkpoints "
                                  "(weights + JSON metadata) are accepted.") from exc
        # Bytes that are no pickle at all (a PNG or a text file named .pt): an unknown opcode, not a refusal.
        raise CheckpointError("This is not a readable PyTorch checkpoint (corrupt or another file type, "
                              "e.g. an image renamed to .pt).") from exc
    except Exception as exc:  # any decoder failure on untrusted bytes (KeyError, EOFError, BadZipFile, ...)
        log.info("checkpoint decoding failed: %r", exc)
        raise CheckpointError(f"This is not a readable PyTorch checkpoint (corrupt or another file type): "
                              f"{type(exc).__name__}.") from exc
    if not isinstance(payload, dict) or "meta_json" not in payload or "state_dict" not in payload:
        raise CheckpointError("This PyTorch file is not a CNN Playground checkpoint (no metadata): save one "
                              "from the Train page, or a state dict wrapped with cnn_core.training.checkpoints.")
    return payload


# ---------------------------------------------------------------- metadata (the configs' own validators)

def _meta(payload: dict[str, Any]) -> dict[str, Any]:
    """The metadata object: a bounded JSON string holding an object."""
    text = payload["meta_json"]
    if not isinstance(text, str):
        raise CheckpointError(f"The checkpoint's metadata is damaged: expected JSON text, got {type(text).__name__}.")
    what = "The checkpoint's metadata"
    try:
        meta = parse_json(text, what, max_bytes=MAX_JSON_BYTES, allow_nan=True)
    except PlaygroundError as exc:
        message = str(exc)
        raise CheckpointError(message if message.startswith(what) else f"{what} is damaged: {message}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"The checkpoint's metadata is damaged: expected an object, got {type(meta).__name__}.")
    return meta


def _field(meta: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = meta.get(name, default)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise CheckpointError(f"The checkpoint's metadata is damaged: '{name}' should be "
                              f"{'an object' if kind is dict else 'a list' if kind is list else kind.__name__}, "
                              f"got {type(value).__name__}.")
    return value


def _positive_ints(values: list, name: str, limit: int) -> tuple[int, ...]:
    if len(values) > 4 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= limit for v in values):
        raise CheckpointError(f"The checkpoint's metadata is damaged: '{name}' should be up to 4 positive whole "
                              f"numbers up to {limit:,}, got {short_repr(values)}.")
    return tuple(values)


def validate_meta(meta: dict[str, Any]) -> tuple[str, ModelOptions, dict, dict, tuple[str, ...], tuple[int, ...]]:
    """Check every metadata field's type and bounds; (model name, options, config, metrics, classes, shape)."""
    if meta.get("format") != FORMAT:
        raise CheckpointError("Unknown checkpoint format.")
    version = meta.get("version", VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= VERSION:
        raise CheckpointError(f"This checkpoint's format version {short_repr(version)} is not one this playground "
                              f"reads (version {VERSION}).")
    name = _field(meta, "model_name", str, None)
    if name not in MODELS:
        raise CheckpointError(f"The checkpoint is for a model {short_repr(name)} this playground does not know.")
    given = _field(meta, "model_options", dict, None)
    try:
        options = from_jsonable(ModelOptions, given, "model_options")
    except PlaygroundError as exc:
        raise CheckpointError(f"The checkpoint's metadata is damaged: {exc}") from exc
    for label, value, limit in (("in_channels", options.in_channels, MAX_IN_CHANNELS),
                                ("image_size", options.image_size, MAX_IMAGE_SIZE),
                                ("num_classes", options.num_classes, MAX_CLASSES)):
        if not 1 <= value <= limit:
            raise CheckpointError(f"The checkpoint's metadata is out of range: model_options.{label} is "
                                  f"{short_repr(value)}; this playground takes 1 to {limit:,}.")
    config = _field(meta, "config", dict, {})
    if config:
        from cnn_core.training.config import TrainConfig

        try:
            train_config = from_jsonable(TrainConfig, config, "config")
            train_config.validate()
        except PlaygroundError as exc:
            raise CheckpointError(f"The checkpoint's training config is damaged: {exc}") from exc
    metrics = _field(meta, "metrics", dict, {})
    classes = _field(meta, "class_names", list, [])
    if len(classes) > MAX_CLASSES or not all(isinstance(c, str) and len(c) <= MAX_CLASS_NAME for c in classes):
        raise CheckpointError(f"The checkpoint's metadata is damaged: 'class_names' should be up to "
                              f"{MAX_CLASSES:,} short texts, got {short_repr(classes)}.")
    if classes and len(classes) != options.num_classes:
        raise CheckpointError(f"The checkpoint's metadata is damaged: {len(classes):,} class names for a model with "
                              f"{options.num_classes:,} outputs.")
    shape = _positive_ints(_field(meta, "input_shape", list, []), "input_shape", MAX_IMAGE_SIZE)
    return name, options, config, metrics, tuple(classes), shape


# ---------------------------------------------------------------- tensors (checked before they are used)

def _dense(t: torch.Tensor) -> bool:
    """True when a tensor's elements tile its storage exactly once: no zero, overlapping or gapped strides."""
    expected = 1
    for size, stride in sorted(zip(t.shape, t.stride()), key=lambda pair: pair[1]):
        if size == 1:
            continue
        if stride != expected:
            return False
        expected *= size
    return True


def check_tensors(state_dict: Any) -> dict[str, torch.Tensor]:
    """Refuse a state dict that is not a dict of plain dense CPU tensors whose storage matches their shape."""
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError("The checkpoint's weights are damaged (not a dict of tensors).")
    if len(state_dict) > MAX_TENSORS:
        raise CheckpointError(f"The checkpoint holds {len(state_dict):,} tensors; a model here has at most "
                              f"{MAX_TENSORS:,}.")
    for key, t in state_dict.items():
        where = f"tensor {short_repr(key, 40)}"
        if not isinstance(key, str):
            raise CheckpointError("The checkpoint's weights are damaged: a tensor name is not a text.")
        if t.layout != torch.strided or t.is_quantized or t.device.type != "cpu":
            raise CheckpointError(f"The checkpoint's {where} is not a plain tensor (sparse, quantized or not CPU).")
        if any(s == 0 for s, n in zip(t.stride(), t.shape) if n > 1) or not _dense(t):
            raise CheckpointError(f"Refused: the checkpoint's {where} has zero or overlapping strides: its "
                                  f"{t.numel():,} values are not all stored (a crafted file).")
        needed = t.numel() * t.element_size()
        stored = t.untyped_storage().nbytes()
        if t.storage_offset() != 0 or stored != needed:
            raise CheckpointError(f"Refused: the checkpoint's {where} has {stored:,} bytes of storage for a shape that "
                                  f"needs {needed:,}.")
    return state_dict


def describe_dtype_mismatch(own: dict[str, torch.Tensor], state_dict: dict[str, torch.Tensor]) -> str:
    """Name the tensors whose dtype differs from the model's (e.g. float64 weights for a float32 model)."""
    wrong = [f"{short(k, 40)} ({str(state_dict[k].dtype).replace('torch.', '')}, model "
             f"{str(own[k].dtype).replace('torch.', '')})" for k in own
             if k in state_dict and state_dict[k].dtype != own[k].dtype]
    return ("different number types: " + "; ".join(wrong[:6])) if wrong else ""


def describe_mismatch(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> str:
    """Name the layers whose parameters are missing, unexpected, or of another shape (a meta model works too)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [short(k, 40) for k in state_dict if k not in own]
    shapes = [f"{k} (checkpoint {short(tuple(state_dict[k].shape), 40)}, model {tuple(own[k].shape)})"
              for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    parts = []
    if shapes:
        parts.append("different shapes: " + "; ".join(shapes[:6]))
    if missing:
        parts.append("missing in the checkpoint: " + ", ".join(missing[:6]))
    if unexpected:
        parts.append("not in the model: " + ", ".join(unexpected[:6]))
    return ". ".join(parts)


def load_checkpoint(source: bytes | str | Path, expected_model: str | None = None) -> Checkpoint:
    """Load a checkpoint from bytes or a path (always weights_only=True) into a fresh model.

    `expected_model` refuses checkpoints of another registry model with a message that names the
    mismatched layers. Every failure is a CheckpointError with a readable message.
    """
    payload = _read_payload(_read_bytes(source))
    name, options, config, metrics, classes, shape = validate_meta(_meta(payload))
    state_dict = check_tensors(payload["state_dict"])
    try:
        check_model(name, options, what="the model in this checkpoint")  # priced on the meta device
        model = _meta_build(name, options)
    except BudgetExceeded as exc:
        raise CheckpointError(f"Refused: {exc}") from exc
    except PlaygroundError as exc:
        raise CheckpointError(f"The checkpoint describes a model that cannot be built: {exc}") from exc
    if expected_model is not None and expected_model != name:
        expected = _meta_build(expected_model, options) if expected_model in MODELS else None
        detail = describe_mismatch(expected, state_dict) if expected is not None else ""
        raise CheckpointError(f"This checkpoint is for '{name}', not '{short(expected_model, 40)}'"
                              + (f": {detail}." if detail else "."))
    mismatch = describe_mismatch(model, state_dict) or describe_dtype_mismatch(model.state_dict(), state_dict)
    if mismatch:
        raise CheckpointError(f"The weights do not fit {MODELS[name].label}: {mismatch}.")
    model.load_state_dict(state_dict, assign=True)  # the checked tensors become the weights: no copy
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        raise CheckpointError(f"The checkpoint lacks some of {MODELS[name].label}'s tensors.")
    model.eval()
    return Checkpoint(model, name, options, config, metrics, classes, shape)


def _meta_build(name: str, options: ModelOptions) -> nn.Module:
    """The model on the meta device (shapes only); ArchitectureErrors become CheckpointErrors."""
    try:
        return meta_model(name, options)
    except PlaygroundError as exc:
        raise CheckpointError(f"The checkpoint describes a model that cannot be built: {exc}") from exc


def load_weights_into(model: nn.Module, source: bytes | str | Path) -> dict[str, Any]:
    """Load a checkpoint's weights into an existing model (e.g. to continue training); returns its metadata."""
    payload = _read_payload(_read_bytes(source))
    meta = _meta(payload)
    validate_meta(meta)
    state_dict = check_tensors(payload["state_dict"])
    mismatch = describe_mismatch(model, state_dict) or describe_dtype_mismatch(model.state_dict(), state_dict)
    if mismatch:
        raise CheckpointError(f"This checkpoint is for another architecture: {mismatch}.")
    model.load_state_dict(state_dict)
    return meta


def run_checkpoint_bytes(run: Any, metrics: dict[str, Any] | None = None) -> bytes:
    """A run's checkpoint bytes (``run.checkpoint(metrics)``: weights, config, metrics, epoch history)."""
    return run.checkpoint(metrics)
