"""Models trained by cnn_core on first use and cached on disk, so later starts just load them.

The cache heals itself: a file that cannot be read, fails the checkpoint checks, or whose metrics
are malformed is deleted and the model trained again; temporary files left by an interrupted
write are removed; the folder is kept under MAX_CACHE_BYTES and MAX_CACHE_FILES (oldest first).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import time
from pathlib import Path

from torch import nn

from cnn_core.errors import CheckpointError
from cnn_core.serialization import dumps
from cnn_core.training import TrainConfig, TrainingRun, model_options_for
from cnn_core.training.checkpoints import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

MAX_CACHE_BYTES = 64 * 2**20   # LeNet-5 and the MLP take about 1 MB together
MAX_CACHE_FILES = 32
STALE_TMP_SECONDS = 3600       # a .tmp file older than this is a dead writer's leftover


def cache_dir() -> Path:
    """Where trained models are cached: $CNN_PLAYGROUND_CACHE or ~/.cache/cnn-playground/models."""
    return Path(os.environ.get("CNN_PLAYGROUND_CACHE", Path.home() / ".cache" / "cnn-playground" / "models"))


def cached_path(config: TrainConfig) -> Path:
    """The cache file of a config: model name plus a hash of the whole config."""
    digest = hashlib.sha256(dumps(config).encode()).hexdigest()[:16]
    return cache_dir() / f"{config.model}-{config.dataset}-{digest}.pt"


def trained_model(config: TrainConfig) -> tuple[nn.Module, dict]:
    """Load the config's trained model from the disk cache, or train it now and cache it.

    Returns (model in eval mode on CPU, metrics). The file is written to a temporary name and
    renamed, so a concurrent reader never sees half a file; two processes training the same
    config at once both succeed (the last rename wins, both files are equal).
    """
    path = cached_path(config)
    clean_temporary_files(path.parent)
    if path.exists():
        try:
            checkpoint = load_checkpoint(path, expected_model=config.model)
            _check_metrics(checkpoint.metrics)
            return checkpoint.model, checkpoint.metrics
        except (CheckpointError, OSError) as exc:
            log.warning("damaged model cache file %s (%s): training it again", path.name, exc)
            path.unlink(missing_ok=True)  # a damaged cache file: train again
    run = TrainingRun(config)
    for _ in run.records():
        pass
    test_loss, test_acc = run.test_metrics()
    metrics = {"test_loss": test_loss, "test_accuracy": test_acc, "epochs": run.epoch, "status": run.status}
    model = run.model.cpu().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        tmp = Path(handle.name)
    try:
        save_checkpoint(tmp, model, config.model, model_options_for(config, run.data), config=config,
                        metrics=metrics, class_names=run.data.class_names, input_shape=run.data.image_shape)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # after a failed write (disk full, interrupt): no half file stays
    prune_cache(path.parent, keep=path)
    return model, metrics


def _check_metrics(metrics: dict) -> None:
    """The cached metrics the pages format: test accuracy a number in [0, 1] (or absent), epochs a whole number."""
    accuracy = metrics.get("test_accuracy")
    if accuracy is not None and not (isinstance(accuracy, float) and (0 <= accuracy <= 1 or math.isnan(accuracy))):
        raise CheckpointError(f"the cached test accuracy is not a fraction: {type(accuracy).__name__}")
    epochs = metrics.get("epochs")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or not 0 <= epochs <= 10_000):
        raise CheckpointError("the cached epoch count is not a whole number")


def clean_temporary_files(folder: Path, older_than: float = STALE_TMP_SECONDS) -> int:
    """Delete *.tmp files a dead writer left in the cache folder; returns how many were removed."""
    removed, now = 0, time.time()
    for tmp in folder.glob("*.tmp") if folder.is_dir() else ():
        try:
            if now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed += 1
        except OSError:  # another process removed or renamed it first
            continue
    return removed


def prune_cache(folder: Path, keep: Path | None = None, max_bytes: int = MAX_CACHE_BYTES,
                max_files: int = MAX_CACHE_FILES) -> list[Path]:
    """Delete the least recently written cache files beyond max_bytes or max_files (never `keep`)."""
    files = []
    for f in folder.glob("*.pt"):
        try:
            files.append((f.stat().st_mtime, f.stat().st_size, f))
        except OSError:
            continue
    files.sort(key=lambda item: item[0], reverse=True)  # newest first
    total, removed = 0, []
    for count, (_, size, f) in enumerate(files, start=1):
        total += size
        if f != keep and (total > max_bytes or count > max_files):
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


LENET5_MNIST = TrainConfig(model="lenet5-modern", dataset="mnist-5k", epochs=10, seed=0)
MLP_MNIST = TrainConfig(model="mlp", dataset="mnist-5k", epochs=10, seed=0)
