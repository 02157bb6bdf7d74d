"""Gallery entries as tidy pandas frames: the leaderboard, the curves, and a spreadsheet-safe CSV."""
from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timezone

import pandas as pd

from cnn_core.classroom.gallery import Entry

BASE_COLUMNS = ["id", "exercise", "nickname", "val_accuracy", "seed", "page", "published", "hidden", "notes", "query"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _flat(prefix: str, value: object, out: dict[str, object]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, (list, tuple)):
        out[prefix] = ", ".join(str(v) for v in value)
    else:
        out[prefix] = value


def entries_frame(entries: Iterable[Entry]) -> pd.DataFrame:
    """One row per entry: the base columns, then `metric.<name>` and the config flattened (`a.b` for nesting)."""
    rows = []
    for e in entries:
        row: dict[str, object] = {
            "id": e.id, "exercise": e.exercise, "nickname": e.nickname, "val_accuracy": e.val_accuracy,
            "seed": e.seed, "page": e.page,
            "published": datetime.fromtimestamp(e.created_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "hidden": e.hidden, "notes": e.notes, "query": e.query}
        for name, value in e.metrics.items():
            if name != "val_accuracy":
                row[f"metric.{name}"] = value
        config: dict[str, object] = {}
        _flat("", e.config, config)
        for name, value in config.items():
            row.setdefault(name, value)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame if not frame.empty else pd.DataFrame(columns=BASE_COLUMNS)


def numeric_settings(frame: pd.DataFrame) -> list[str]:
    """Config columns (not metrics, not the base columns) that hold numbers and vary between entries."""
    names = []
    for column in frame.columns:
        if column in BASE_COLUMNS or column.startswith("metric."):
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().all() and values.nunique() > 1 and frame[column].map(type).ne(bool).all():
            names.append(column)
    return sorted(names, key=lambda c: -frame[c].nunique())  # the most varied setting first


def curves_frame(entries: Iterable[Entry]) -> pd.DataFrame:
    """Every entry's published curves, tidy, with the entry's id and nickname in front."""
    frames = [pd.DataFrame(e.curves).assign(entry_id=e.id, nickname=e.nickname) for e in entries if e.curves]
    if not frames:
        return pd.DataFrame(columns=["entry_id", "nickname", "run", "epoch", "step", "split", "metric", "value"])
    frame = pd.concat(frames, ignore_index=True)
    front = ["entry_id", "nickname"]
    return frame[front + [c for c in frame.columns if c not in front]]


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas (a leading = + - @ gets a quote)."""
    def cell(value: object) -> object:
        if isinstance(value, str) and value.startswith(_FORMULA_START):
            return "'" + value
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    def safe(column: pd.Series) -> pd.Series:
        text_like = pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)
        return column.astype(object).map(cell) if text_like else column

    return frame.apply(safe)
