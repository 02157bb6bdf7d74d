"""Settings read from the environment, each with its one default (no torch import: the classroom and the
admission control read them too)."""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

DATA_ENV = "CNN_PLAYGROUND_DATA"  # the playground's data folder: datasets, the gallery database, TensorBoard runs


def default_data_dir() -> Path:
    """The playground's data folder: $CNN_PLAYGROUND_DATA or ~/.cache/cnn-playground/data."""
    return Path(os.environ.get(DATA_ENV) or Path.home() / ".cache" / "cnn-playground" / "data")  # home read per call


def env_number(name: str, default: float, low: float | None = None) -> float:
    """A positive finite number (at least `low` when given) from the environment, else `default`.

    Unset or blank gives the default quietly; any other value that is not such a number is logged and
    replaced by the default, so a typo in a server's settings never stops it from starting.
    """
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0 and (low is None or value >= low)):
        log.warning("%s=%r is not a positive number%s; using %s", name, raw[:40],
                    "" if low is None else f" >= {low:g}", default)
        return default
    return value
