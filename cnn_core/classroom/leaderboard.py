"""What the Gallery page shows, as plain data: readable names, one page of the leaderboard, chartable settings,
curves on the right axis.

    frame = entries_frame(store.entries(exercise, with_curves=False))   # light: no curves
    rows, pages = leaderboard_page(frame, by="val_accuracy", ascending=False, page=1)
    curves = drawable_curves(curves_frame(...))                          # only for the runs shown
"""
from __future__ import annotations

import math

import pandas as pd

from cnn_core.classroom.tables import BASE_COLUMNS

PAGE_ROWS = 50  # leaderboard rows per page
_WORDS = {"lr": "learning rate", "val": "validation", "acc": "accuracy", "init": "initialization"}


def readable(column: str) -> str:
    """A column's key as words: 'metric.best_val_accuracy' -> 'best validation accuracy',
    'optimizer.name' -> 'optimizer name', 'common.optimizer.lr' -> 'optimizer learning rate'."""
    parts = [p for p in column.removeprefix("metric.").split(".") if p not in ("common", "run")]
    words = " ".join(p.replace("_", " ") for p in parts).split() or [column]
    return " ".join(_WORDS.get(w, w) for w in words)


def exercise_title(name: str) -> str:
    """An exercise's key as a title: 'train' -> 'Train', 'weight-init' -> 'Weight init'."""
    text = name.replace("-", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def count_text(n: int, noun: str = "run") -> str:
    """'1 run', '2 runs'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def chart_settings(frame: pd.DataFrame) -> list[str]:
    """Config columns with numbers in at least two runs and at least two different values (a run that left a
    setting at its default, stored as empty, is left out of that setting's chart, not the whole chart)."""
    names = []
    for column in frame.columns:
        if column in BASE_COLUMNS or column.startswith("metric.") or column == "rank":
            continue
        raw = frame[column]
        if raw.map(lambda v: isinstance(v, bool)).any():
            continue
        values = pd.to_numeric(raw, errors="coerce")
        known = values[values.notna() & values.map(lambda v: math.isfinite(v) if pd.notna(v) else False)]
        if len(known) >= 2 and known.nunique() > 1 and (values.notna() | raw.isna()).all():
            names.append(column)
    return sorted(names, key=lambda c: (-pd.to_numeric(frame[c], errors="coerce").nunique(), c))


def sorted_board(frame: pd.DataFrame, by: str, ascending: bool) -> pd.DataFrame:
    """The entries ordered by a column (missing values last, then by id), with a rank column."""
    if by not in frame.columns:
        by = "val_accuracy"
    key = pd.to_numeric(frame[by], errors="coerce") if by != "nickname" else frame[by].astype(str).str.casefold()
    ordered = frame.assign(_key=key).sort_values(["_key", "id"], ascending=[ascending, True], na_position="last")
    return ordered.drop(columns="_key").assign(rank=range(1, len(frame) + 1))


def page_count(rows: int, size: int = PAGE_ROWS) -> int:
    """How many pages `rows` rows fill (at least one)."""
    return max(1, math.ceil(rows / size))


def leaderboard_page(board: pd.DataFrame, page: int, size: int = PAGE_ROWS) -> pd.DataFrame:
    """Rows of the 1-based `page` (clamped to the pages there are) of an already sorted board."""
    page = min(max(int(page), 1), page_count(len(board), size))
    return board.iloc[(page - 1) * size: page * size]


def drawable_curves(curves: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(rows to draw, x column): per-epoch rows against 'epoch'; per-step rows (split '*_step') only when a run
    published nothing per epoch, then against 'step' (per-step points on an epoch axis pile up at each epoch)."""
    if curves.empty or "value" not in curves:
        return curves.iloc[0:0], "epoch"
    split = curves["split"].astype(str) if "split" in curves else pd.Series("", index=curves.index)
    per_step = split.str.endswith("_step")
    if "epoch" in curves and (~per_step).any():
        return curves[~per_step].dropna(subset=["value", "epoch"]), "epoch"
    if "step" in curves:
        return curves[per_step].dropna(subset=["value", "step"]), "step"
    return curves.iloc[0:0], "epoch"
