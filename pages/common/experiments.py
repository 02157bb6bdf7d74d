"""Run a side-by-side comparison on a page: progress, live chart, stop, cached results."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import altair as alt
import streamlit as st
import torch

from cnn_core import Record, TrainConfig
from cnn_core.experiments.compare import comparison_frame, interleave, make_runs

from .charts import epoch_metric_chart, step_loss_chart
from .errors import friendly_errors
from .state import finished_runs, get_dataset, training_slots


@dataclass
class Experiment:
    """One comparison in a session: its configs, the records so far, and final weights per run."""

    configs: dict[str, TrainConfig]
    histories: dict[str, list[Record]] = field(default_factory=dict)
    states: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # final weights (CPU)
    status: str = "running"  # running, done, stopped
    seconds: float = 0.0
    from_cache: tuple[str, ...] = ()

    def frame(self):
        """The tidy frame of all runs."""
        return comparison_frame(self.histories)


def _default_live_chart(experiment: Experiment) -> alt.Chart:
    frame = experiment.frame()
    # Two charts side by side; independent selections so Altair does not merge their parameters.
    return alt.hconcat(step_loss_chart(frame, smoothing=0.6), epoch_metric_chart(frame)).resolve_scale(
        color="shared")


def run_experiment(configs: dict[str, TrainConfig], key: str, start: bool,
                   live_chart: Callable[[Experiment], alt.Chart] | None = None) -> Experiment | None:
    """Start (when `start`) or recall the session's experiment under `key`.

    Finished runs are cached process-wide by config, so an identical run is never trained twice.
    Pressing Stop (or any widget) interrupts the script; the partial records stay in
    st.session_state and are shown with status 'stopped'.
    """
    previous: Experiment | None = st.session_state.get(key)
    if not start:
        if previous is not None and previous.status == "running":
            previous.status = "stopped"  # the script was interrupted mid-run
        return previous
    experiment = Experiment(configs={k: v for k, v in configs.items()},
                            histories={label: [] for label in configs})
    st.session_state[key] = experiment
    cache = finished_runs()
    to_train = {}
    for label, cfg in configs.items():
        hit = cache.get(cfg)
        if hit is not None:
            experiment.histories[label] = list(hit[0])
            experiment.states[label] = hit[1]
        else:
            to_train[label] = cfg
    experiment.from_cache = tuple(label for label in configs if label not in to_train)
    if to_train:
        with friendly_errors("Training"):
            _train_live(experiment, to_train, key, live_chart or _default_live_chart)
    if experiment.status == "running":
        experiment.status = "done"
    return experiment


def _train_live(experiment: Experiment, to_train: dict[str, TrainConfig], key: str,
                live_chart: Callable[[Experiment], alt.Chart]) -> None:
    first = next(iter(to_train.values()))
    data = get_dataset(first.dataset, first.per_class)
    runs = make_runs(to_train, data)
    total = sum(run.steps_per_epoch * run.config.epochs for run in runs.values())
    stop_box = st.empty()  # the Stop button exists only while the runs train
    stop_box.button("Stop", key=f"{key}_stop", help="Stop the runs; what has been computed so far stays on the page.")
    status = st.empty()
    slots = training_slots()
    while not slots.acquire(timeout=0.5):
        status.info("Queued: the server is busy with other students' trainings; yours starts when one ends.")
    try:
        status.empty()
        progress = st.progress(0.0, text="Training...")
        chart_box = st.empty()
        start = time.perf_counter()
        done_steps, last_draw = 0, 0.0
        for label, record in interleave(runs):
            experiment.histories[label].append(record)
            if record.kind == "step":
                done_steps += 1
            now = time.perf_counter()
            if record.kind != "step" or now - last_draw > 0.7:  # redraw at most ~1.5 times a second
                last_draw = now
                progress.progress(min(done_steps / max(total, 1), 1.0),
                                  text=f"Training {len(runs)} run(s): step {done_steps} of about {total}")
                chart_box.altair_chart(live_chart(experiment), width="stretch")
            if record.kind == "diverged":
                st.warning(f"{label}: {record.message}")
        experiment.seconds = time.perf_counter() - start
        progress.progress(1.0, text=f"Done in {experiment.seconds:.1f} s")
        chart_box.empty()
        stop_box.empty()
    finally:
        slots.release()
    cache = finished_runs()
    for label, run in runs.items():
        state = {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}
        experiment.states[label] = state
        cache.put(run.config, (tuple(experiment.histories[label]), state))


def total_steps_estimate(config: TrainConfig, n_train: int) -> int:
    """Optimizer steps a config will take on n_train samples."""
    return math.ceil(n_train / config.batch_size) * config.epochs
