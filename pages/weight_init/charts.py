"""Charts of the Weight initialization page: a statistic per layer and per-layer histograms per scheme."""
from __future__ import annotations

import json
import textwrap
from typing import Sequence

import altair as alt
import pandas as pd
import streamlit as st

from pages.common import links
from pages.common.charts import legend_highlight
from pages.common.charts.palette import color_scale, dash_scale, shape_scale

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


def scheme_colors(labels: Sequence[str]) -> alt.Scale:
    """One (Okabe-Ito) colour per scheme, the same on every chart of the page."""
    return color_scale(labels)


def depth_chart(frame: pd.DataFrame, y: str, title: str, log: bool, colors: alt.Scale) -> alt.Chart:
    """One line per scheme over the layers, on a plot area of its own height (the legend goes below it)."""
    data = frame.copy()
    if log:  # a log axis cannot show 0 (the zero init): those points are left out, the caption says so
        data = data[data[y] > 0]
    pick, opacity = legend_highlight("label")
    # Vanishing and exploding values span 20 decades: one label per few decades ("1e-12"), never overlapping.
    y_axis = (alt.Axis(format="~e", labelOverlap="greedy", tickCount=6, grid=True) if log
              else alt.Axis(format="~g", labelOverlap="greedy"))
    heading = alt.TitleParams(textwrap.wrap(title, 44))  # two short lines rather than one cut off on a phone
    return (alt.Chart(data, title=heading).mark_line(point=True)
            .encode(x=alt.X("layer:Q", title="layer (1 = first)", axis=alt.Axis(tickMinStep=1, labelOverlap="greedy")),
                    y=alt.Y(f"{y}:Q", title=f"{y} (log scale)" if log else y, axis=y_axis,
                            scale=alt.Scale(type="log" if log else "linear")),
                    color=alt.Color("label:N", title=None, scale=colors,
                                    legend=alt.Legend(labelLimit=260, orient="bottom", columns=1)),
                    # a dash and a point shape per scheme: the lines differ without colour too
                    strokeDash=alt.StrokeDash("label:N", title=None, scale=dash_scale(colors.domain),
                                              legend=alt.Legend(labelLimit=260, orient="bottom", columns=1)),
                    shape=alt.Shape("label:N", title=None, scale=shape_scale(colors.domain),
                                    legend=alt.Legend(labelLimit=260, orient="bottom", columns=1)),
                    opacity=opacity,
                    tooltip=["label", "layer_name", alt.Tooltip(f"{y}:Q", format=".3g"),
                             alt.Tooltip("mean:Q", format=".3g")])
            .add_params(pick)
            # Streamlit's default autosize "fit" squeezes the legend into the height and leaves the plot a few
            # px tall: fit the width only, so the height below is the plot area's own.
            .properties(height=240, autosize=alt.AutoSizeParams(type="fit-x", contains="padding")))


def ridgeline(hist: pd.DataFrame, title: str, labels: Sequence[str], colors: alt.Scale) -> alt.Chart:
    """One view (so it can fill the container's width): a column per scheme, a row per layer; each column keeps
    one x range for all its layers and each cell's heights are on a square-root scale, scaled to its own peak."""
    ranges = hist.groupby("label").agg(lo=("left", "min"), hi=("right", "max"))
    order = [k for k in labels if k in ranges.index]
    layers = sorted(hist["layer"].unique())
    names = hist.drop_duplicates("layer").set_index("layer")["layer_name"].reindex(layers).tolist()
    data = hist.copy()
    col = data["label"].map({k: i for i, k in enumerate(order)})
    lo, hi = data["label"].map(ranges["lo"]), data["label"].map(ranges["hi"])
    data["xpos"] = col + 0.06 + 0.88 * (data["center"] - lo) / (hi - lo).where(hi > lo, 1.0)  # column i: [i, i+1]
    root = data["fraction"].clip(lower=0) ** 0.5
    peak = root.groupby([data["label"], data["layer"]]).transform("max").where(lambda v: v > 0, 1.0)
    data["base"] = data["layer"].map({layer: r + 0.95 for r, layer in enumerate(layers)})  # row r: [r, r+1]
    data["top"] = data["base"] - 0.85 * root / peak
    data["cell"] = data["label"] + "|" + data["layer"].astype(str)
    heads = [[k, f"x from {ranges.lo[k]:.2g} to {ranges.hi[k]:.2g}"] for k in order]  # 2-line column headers
    x_axis = alt.Axis(orient="top", values=[i + 0.5 for i in range(len(order))], grid=False, ticks=False,
                      domain=False, labelFontSize=10, labelOverlap=False,
                      labelLimit=alt.ExprRef(f"width / {max(len(order), 1)} - 6"),  # a header per column
                      labelExpr=f"{json.dumps(heads)}[floor(datum.value)]")
    y_axis = alt.Axis(values=[r + 0.5 for r in range(len(layers))], grid=False, ticks=False, domain=False,
                      labelFontSize=10, labelLimit=120, labelExpr=f"{json.dumps(names)}[floor(datum.value)]")
    return (alt.Chart(data, title=title).mark_area(interpolate="step", opacity=0.85)
            .encode(x=alt.X("xpos:Q", title=None, axis=x_axis, scale=alt.Scale(domain=[0, len(order)], nice=False)),
                    y=alt.Y("base:Q", title=None, axis=y_axis,
                            scale=alt.Scale(domain=[0, len(layers)], reverse=True, nice=False)),
                    y2="top:Q", detail="cell:N",
                    color=alt.Color("label:N", legend=None, scale=colors),
                    tooltip=["label", "layer_name", alt.Tooltip("left:Q", format=".3g"),
                             alt.Tooltip("right:Q", format=".3g"), alt.Tooltip("fraction:Q", format=".2%")])
            .properties(height=min(480, 28 * len(layers) + 20)))


def line_charts(stats, net, kind: str, stat: str, log: bool) -> None:
    """Forward and backward statistic per layer, then dead/saturated units (net: the page's Network)."""
    colors = scheme_colors(net.labels.values())
    acts = stats.layers[stats.layers["kind"] == "activation"]
    grads = stats.layers[stats.layers["kind"] == kind]
    left, right = ui.columns(2)
    left.altair_chart(depth_chart(acts, stat, f"Forward: {stat} of each layer's activations", log, colors),
                      width="stretch")
    right.altair_chart(depth_chart(grads, stat, f"Backward: {stat} of the {kind}s", log, colors), width="stretch")
    st.caption("Kaiming (ReLU) and Xavier (tanh) keep a flat line; std 0.01 shrinks by a constant factor per "
               "layer (vanishing), std 1 grows (exploding). The zero init has std 0 everywhere (not drawn on "
               "a log axis). The last point is the output layer (logits).")
    hidden = acts[~acts["layer_name"].str.endswith("(logits)")]
    left, right = ui.columns(2)  # a second row: on a phone, forward and backward stay together above
    if net.activation == "relu":
        left.altair_chart(depth_chart(hidden, "dead_units", "Dead ReLUs: units that output 0 for every image",
                                      False, colors), width="stretch")
        right.altair_chart(depth_chart(hidden, "zero_fraction", "Fraction of ReLU outputs that are exactly 0",
                                       False, colors), width="stretch")
    else:
        left.altair_chart(depth_chart(hidden, "saturated", f"Saturated {net.activation} outputs (flat tails, "
                                      "tiny gradient)", False, colors), width="stretch")
        right.altair_chart(depth_chart(hidden, "mean", "Mean activation per layer", False, colors), width="stretch")
