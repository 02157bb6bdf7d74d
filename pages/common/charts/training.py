"""Altair charts of the Train and Hyper-parameter Tuning pages (data: cnn_core's tidy frames)."""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from pages.common.charts import smooth
from pages.common.charts.palette import OKABE_ITO, SPLIT_COLORS, SPLIT_DASHES, color_scale


def live_curves(tidy: pd.DataFrame, smoothing: float = 0.6) -> list[alt.Chart]:
    """Three charts: step loss (raw and smoothed), per-epoch train/val loss, per-epoch train/val accuracy."""
    steps = tidy[(tidy["split"] == "train_step") & (tidy["metric"] == "loss")]
    raw = alt.Chart(steps).mark_line(opacity=0.25, color=OKABE_ITO["blue"]).encode(
        x=alt.X("step:Q", title="optimizer step"), y=alt.Y("value:Q", title="training loss"),
        tooltip=["epoch", "step", alt.Tooltip("value:Q", title="loss", format=".4f")])
    smoothed = alt.Chart(smooth(steps, smoothing)).mark_line(color=OKABE_ITO["blue"]).encode(x="step:Q", y="value:Q")
    step_chart = (raw + smoothed).properties(
        title=alt.TitleParams("Loss per step", subtitle="training batches; faint: raw, line: smoothed"), height=260)
    epochs = tidy[tidy["split"].isin(["train", "val"])]

    def per_epoch(metric: str) -> alt.Chart:
        return alt.Chart(epochs[epochs["metric"] == metric]).mark_line(point=True).encode(
            x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
            color=alt.Color("split:N", scale=SPLIT_COLORS, title="split"),
            strokeDash=alt.StrokeDash("split:N", scale=SPLIT_DASHES, title="split"),
            tooltip=["split", "epoch", alt.Tooltip("value:Q", title=metric, format=".4f")],
        ).properties(title=alt.TitleParams(f"{metric.capitalize()} per epoch", subtitle="training vs validation"),
                     height=260)

    return [step_chart, per_epoch("loss"), per_epoch("accuracy")]


def confusion_heatmap(confusion: pd.DataFrame) -> alt.LayerChart:
    """K x K heatmap of counts (rows: true class, columns: predicted), the count written in each cell."""
    order = list(confusion["true"].cat.categories) if hasattr(confusion["true"], "cat") else None
    data = confusion.assign(true=confusion["true"].astype(str), predicted=confusion["predicted"].astype(str),
                            correct=confusion["true_index"] == confusion["predicted_index"])
    base = alt.Chart(data).encode(
        x=alt.X("predicted:N", sort=order, title="predicted class", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("true:N", sort=order, title="true class"))
    cells = base.mark_rect().encode(
        color=alt.Color("fraction:Q", title="share of true class",  # viridis: even in greyscale, dark = many
                        scale=alt.Scale(scheme="viridis", reverse=True, domain=[0, 1])),
        tooltip=[alt.Tooltip("true:N", title="true"), alt.Tooltip("predicted:N", title="predicted"),
                 alt.Tooltip("count:Q", title="images"), alt.Tooltip("fraction:Q", title="share", format=".1%")])
    text = base.mark_text(fontSize=11).encode(
        text=alt.condition(alt.datum.count > 0, alt.Text("count:Q"), alt.value("")),
        color=alt.condition(alt.datum.fraction > 0.5, alt.value("white"), alt.value("black")))
    return (cells + text).properties(title="Confusion matrix on the test split (rows: truth)", height=360, width=380)


def per_class_bars(per_class: pd.DataFrame) -> alt.Chart:
    """Horizontal bars of the accuracy of each class."""
    return alt.Chart(per_class).mark_bar(color=OKABE_ITO["bluish green"]).encode(
        x=alt.X("accuracy:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title="accuracy"),
        y=alt.Y("class:N", sort=list(per_class["class"]), title="class"),
        tooltip=["class", "samples", "correct", alt.Tooltip("accuracy:Q", format=".1%")],
    ).properties(title="Accuracy per class (test split)", height=360, width=300)


def loss_explainer_charts(curves: pd.DataFrame, chosen: str) -> list[alt.Chart]:
    """Each loss, and its gradient on the true logit, against the probability of the true class."""
    data = curves.assign(chosen=curves["loss"] == chosen)
    charts = []
    for quantity, title, y_title in (("loss", "Loss of one sample", "loss"),
                                     ("gradient", "Gradient on the true class's logit", "dL / dz_true")):
        pick = alt.selection_point(fields=["label"], bind="legend", name=f"pick_{quantity}")
        charts.append(alt.Chart(data[data["quantity"] == quantity]).mark_line().encode(
            x=alt.X("p_true:Q", title="predicted probability of the true class", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("value:Q", title=y_title),
            color=alt.Color("label:N", title="loss (click to highlight)", scale=color_scale(),
                            legend=alt.Legend(orient="bottom", columns=2, labelLimit=260)),
            strokeWidth=alt.condition(alt.datum.chosen, alt.value(4), alt.value(1.5)),
            strokeDash=alt.condition(alt.datum.loss == "nll", alt.value([6, 4]), alt.value([1, 0])),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12)),
            tooltip=["label", alt.Tooltip("p_true:Q", format=".2f"), alt.Tooltip("value:Q", format=".4f")],
        ).add_params(pick).properties(title=title, height=440))  # the height includes the legend below
    return charts


def overfit_curve(frame: pd.DataFrame, target: float) -> alt.LayerChart:
    """Loss on the single batch per step, with the target as a dashed rule."""
    line = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("step:Q", title="step"), y=alt.Y("loss:Q", title="loss on the batch"),
        tooltip=["step", alt.Tooltip("loss:Q", format=".4f"), alt.Tooltip("accuracy:Q", format=".0%")])
    rule = alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(strokeDash=[4, 4], color=OKABE_ITO["vermillion"]).encode(
        y="target:Q", tooltip=[alt.Tooltip("target:Q", format=".4f")])
    return (line + rule).properties(title="Overfitting one batch", height=240)


def gradient_bars(frame: pd.DataFrame) -> alt.Chart:
    """Gradient norm per layer (log scale), in network order; bars start a decade below the smallest norm."""
    positive = frame["grad_norm"][frame["grad_norm"] > 0]
    base = float(positive.min()) / 10 if len(positive) else 1e-12
    data = frame.assign(base=base, shown=frame["grad_norm"].clip(lower=base))
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("base:Q", scale=alt.Scale(type="log"), title="gradient norm (log scale)"),
        x2="shown:Q",
        y=alt.Y("layer:N", sort=list(frame["layer"]), title="layer"),
        color=alt.Color("type:N", title="layer type", scale=color_scale()),
        tooltip=["layer", "type", "parameters", alt.Tooltip("grad_norm:Q", format=".3e"),
                 alt.Tooltip("weight_norm:Q", format=".3f"), alt.Tooltip("ratio:Q", format=".2e")],
    ).properties(title="Gradient norm per layer after one backward pass", height=80 + 36 * len(frame))


def lr_range_chart(frame: pd.DataFrame, suggested: float | None, min_loss_lr: float | None) -> alt.LayerChart:
    """Loss against learning rate (log x): raw points, the smoothed curve, and the suggestion as a rule."""
    data = frame.dropna(subset=["loss"])
    raw = alt.Chart(data).mark_circle(size=18, opacity=0.35, color=OKABE_ITO["blue"]).encode(
        x=alt.X("lr:Q", scale=alt.Scale(type="log"), title="learning rate (log scale)"),
        y=alt.Y("loss:Q", title="training loss", scale=alt.Scale(zero=False)),
        tooltip=["step", alt.Tooltip("lr:Q", format=".2e"), alt.Tooltip("loss:Q", format=".4f")])
    line = alt.Chart(data).mark_line(color=OKABE_ITO["blue"]).encode(x="lr:Q", y="smoothed:Q")
    layers = [raw, line]
    marks = []
    if suggested is not None and not math.isnan(suggested):
        marks.append(("suggested", suggested))
    if min_loss_lr is not None and not math.isnan(min_loss_lr):
        marks.append(("lowest smoothed loss", min_loss_lr))
    if marks:
        rules = pd.DataFrame(marks, columns=["mark", "lr"])
        layers.append(alt.Chart(rules).mark_rule(strokeWidth=2).encode(
            x="lr:Q", color=alt.Color("mark:N", scale=alt.Scale(domain=["suggested", "lowest smoothed loss"],
                                                                 range=[OKABE_ITO["bluish green"],
                                                                        OKABE_ITO["vermillion"]]), title=None),
            strokeDash=alt.condition(alt.datum.mark == "suggested", alt.value([1, 0]), alt.value([5, 4])),
            tooltip=["mark", alt.Tooltip("lr:Q", format=".2e")]))
    return alt.layer(*layers).properties(title="Learning-rate range test", height=340)


STATUS_COLORS = alt.Scale(domain=["finished", "early stopped", "stopped", "diverged"],
                          range=[OKABE_ITO["blue"], OKABE_ITO["bluish green"], "#9d9d9d", OKABE_ITO["vermillion"]])
STATUS_SHAPES = alt.Scale(domain=STATUS_COLORS.domain, range=["circle", "square", "triangle-up", "cross"])


def search_scatter(results: pd.DataFrame) -> list[alt.Chart]:
    """Validation accuracy against each hyper-parameter: one small chart each, one point per trial."""
    common = [alt.Tooltip("trial:Q"), alt.Tooltip("lr:Q", format=".2e"), "batch_size",
              alt.Tooltip("weight_decay:Q", format=".1e"), "status",
              alt.Tooltip("val_accuracy:Q", format=".2%")]
    scales = {"lr": alt.Scale(type="log", padding=24), "batch_size": alt.Scale(type="log", base=2, padding=24),
              "weight_decay": alt.Scale(type="symlog", constant=1e-6, padding=24)}
    titles = {"lr": "learning rate", "batch_size": "batch size", "weight_decay": "weight decay"}
    charts = []
    for name in ("lr", "batch_size", "weight_decay"):
        ticks = sorted(float(v) for v in results[name].dropna().unique())  # label exactly the values tried
        charts.append(alt.Chart(results).mark_point(size=90, filled=True, opacity=0.9).encode(
            x=alt.X(f"{name}:Q", scale=scales[name], title=titles[name],
                    axis=alt.Axis(values=ticks, format="~g", labelOverlap=True)),
            y=alt.Y("val_accuracy:Q", title="validation accuracy", scale=alt.Scale(zero=False, padding=12),
                    axis=alt.Axis(format="%")),
            color=alt.Color("status:N", scale=STATUS_COLORS, legend=None),
            shape=alt.Shape("status:N", scale=STATUS_SHAPES, legend=None), tooltip=common,
        ).properties(title=titles[name].capitalize(), height=260))
    return charts
