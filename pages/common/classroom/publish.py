"""The "Publish to class gallery" widget any page calls after a run, and the shared gallery store.

The store is the process's one `shared_store()` (cnn_core.classroom.gallery), not a Streamlit cache: a client's
"clear caches" must not rebuild it. A publish names this session (the server's session id, which the client
cannot choose) as its owner, so the gallery's per-session quota and rate hold.
"""
from __future__ import annotations

import hashlib
import json
import math
import uuid
from typing import Any

import pandas as pd
import streamlit as st

from cnn_core.classroom import MAX_NOTES, GalleryError, GalleryStore, NewEntry
from cnn_core.classroom.gallery import MAX_CURVE_ROWS, MAX_NICKNAME, close_shared_stores, shared_store
from pages.common import links
from pages.common.live.singleton import guard_client_cache_clear

NICKNAME = "gallery_nickname"  # session-state: the nickname this student publishes under
SESSION_SALT = "gallery_session_salt"  # session-state: makes a publish token unique to this session


class _GalleryStoreAccessor:
    """gallery_store() -> the one store of this process; gallery_store.clear() closes it (tests only)."""

    def __call__(self) -> GalleryStore:
        return shared_store()

    @staticmethod
    def clear() -> None:
        """Close every shared store: the next call opens the database named by the environment again."""
        close_shared_stores()


gallery_store = _GalleryStoreAccessor()  # ($CNN_PLAYGROUND_DB, else SQLite in the data folder)
guard_client_cache_clear()


def publishing_session() -> str:
    """The id the server gave this browser session ('' outside a server): the owner of what it publishes."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else ""


def open_gallery() -> GalleryStore | None:
    """The gallery store, or None after showing why it cannot be opened."""
    try:
        return gallery_store()
    except GalleryError as exc:
        st.error(f"The class gallery is not available: {exc}")
        return None


def curves_rows(curves: pd.DataFrame | None, limit: int = MAX_CURVE_ROWS) -> list[dict[str, Any]]:
    """A tidy curves frame as JSON-able rows, epoch rows kept first and thinned evenly to `limit` rows."""
    if curves is None or curves.empty:
        return []
    frame = curves.copy()
    if "epoch" in frame.columns and len(frame) > limit and "step" in frame.columns:
        # one row per (run, epoch, split, metric): the last step's, which is what the epoch curves show
        frame = frame.drop_duplicates([c for c in ("run", "epoch", "split", "metric") if c in frame], keep="last")
    if len(frame) > limit:
        frame = frame.iloc[:: math.ceil(len(frame) / limit)]
    frame = frame.astype(object).where(pd.notna(frame), None)
    return [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def publish_token(page: str, exercise: str, config: dict, seed: int, metrics: dict) -> str:
    """The same run published twice from one session (a double click, a rerun) gets the same token."""
    salt = st.session_state.setdefault(SESSION_SALT, uuid.uuid4().hex)
    payload = json.dumps([salt, page, exercise, config, seed, metrics], sort_keys=True, default=str)
    return str(uuid.UUID(hashlib.sha256(payload.encode()).hexdigest()[:32]))


def publish_widget(page: str, exercise: str, config: dict[str, Any], seed: int, metrics: dict[str, float],
                   curves: pd.DataFrame | None = None, key: str = "publish") -> int | None:
    """An expander where a student publishes this run under a nickname; returns the entry id once published.

    page: the page file ("8_Train.py"); exercise: the leaderboard it joins; metrics: final values
    ("val_accuracy" sorts the leaderboard); curves: the run's tidy frame (run, epoch, step, split, metric, value).
    """
    with st.expander("📤 Publish to the class gallery", expanded=False):
        st.caption("Your nickname, this run's settings, seed, final metrics and curves become visible to the "
                   "class on the Gallery page. Nothing else is sent.")
        nickname = st.text_input("Nickname", max_chars=MAX_NICKNAME, key=NICKNAME)
        notes = st.text_area("Notes (optional)", max_chars=MAX_NOTES, key=f"{key}_notes", height=80)
        if not st.button("Publish", key=f"{key}_button", disabled=not nickname.strip()):
            return None
        store = open_gallery()
        if store is None:
            return None
        token = publish_token(page, exercise, config, seed, metrics)
        entry = NewEntry(exercise=exercise, page=page, nickname=nickname, config=config, seed=int(seed),
                         metrics=metrics, curves=curves_rows(curves), query=links.current_query(),
                         notes=notes, token=token, owner=publishing_session())
        try:
            entry_id = store.publish(entry)
        except GalleryError as exc:
            st.error(str(exc))
            return None
        st.success(f"Published as entry #{entry_id}: see it on the Gallery page.")
        return entry_id


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def compact_configs(configs: dict[str, Any]) -> dict[str, Any]:
    """Several runs' configs as {"common": settings they share, "<label>": what differs} (flat keys)."""
    from cnn_core.serialization import to_jsonable

    flat: dict[str, dict[str, Any]] = {}
    for label, config in configs.items():
        flat[label] = {}
        _flat("", to_jsonable(config), flat[label])
        optimizer = getattr(config, "optimizer", None)
        if flat[label].get("optimizer.lr", 0) is None and hasattr(optimizer, "resolved_lr"):
            # the default learning rate is stored as None: publish the number the run used, so that runs at the
            # default and at a chosen rate sit on one "learning rate" axis in the gallery
            flat[label]["optimizer.lr"] = float(optimizer.resolved_lr())
    if len(flat) == 1:
        return next(iter(flat.values()))
    keys = set.intersection(*(set(f) for f in flat.values()))
    common = {k: v for k, v in next(iter(flat.values())).items()
              if k in keys and all(f[k] == v for f in flat.values())}
    result: dict[str, Any] = {"common": common}
    for label, values in flat.items():
        result[label[:48]] = {k: v for k, v in values.items() if k not in common}
    return result


def publish_run(run: Any, page: str, exercise: str, test_accuracy: float | None = None, key: str = "publish") -> None:
    """The publish widget for one finished TrainingRun (Train page)."""
    from cnn_core import summarize_run

    summary = summarize_run(run.history)
    if summary.epochs == 0:
        return
    metrics = {"val_accuracy": summary.final_val_acc, "best_val_accuracy": summary.best_val_acc,
               "val_loss": summary.final_val_loss, "epochs": summary.epochs}
    if test_accuracy is not None:
        metrics["test_accuracy"] = test_accuracy
    publish_widget(page, exercise, compact_configs({"run": run.config}), run.config.seed, metrics,
                   run.frame("run"), key=key)


def publish_experiment(experiment: Any, page: str, exercise: str, key: str = "publish") -> None:
    """The publish widget for a finished comparison (pages.common.live.comparison.Experiment): best run first."""
    from cnn_core import RunStatus, summarize_run

    if not experiment.histories or experiment.status == RunStatus.STOPPED:
        return
    finals = {label: summarize_run(records).final_val_acc for label, records in experiment.histories.items()}
    finite = {label: acc for label, acc in finals.items() if acc == acc}
    if not finite:
        return
    best = max(finite, key=finite.get)
    metrics: dict[str, float] = {"val_accuracy": finite[best]}
    for label, acc in list(finals.items())[:30]:
        metrics[f"val_accuracy {label}"[:64]] = acc
    first = next(iter(experiment.configs.values()))
    publish_widget(page, exercise, compact_configs(experiment.configs) | {"best_run": best}, first.seed, metrics,
                   experiment.frame(), key=key)


def publish_search(configs: list, histories: dict[int, list], page: str, exercise: str, key: str = "publish") -> None:
    """The publish widget for a finished hyper-parameter search (trials = runs of one comparison)."""
    from types import SimpleNamespace

    from cnn_core import RunStatus, records_to_frame

    done = {f"trial {i}": (configs[i], records) for i, records in histories.items() if records}
    if not done:
        return
    search = SimpleNamespace(
        configs={label: config for label, (config, _) in done.items()},
        histories={label: records for label, (_, records) in done.items()}, status=RunStatus.FINISHED,
        frame=lambda: pd.concat([records_to_frame(list(records), run=label) for label, (_, records) in done.items()],
                                ignore_index=True))
    publish_experiment(search, page, exercise, key=key)
