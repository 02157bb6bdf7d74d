"""Widgets every page uses the same way: seed, learning rate, dataset and model pickers.

Each takes a unique `key` and an optional `container` (st, ui.sidebar, a column) to draw in.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from cnn_core import DATASETS, MODELS
from cnn_core.training.optimizers import OPTIMIZERS
from pages.common import links

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

SEED_HELP = "Same seed: same data order, same initial weights, same curves (on the CPU)."
MAX_SEED = 1_000_000


def seed_input(key: str, container: Any = ui, label: str = "Seed", help: str = SEED_HELP,
               max_value: int = MAX_SEED, value: int = 0) -> int:
    """A 0..max_value integer seed."""
    return int(container.number_input(label, 0, max_value, value, key=key, help=help))


def learning_rate_input(key: str, optimizer: str | None = None, container: Any = ui,
                        value: float | None = None, low: float = 1e-5, high: float = 1.0,
                        help: str | None = None) -> float:
    """A learning-rate box; it starts at `value`, else at the optimizer's registry default."""
    start = value if value is not None else float(OPTIMIZERS[optimizer].defaults["lr"]) if optimizer else 0.01
    return float(container.number_input("Learning rate", low, high, min(max(start, low), high), format="%.4f",
                                        key=key, help=help or "η: the step size of every update."))


def dataset_picker(key: str, container: Any = ui, choices: list[str] | None = None,
                   help: str | None = None, **kwargs: Any) -> str:
    """A dataset selectbox over the DATASETS registry (labels from it)."""
    return container.selectbox("Dataset", choices or list(DATASETS), key=key,
                               format_func=lambda k: DATASETS[k].label, help=help, **kwargs)


def model_picker(key: str, container: Any = ui, choices: list[str] | None = None,
                 label: str = "Model", help: str | None = None, **kwargs: Any) -> str:
    """A model selectbox over the MODELS registry (labels from it)."""
    return container.selectbox(label, choices or list(MODELS), key=key,
                               format_func=lambda k: MODELS[k].label, help=help, **kwargs)


# What every uploader accepts (the per-uploader size limits are enforced by Streamlit before the bytes arrive).
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]
IMAGE_UPLOAD_MB = 25        # a 12-megapixel phone photo is ~5 MB; images are also bounded in pixels
JSON_UPLOAD_MB = 1          # architecture and settings files (the parser refuses more than 256 KiB anyway)


def checkpoint_upload_mb() -> int:
    """The largest checkpoint a model within this server's budget can need (Streamlit's limit, in MB)."""
    from cnn_core.training.budget import max_checkpoint_bytes
    return max(1, -(-max_checkpoint_bytes() // 2**20))
