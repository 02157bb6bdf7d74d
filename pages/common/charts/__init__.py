"""Altair charts shared by the experiment pages (data always comes from cnn_core's tidy frames)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from pages.common.charts.palette import OKABE_ITO, SPLIT_COLORS, SPLIT_DASHES, run_encodings
from pages.common.charts.specs import named


def legend_highlight(field: str, name: str | None = None, dim: float = 0.15
                     ) -> tuple[alt.Parameter, dict]:
    """A legend-bound selection on `field` and the opacity that dims every other entry.

    Use both: ``pick, opacity = legend_highlight("run")``, ``.encode(opacity=opacity).add_params(pick)``.
    `name` must be unique when several charts share one page's Vega view.
    """
    pick = alt.selection_point(fields=[field], bind="legend", name=name)
    return pick, alt.condition(pick, alt.value(1.0), alt.value(dim))


def smooth(frame: pd.DataFrame, weight: float) -> pd.DataFrame:
    """Exponential moving average of 'value' per run (weight 0 = raw, 0.99 = very smooth)."""
    if weight <= 0 or frame.empty:
        return frame
    out = frame.copy()
    out["value"] = out.groupby("run")["value"].transform(lambda v: v.ewm(alpha=1 - weight).mean())
    return out


def step_loss_data(tidy: pd.DataFrame, smoothing: float = 0.6) -> pd.DataFrame:
    """The rows of step_loss_view: training loss per step and run (run, step, value), smoothed."""
    data = tidy[(tidy["split"] == "train_step") & (tidy["metric"] == "loss")]
    return smooth(data, smoothing)[["run", "step", "value"]]


def step_loss_view(smoothed: bool = True, log_scale: bool = False, data=None) -> alt.Chart:
    """Training loss per step, one line per run, legend click highlights a run (data: step_loss_data's rows,
    or the dataset named "steps")."""
    pick, opacity = legend_highlight("run", "pick_step_run")
    return (alt.Chart(named("steps") if data is None else data,
                      title="Training loss per step" + (" (smoothed)" if smoothed else ""))
            .mark_line()
            .encode(x=alt.X("step:Q", title="step"),
                    y=alt.Y("value:Q", title="loss", scale=alt.Scale(type="log" if log_scale else "linear")),
                    **run_encodings("run"),
                    opacity=opacity,
                    tooltip=["run:N", "step:Q", alt.Tooltip("value:Q", format=".4f")])
            .add_params(pick).properties(height=300))


def step_loss_chart(tidy: pd.DataFrame, smoothing: float = 0.6, log_scale: bool = False) -> alt.Chart:
    """Training loss per step, one line per run, legend click highlights a run."""
    return step_loss_view(bool(smoothing), log_scale, step_loss_data(tidy, smoothing))


def epoch_metric_data(tidy: pd.DataFrame, metric: str = "accuracy", split: str = "val") -> pd.DataFrame:
    """The rows of epoch_metric_view (run, epoch, value)."""
    return tidy[(tidy["split"] == split) & (tidy["metric"] == metric)][["run", "epoch", "value"]]


def epoch_metric_view(metric: str = "accuracy", split: str = "val", data=None) -> alt.Chart:
    """A per-epoch metric, one line with points per run (data: epoch_metric_data's rows, or the dataset named
    "epochs")."""
    pick, opacity = legend_highlight("run", "pick_epoch_run")
    names = {"val": "Validation", "train": "Training"}
    return (alt.Chart(named("epochs") if data is None else data, title=f"{names.get(split, split)} {metric} per epoch")
            .mark_line(point=True)
            .encode(x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
                    y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
                    **run_encodings("run", shapes=True),
                    opacity=opacity,
                    tooltip=["run:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f")])
            .add_params(pick).properties(height=300))


def epoch_metric_chart(tidy: pd.DataFrame, metric: str = "accuracy", split: str = "val") -> alt.Chart:
    """A per-epoch metric (validation accuracy by default), one line with points per run."""
    return epoch_metric_view(metric, split, epoch_metric_data(tidy, metric, split))


def train_val_facets(tidy: pd.DataFrame, metric: str = "loss", columns: int = 3,
                     marks: pd.DataFrame | None = None) -> alt.Chart:
    """Train vs validation per run, one small chart per run, with the generalization gap shaded.

    `marks` (columns run, epoch, event) adds a dashed vertical rule per row, e.g. where early stopping stopped.
    """
    long = tidy[(tidy["metric"] == metric) & tidy["split"].isin(["train", "val"])]
    wide = long.pivot_table(index=["run", "epoch"], columns="split", values="value").reset_index()
    for split in ("train", "val"):
        if split not in wide:
            wide[split] = float("nan")
    # Facets need one dataset: the long rows carry their epoch's train and val values for the band.
    merged = long.merge(wide[["run", "epoch", "train", "val"]], on=["run", "epoch"], how="left")
    band = alt.Chart().mark_area(opacity=0.25, color=OKABE_ITO["vermillion"]).encode(
        x=alt.X("epoch:Q", title="epoch"), y=alt.Y("train:Q", title=metric), y2="val:Q")
    line = alt.Chart().mark_line(point=True).encode(
        x="epoch:Q", y=alt.Y("value:Q", title=metric),
        color=alt.Color("split:N", title="split", scale=SPLIT_COLORS),
        strokeDash=alt.StrokeDash("split:N", title="split", scale=SPLIT_DASHES),
        tooltip=["run", "split", "epoch", alt.Tooltip("value:Q", format=".4f")])
    layers = [band, line]
    if marks is not None and not marks.empty:  # extra rows without epoch/value: only the rule layer draws them
        merged = pd.concat([merged, marks.rename(columns={"epoch": "mark_epoch"})[["run", "mark_epoch", "event"]]],
                           ignore_index=True)
        layers.append(alt.Chart().transform_filter("isValid(datum.mark_epoch)").mark_rule(color=OKABE_ITO["bluish green"], size=2)
                      .encode(x="mark_epoch:Q", strokeDash=alt.StrokeDash("event:N", title="event"),
                              tooltip=["run", "event", alt.Tooltip("mark_epoch:Q", title="epoch")]))
    order = list(dict.fromkeys(tidy["run"]))  # facets in the order the runs were given
    return (alt.layer(*layers, data=merged).properties(width=260, height=200)
            .facet(facet=alt.Facet("run:N", title=None, sort=order), columns=columns)
            .properties(title=f"Training vs validation {metric} (shaded: the generalization gap)"))
