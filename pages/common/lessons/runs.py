"""What a target or fix exercise is checked on: the student's own last run, or the page's current setting.

Each page keeps its runs in its own session state; this module knows where (Train: one TrainingRun;
Weight init, Regularization, Optimizers: a comparison Experiment with one run per label; Hyper-parameter
tuning: the search's trials).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from cnn_core.experiments.compare import comparison_frame
from cnn_core.lessons import run_metrics

# page file -> (session-state key, how the page stores its run there)
RUN_SOURCES: dict[str, tuple[str, str]] = {
    "8_Train.py": ("train_run", "training_run"),
    "5_Weight_Initialization.py": ("init_experiment", "experiment"),
    "6_Regularization.py": ("reg_experiment", "experiment"),
    "7_Optimizers.py": ("opt_cnn_experiment", "experiment"),
    "9_Hyperparameter_Tuning.py": ("hp_search", "search"),
}


def _param_count(model: Any) -> float | None:
    try:
        return float(sum(p.numel() for p in model.parameters()))
    except Exception:  # a run without a model (restored records only): no parameter count
        return None


def page_runs(page: str) -> dict[str, dict[str, float]]:
    """The metrics of each of this session's runs on the page ({label: metrics}); empty before a run."""
    key, kind = RUN_SOURCES.get(page, ("", ""))
    stored = st.session_state.get(key) if key else None
    if stored is None:
        return {}
    runs: dict[str, dict[str, float]] = {}
    if kind == "training_run" and getattr(stored, "history", None):
        metrics = run_metrics(comparison_frame({"run": list(stored.history)}))
        params = _param_count(getattr(stored, "model", None))
        if params is not None:
            metrics["params"] = params
        runs["your last run"] = metrics
    elif kind == "experiment":
        for label, records in (getattr(stored, "histories", None) or {}).items():
            if records:
                runs[str(label)] = run_metrics(comparison_frame({str(label): list(records)}))
    elif kind == "search" and isinstance(stored, Mapping):
        trials = {f"trial {i + 1}": list(r) for i, r in (stored.get("histories") or {}).items() if r}
        for label, records in trials.items():
            runs[label] = run_metrics(comparison_frame({label: records}))
        if runs:  # the search's answer is its best trial
            best = max(runs.values(), key=lambda m: m.get("best_val_accuracy", m.get("val_accuracy", 0.0)))
            runs = {"best trial of your search": best, **runs}
    return runs


def current_setting(keys: list[str]) -> dict[str, str]:
    """The page's current values of these widget keys, written as a lesson link writes them."""
    setting: dict[str, str] = {}
    for key in keys:
        if key not in st.session_state:
            continue
        value = st.session_state[key]
        if isinstance(value, bool):
            setting[key] = str(value).lower()
        elif isinstance(value, (list, tuple)):
            setting[key] = ",".join(str(v) for v in value)
        else:
            setting[key] = str(value)
    return setting


def describe(metrics: Mapping[str, float], names: list[str]) -> str:
    """'val_accuracy = 0.981, params = 29,000' for the named metrics a run has."""
    shown = [f"{n} = {metrics[n]:,.4g}" for n in names if n in metrics]
    return ", ".join(shown) or "no metrics yet"
