"""Models trained by cnn_core on first use and cached on disk, so later starts just load them."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from torch import nn

from cnn_core.training.checkpoints import load_checkpoint, save_checkpoint
from cnn_core.errors import CheckpointError
from cnn_core.serialization import dumps
from cnn_core.training import TrainConfig, TrainingRun, model_options_for


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
    if path.exists():
        try:
            checkpoint = load_checkpoint(path, expected_model=config.model)
            return checkpoint.model, checkpoint.metrics
        except CheckpointError:
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
    save_checkpoint(tmp, model, config.model, model_options_for(config, run.data), config=config, metrics=metrics,
                    class_names=run.data.class_names, input_shape=run.data.image_shape)
    os.replace(tmp, path)
    return model, metrics


LENET5_MNIST = TrainConfig(model="lenet5-modern", dataset="mnist-5k", epochs=10, seed=0)
MLP_MNIST = TrainConfig(model="mlp", dataset="mnist-5k", epochs=10, seed=0)
