"""Run a side-by-side comparison on a page: progress, live chart, stop, cached results.

The runs are classifiers (TrainConfig) or another run kind (a RunConfig: the segmenter); either way they are
priced once, computed by an executor and kept in the process-wide run cache.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Hashable, Mapping
from typing import Callable

import altair as alt
import streamlit as st
import torch

from cnn_core import Record, RunStatus, TrainConfig
from cnn_core.experiments.compare import comparison_frame, price, run_steps
from cnn_core.experiments.executors import BatchedPool, EnsembleExecutor, ExecutorChoice, choose_executor, stream
from cnn_core.training.runs import Run, RunConfig

from pages.common.charts import epoch_metric_chart, step_loss_chart
from pages.common.errors import friendly_errors
from pages.common.live import admission, run_live
from pages.common.state import finished_runs, get_dataset


@dataclass
class Experiment:
    """One comparison in a session: its configs, the records so far, and final weights per run."""

    configs: dict[str, TrainConfig | RunConfig]
    histories: dict[str, list[Record]] = field(default_factory=dict)
    states: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # final weights (CPU)
    runs: dict[str, Run] = field(default_factory=dict)  # while they train in this process: their live models
    status: RunStatus = RunStatus.RUNNING  # then finished, or stopped (Stop, a rerun, the time limit)
    seconds: float = 0.0
    from_cache: tuple[str, ...] = ()
    executor: str = ""  # where the runs computed ("in-process", "local processes", "Ray")
    note: str = ""      # why not where asked (a Ray cluster that did not answer)

    def frame(self):
        """The tidy frame of all runs."""
        return comparison_frame(self.histories)


def _default_live_chart(experiment: Experiment) -> alt.Chart:
    frame = experiment.frame()
    # Two charts side by side; independent selections so Altair does not merge their parameters.
    return alt.hconcat(step_loss_chart(frame, smoothing=0.6), epoch_metric_chart(frame)).resolve_scale(
        color="shared")


def run_experiment(configs: dict[str, TrainConfig | RunConfig], key: str, start: bool,
                   live_chart: Callable[[Experiment], alt.Chart] | None = None,
                   live_draw: Callable[[Experiment, object], None] | None = None) -> Experiment | None:
    """Start (when `start`) or recall the session's experiment under `key`.

    While it trains, `live_draw(experiment, box)` redraws the live chart into the placeholder `box`, or else
    the Altair chart `live_chart(experiment)` is drawn there.

    Finished runs are cached process-wide by config, so an identical run is never trained twice.
    Pressing Stop (or any widget) interrupts the script; the partial records (and the weights of runs that
    computed in this process) stay in st.session_state and are shown with status 'stopped'.
    """
    previous: Experiment | None = st.session_state.get(key)
    if not start:
        if previous is not None and previous.status == RunStatus.RUNNING:
            previous.status = RunStatus.STOPPED  # the script was interrupted mid-run
            _keep_weights(previous)
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
            chart = live_chart or _default_live_chart
            _train_live(experiment, to_train, key,
                        live_draw or (lambda e, box: box.altair_chart(chart(e), width="stretch")))
    if experiment.status == RunStatus.RUNNING:
        experiment.status = RunStatus.FINISHED
    return experiment


def timing_caption(experiment: Experiment) -> str:
    """Where the runs computed and what their times mean, for the caption under a comparison's results."""
    if experiment.executor == EnsembleExecutor.name:
        # the records' clocks, not experiment.seconds: a Stop interrupts the script before that is set
        seconds = max((records[-1].seconds for records in experiment.histories.values() if records), default=0.0)
        return (f" The runs computed together as one batched network (their layers side by side, "
                f"{seconds:.1f} s in all), so each run's time is that shared time.")
    if experiment.executor == BatchedPool.name:
        return (" The runs computed in worker processes, each worker's runs as one batched network (their layers "
                "side by side), so a run's time is the shared time of its worker's network.")
    where = {"local processes": " The runs computed side by side in worker processes."}.get(experiment.executor, "")
    return where + " Time counts each run's own computing."


def plan_executor(configs: Mapping[Hashable, TrainConfig | RunConfig]) -> ExecutorChoice:
    """Where these runs should compute now: Ray when a cluster is configured, the worker pool when more than
    one admission slot (core) is free or when another job holds or waits for a slot, one batched network for runs of one
    architecture, else this process (ExecutorChoice.parallel: the slots to hold). Any run kind goes where the
    choice says (a segmenter pair to the pool too); only classifiers batch into one network."""
    control = admission()
    # crowded as soon as any job holds or waits for a slot: with every core taken and nobody queued yet, a
    # batched network in this process would train on the interpreter that every other tab's page runs on
    return choose_executor(len(configs), control.free(), configs, crowded=sum(control.counts()) > 0)


def _keep_weights(experiment: Experiment) -> None:
    """Copy the weights of runs that computed in this process (a stopped experiment's only weights) into
    `states`, and let the runs go (their optimizers and data are not kept in the session)."""
    for label, run in experiment.runs.items():
        if label not in experiment.states:
            experiment.states[label] = {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()}
    experiment.runs = {}


def _train_live(experiment: Experiment, to_train: dict[str, TrainConfig | RunConfig], key: str,
                live_draw: Callable[[Experiment, object], None]) -> None:
    first = next(iter(to_train.values()))
    data = get_dataset(first.dataset, first.per_class) if isinstance(first, TrainConfig) else None
    # priced once, before it queues (on the meta device: nothing allocated); the executor builds the runs unpriced
    priced = price(to_train, data)
    total = max(sum(run_steps(c, data) for c in to_train.values()), 1)
    choice = plan_executor(priced)
    experiment.executor = choice.executor.name
    if choice.note:
        st.info(choice.note, icon="🖥️")
        experiment.note = choice.note
    submissions: list = []  # stream() submits once admitted: the models are built then, not while queued
    done = {"steps": 0}

    def on_item(item: tuple[str, Record]) -> None:
        label, record = item
        if not experiment.runs and submissions:  # an in-process submission's runs: their models train here
            experiment.runs = dict(getattr(submissions[0], "runs", {}))
        experiment.histories[label].append(record)
        done["steps"] += record.kind == "step"
        if record.kind == "diverged":
            st.warning(f"{label}: {record.message}")

    outcome = run_live(
        stream(choice, priced, data, submissions), key, on_item=on_item, label="Training", every=0.7,
        draw_every=0.7, slots=choice.parallel,
        progress=lambda _: (done["steps"] / total,
                            f"Training {len(to_train)} run(s): step {done['steps']} of about {total}"),
        draw=lambda _, box: live_draw(experiment, box),
        urgent=lambda item: item[1].kind != "step",
        stop_help="Stop the runs; what has been computed so far stays on the page.")
    experiment.seconds = outcome.seconds
    if outcome.timed_out or not submissions:
        experiment.status = RunStatus.STOPPED
        _keep_weights(experiment)
        return  # a cut-off run is not a finished run: keep it out of the cache
    experiment.runs = {}
    cache = finished_runs()
    for label, result in submissions[0].outcomes.items():
        if result.status == RunStatus.FAILED or result.state is None:
            st.warning(f"{label}: {result.message or 'the run failed.'}")
            continue
        experiment.states[label] = result.state
        cache.put(to_train[label], (tuple(experiment.histories[label]), result.state))
