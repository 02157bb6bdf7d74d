"""Charts of the optimizer page: fixed run colours, diverged-run marks, the learning-rate schedule and the
2-D loss-surface charts (data always from cnn_core's tidy frames)."""
from __future__ import annotations

import warnings
from typing import Sequence

import altair as alt
import pandas as pd

from cnn_core.teaching.toy_surfaces import Surface

from pages.common.charts.specs import draw, named
from pages.common.charts import epoch_metric_data, epoch_metric_view, legend_highlight, step_loss_data, step_loss_view
from pages.common.charts.palette import color_scale, run_encodings

# ---------------------------------------------------------------- charts of the CNN runs


def run_colors(labels: Sequence[str]) -> alt.Scale:
    """The same (Okabe-Ito) colour for the same run in every chart, in the order the runs were listed."""
    return color_scale(labels)


def recolor(chart: alt.Chart, labels: Sequence[str], x: str | None = None, shapes: bool = False) -> alt.Chart:
    """A foundation chart (colour and dash by 'run') with the page's fixed run colours and dashes;
    `x` = a whole-number x field; `shapes` = its points also get a shape per run."""
    chart = chart.encode(**run_encodings("run", labels, shapes=shapes))
    if x is not None:  # steps and epochs are whole numbers: no '1.5' ticks on short runs
        chart = chart.encode(x=alt.X(f"{x}:Q", title=x, axis=alt.Axis(tickMinStep=1, format="d")))
    return chart


def divergence_ends(tidy: pd.DataFrame, diverged: Sequence[str], smoothing: float = 0.0) -> pd.DataFrame:
    """The last (smoothed, like the line) training-loss point of every diverged run (run, step, value, event)."""
    losses = step_loss_data(tidy[tidy["run"].isin(diverged)], smoothing)  # smooth only the diverged runs
    ends = losses.groupby("run", sort=False).tail(1)
    return ends.assign(event="diverged here")


def comparison_loss_view(labels: tuple[str, ...], smoothed: bool, log_scale: bool, marks: bool) -> alt.Chart:
    """Step loss in the page's run colours; with `marks`, a cross where each diverged run ended (datasets "steps"
    and "diverged")."""
    chart = recolor(step_loss_view(smoothed, log_scale), labels, "step")
    if not marks:
        return chart
    crosses = (alt.Chart(named("diverged")).mark_point(shape="cross", size=220, strokeWidth=3, filled=True)
               .encode(x="step:Q", y="value:Q", **run_encodings("run", labels),
                       tooltip=["run:N", "event:N", "step:Q"]))
    return alt.layer(chart, crosses)


def comparison_accuracy_view(labels: tuple[str, ...]) -> alt.Chart:
    """Validation accuracy per epoch in the page's run colours (dataset "epochs")."""
    return recolor(epoch_metric_view(), labels, "epoch", shapes=True)


def lr_schedule_data(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of lr_schedule_view: steps with a positive learning rate (run, step, lr)."""
    return frame.loc[frame["lr"] > 0, ["run", "step", "lr"]]


def lr_schedule_view(labels: tuple[str, ...]) -> alt.Chart:
    """Learning rate per step, one line per run (log scale: runs with different η stay readable; dataset "lr")."""
    pick, opacity = legend_highlight("run")
    return (alt.Chart(named("lr"), title="Learning rate per step (the schedule)")
            .mark_line()
            .encode(x=alt.X("step:Q", title="step"),
                    y=alt.Y("lr:Q", title="learning rate", scale=alt.Scale(type="log")),
                    **run_encodings("run", labels),
                    opacity=opacity,
                    tooltip=["run:N", "step:Q", alt.Tooltip("lr:Q", format=".3g")])
            .add_params(pick)
            # fit the width only: Streamlit's default "fit" squeezes the legend into the height, leaving the plot
            # a strip; with fit-x the 220 px below are the plot area's own
            .properties(height=220, autosize=alt.AutoSizeParams(type="fit-x", contains="padding")))


# ---------------------------------------------------------------- 2-D surfaces

def surface_chart(grid: pd.DataFrame, trajectories: pd.DataFrame, surface: Surface, size: int = 340) -> alt.LayerChart:
    """Log-coloured contour map of the surface with every run's path, its start and the minima.

    `size` is the width of the plot area; its height keeps x and y on the same scale.
    """
    spec = surface.spec
    (x0, x1), (y0, y1) = spec.x_range, spec.y_range
    height = int(size * (y1 - y0) / (x1 - x0))
    xs, ys = alt.Scale(domain=[x0, x1], nice=False, zero=False), alt.Scale(domain=[y0, y1], nice=False, zero=False)
    heat = (alt.Chart(grid[["x_lo", "x_hi", "y_lo", "y_hi", "loss", "log10_loss"]])
            .transform_calculate(band="floor(datum.log10_loss * 2) / 2")  # half-decade bands look like contours
            .mark_rect()
            .encode(x=alt.X("x_lo:Q", scale=xs, title="x"), x2="x_hi:Q",
                    y=alt.Y("y_lo:Q", scale=ys, title="y"), y2="y_hi:Q",
                    # cividis reads the same to colour-blind eyes; the runs' paths get a white halo below
                    color=alt.Color("band:Q", scale=alt.Scale(scheme="cividis"),
                                    legend=alt.Legend(title=["log₁₀", "loss"], orient="right", gradientLength=200)),
                    tooltip=[alt.Tooltip("loss:Q", format=".3g")]))
    pick, opacity = legend_highlight("run", dim=0.1)
    paths = trajectories[["run", "step", "x", "y", "loss"]]
    runs = list(dict.fromkeys(trajectories["run"]))
    colors = run_colors(runs)
    base = alt.Chart(paths).encode(
        x=alt.X("x:Q", scale=xs), y=alt.Y("y:Q", scale=ys), order="step:Q",
        # one legend column of short labels: the chart must stay within a half-page column
        **run_encodings("run", runs, legend=alt.Legend(orient="bottom", columns=1, labelLimit=260, symbolStrokeWidth=3)),
        opacity=opacity,
        tooltip=["run", "step", alt.Tooltip("x:Q", format=".4f"), alt.Tooltip("y:Q", format=".4f"),
                 alt.Tooltip("loss:Q", format=".4g")])
    halo = base.mark_line(strokeWidth=5, clip=True, color="white", opacity=0.8).encode(
        color=alt.value("white"), strokeDash=alt.value([1, 0]))  # keeps every path visible on dark and light cells
    line = base.mark_line(strokeWidth=2.5, clip=True).add_params(pick)
    dots = base.mark_circle(size=14, clip=True).encode(color=alt.Color("run:N", scale=colors, legend=None),
                                                       strokeDash=alt.value([1, 0]))
    start = trajectories.loc[trajectories["step"] == 0, ["x", "y"]].head(1).assign(what="start")
    start_mark = (alt.Chart(start).mark_point(shape="circle", size=160, color="white", strokeWidth=3, filled=False)
                  .encode(x=alt.X("x:Q", scale=xs), y=alt.Y("y:Q", scale=ys), tooltip=["what", "x", "y"]))
    minima = pd.DataFrame([{"x": m[0], "y": m[1], "what": "minimum"} for m in surface.minima()])
    minima_mark = (alt.Chart(minima).mark_point(shape="diamond", size=140, color="#ffd700", filled=True,
                                                stroke="black", strokeWidth=1)
                   .encode(x=alt.X("x:Q", scale=xs), y=alt.Y("y:Q", scale=ys), tooltip=["what", "x", "y"]))
    return (alt.layer(heat, halo, line, dots, start_mark, minima_mark)
            .resolve_scale(color="independent")
            .properties(width=size, height=height, title="Paths from the same start (○ start, ◆ minimum)",
                        autosize=alt.AutoSizeParams(type="pad")))


def surface_loss_chart(trajectories: pd.DataFrame) -> alt.Chart:
    """Loss against step for every 2-D run (log scale: the minimum is at 0)."""
    data = trajectories[["run", "step", "loss"]].copy()
    data["loss"] = data["loss"].clip(lower=1e-12)
    pick, opacity = legend_highlight("run")
    return (alt.Chart(data, title="Loss against step (log scale)")
            .mark_line()
            .encode(x=alt.X("step:Q", title="step"),
                    y=alt.Y("loss:Q", title="loss", scale=alt.Scale(type="log")),
                    **run_encodings("run", list(dict.fromkeys(data["run"])),
                                    legend=alt.Legend(orient="bottom", columns=1, labelLimit=400, symbolStrokeWidth=3)),
                    opacity=opacity,
                    tooltip=["run", "step", alt.Tooltip("loss:Q", format=".4g")])
            .add_params(pick).properties(height=360))


# ---------------------------------------------------------------- the comparison's charts and table

def comparison_live_view(labels: tuple[str, ...], smoothed: bool) -> alt.HConcatChart:
    """Step loss | epoch accuracy, redrawn while the runs train (datasets "steps" and "epochs")."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Automatically deduplicated selection parameter")
        return comparison_loss_view(labels, smoothed, False, False) | comparison_accuracy_view(labels)


def draw_live_comparison(box, frame: pd.DataFrame, labels: Sequence[str], smoothing: float) -> None:
    """The live chart of a comparison into `box`: its spec built once per shape, this draw's rows attached."""
    draw(box, comparison_live_view, (tuple(labels), bool(smoothing)),
         {"steps": step_loss_data(frame, smoothing), "epochs": epoch_metric_data(frame)}, width="stretch")


def draw_comparison_results(left, right, frame: pd.DataFrame, labels: Sequence[str], diverged: Sequence[str],
                            smoothing: float, log_scale: bool) -> None:
    """A finished comparison's step loss (a cross where a run diverged) into `left`, its accuracy into `right`."""
    labels = tuple(labels)
    draw(left, comparison_loss_view, (labels, bool(smoothing), log_scale, bool(diverged)),
         {"steps": step_loss_data(frame, smoothing), "diverged": divergence_ends(frame, diverged, smoothing)},
         width="stretch")
    draw(right, comparison_accuracy_view, (labels,), {"epochs": epoch_metric_data(frame)}, width="stretch")


def draw_lr_schedule(box, frame: pd.DataFrame, labels: Sequence[str]) -> None:
    """The planned learning rate per step of every run (lr_schedule_frame's rows) into `box`."""
    draw(box, lr_schedule_view, (tuple(labels),), {"lr": lr_schedule_data(frame)}, width="stretch")


def summary_display(table: pd.DataFrame, target: float) -> pd.io.formats.style.Styler:
    """summary_table's numbers as the page shows them: percentages, '—' for missing, diverged / not learning in colour."""
    def text(values, fmt: str) -> list[str]:
        """Each value formatted, '—' where it is missing."""
        return [format(v, fmt) if pd.notna(v) else "—" for v in values]

    shown = pd.DataFrame({
        "run": table["run"], "status": table["status"],
        "final val acc %": text(100 * table["final_val_acc"], ".1f"),
        "best val acc %": text(100 * table["best_val_acc"], ".1f"),
        f"steps to loss ≤ {target:g}": [f"{v:.0f}" if pd.notna(v) else "not reached"
                                         for v in table["steps_to_target"]],
        "final train loss": text(table["final_train_loss"], ".3f"), "time (s)": text(table["seconds"], ".1f")})
    flagged = {"diverged": "color: #d62728; font-weight: bold", "not learning": "color: #e6550d; font-weight: bold"}
    return shown.style.map(lambda v: flagged.get(v, ""), subset=["status"])
