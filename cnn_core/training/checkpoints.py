"""Save and load models with their config and metrics; loading never runs pickled code."""
from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnn_core.errors import CheckpointError, PlaygroundError
from cnn_core.models import MODELS, ModelOptions, build_model
from cnn_core.serialization import from_jsonable, to_jsonable

FORMAT = "cnn-playground-checkpoint"
VERSION = 1
MAX_CHECKPOINT_BYTES = 200 * 2**20  # 200 MiB: far above LeNet-5 (250 KB), far below a memory problem


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
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
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


def _read_payload(data: bytes) -> dict[str, Any]:
    if len(data) == 0:
        raise CheckpointError("The checkpoint file is empty.")
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"The checkpoint is {len(data) / 2**20:.0f} MiB; the limit is "
                              f"{MAX_CHECKPOINT_BYTES / 2**20:.0f} MiB.")
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
        raise CheckpointError(f"This is not a readable PyTorch checkpoint (corrupt or another file type): "
                              f"{type(exc).__name__}.") from exc
    if not isinstance(payload, dict) or "meta_json" not in payload or "state_dict" not in payload:
        raise CheckpointError("This PyTorch file is not a CNN Playground checkpoint (no metadata): save one "
                              "from the Train page, or a state dict wrapped with cnn_core.training.checkpoints.")
    return payload


def describe_mismatch(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> str:
    """Name the layers whose parameters are missing, unexpected, or of another shape."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k} (checkpoint {tuple(state_dict[k].shape)}, model {tuple(own[k].shape)})"
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
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    payload = _read_payload(data)
    try:
        meta = json.loads(payload["meta_json"])
        if meta.get("format") != FORMAT:
            raise CheckpointError("Unknown checkpoint format.")
        name = meta["model_name"]
        options = from_jsonable(ModelOptions, meta["model_options"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, PlaygroundError) as exc:
        raise CheckpointError(f"The checkpoint's metadata is damaged: {exc}") from exc
    if name not in MODELS:
        raise CheckpointError(f"The checkpoint is for a model '{name}' this playground does not know.")
    state_dict = payload["state_dict"]
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError("The checkpoint's weights are damaged (not a dict of tensors).")
    try:
        model = build_model(name, options)
    except PlaygroundError as exc:
        raise CheckpointError(f"The checkpoint describes a model that cannot be built: {exc}") from exc
    if expected_model is not None and expected_model != name:
        expected = build_model(expected_model, options) if expected_model in MODELS else None
        detail = describe_mismatch(expected, state_dict) if expected is not None else ""
        raise CheckpointError(f"This checkpoint is for '{name}', not '{expected_model}'"
                              + (f": {detail}." if detail else "."))
    mismatch = describe_mismatch(model, state_dict)
    if mismatch:
        raise CheckpointError(f"The weights do not fit {MODELS[name].label}: {mismatch}.")
    model.load_state_dict(state_dict)
    model.eval()
    return Checkpoint(model, name, options, meta.get("config", {}), meta.get("metrics", {}),
                      tuple(meta.get("class_names", ())), tuple(meta.get("input_shape", ())))


def load_weights_into(model: nn.Module, source: bytes | str | Path) -> dict[str, Any]:
    """Load a checkpoint's weights into an existing model (e.g. to continue training); returns its metadata."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    payload = _read_payload(data)
    state_dict = payload["state_dict"]
    mismatch = describe_mismatch(model, state_dict) if isinstance(state_dict, dict) else "no weights"
    if mismatch:
        raise CheckpointError(f"This checkpoint is for another architecture: {mismatch}.")
    model.load_state_dict(state_dict)
    return json.loads(payload["meta_json"])


def run_checkpoint_bytes(run: Any, metrics: dict[str, Any] | None = None) -> bytes:
    """A TrainingRun as checkpoint bytes: weights, config, metrics and its epoch history (for restore_run)."""
    from dataclasses import asdict

    from cnn_core.training import model_options_for
    history = [asdict(r) for r in run.history if r.kind != "step"]
    meta = {"epochs": run.epoch, "steps": run.step, "status": run.status, **(metrics or {}), "history": history}
    return checkpoint_bytes(run.model, run.config.model, model_options_for(run.config, run.data), config=run.config,
                            metrics=meta, class_names=run.data.class_names, input_shape=run.data.image_shape)


def restore_run(checkpoint: Checkpoint, data: Any = None) -> Any:
    """A TrainingRun that continues a checkpoint: its model, config, epoch/step counters and epoch history.

    The optimizer's running state (momentum, Adam averages) is not in a checkpoint: it starts afresh;
    the learning-rate schedule resumes at the saved step.
    """
    import warnings

    from cnn_core.training import Record, TrainConfig, TrainingRun
    try:
        config = from_jsonable(TrainConfig, checkpoint.config)
    except PlaygroundError as exc:
        raise CheckpointError(f"The checkpoint's training config cannot be restored: {exc}") from exc
    if config.model != checkpoint.model_name:
        raise CheckpointError(f"The checkpoint's config trains '{config.model}' but its weights are "
                              f"'{checkpoint.model_name}'.")
    run = TrainingRun(config, data, model=checkpoint.model)
    if checkpoint.input_shape and tuple(checkpoint.input_shape) != tuple(run.data.image_shape):
        raise CheckpointError(f"The checkpoint expects {tuple(checkpoint.input_shape)} images, the dataset "
                              f"'{config.dataset}' has {tuple(run.data.image_shape)}.")
    try:
        run.history = [Record(**r) for r in checkpoint.metrics.get("history", [])]
        run.epoch = int(checkpoint.metrics.get("epochs", 0))
        run.step = int(checkpoint.metrics.get("steps", 0))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"The checkpoint's training history is damaged: {exc}") from exc
    val_losses = [(r.val_loss, r.epoch) for r in run.history if r.kind == "epoch" and r.val_loss == r.val_loss]
    if val_losses:
        run.best_val_loss, run.best_epoch = min(val_losses)
    if run.step > 0:
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": intended here
            warnings.simplefilter("ignore")
            run.scheduler.last_epoch = run.step - 1
            run.scheduler.step()
    return run
