"""Charts of the Weight initialization page: a statistic per layer and per-layer histograms per scheme."""
from __future__ import annotations

from typing import Sequence

import altair as alt
import pandas as pd

from .charts import legend_highlight


def scheme_colors(labels: Sequence[str]) -> alt.Scale:
    """One colour per scheme, the same on every chart of the page."""
    return alt.Scale(domain=list(labels), scheme="tableau10")


def depth_chart(frame: pd.DataFrame, y: str, title: str, log: bool, colors: alt.Scale) -> alt.Chart:
    """One line per scheme over the layers."""
    data = frame.copy()
    if log:  # a log axis cannot show 0 (the zero init): those points are left out, the caption says so
        data = data[data[y] > 0]
    pick, opacity = legend_highlight("label")
    return (alt.Chart(data, title=title).mark_line(point=True)
            .encode(x=alt.X("layer:Q", title="layer (1 = first)", axis=alt.Axis(tickMinStep=1)),
                    y=alt.Y(f"{y}:Q", title=y, scale=alt.Scale(type="log" if log else "linear")),
                    color=alt.Color("label:N", title=None, scale=colors, legend=alt.Legend(labelLimit=200, orient="bottom", columns=2)),
                    opacity=opacity,
                    tooltip=["label", "layer_name", alt.Tooltip(f"{y}:Q", format=".3g"),
                             alt.Tooltip("mean:Q", format=".3g")])
            .add_params(pick).properties(height=250))


def ridgeline(hist: pd.DataFrame, title: str, labels: Sequence[str], colors: alt.Scale) -> alt.Chart:
    """Small multiples: one row per layer, one column per scheme; each column keeps one x range for all layers."""
    ranges = hist.groupby("label").agg(lo=("left", "min"), hi=("right", "max"))
    heads = {label: f"{label}|x from {r.lo:.2g} to {r.hi:.2g}" for label, r in ranges.iterrows()}  # 2 lines
    width = max(90, min(150, 600 // max(len(heads), 1)))
    data = hist.assign(panel=hist["label"].map(heads))
    return (alt.Chart(data).mark_area(interpolate="step", opacity=0.85)
            .encode(x=alt.X("center:Q", title=None, axis=None),
                    y=alt.Y("fraction:Q", title=None, axis=None, stack=None, scale=alt.Scale(type="sqrt")),
                    color=alt.Color("label:N", legend=None, scale=colors),
                    tooltip=["label", "layer_name", alt.Tooltip("left:Q", format=".3g"),
                             alt.Tooltip("right:Q", format=".3g"), alt.Tooltip("fraction:Q", format=".2%")])
            .properties(width=width, height=30)
            .facet(row=alt.Row("layer_name:N", title=None, sort=alt.SortField("layer"),
                               header=alt.Header(labelAngle=0, labelAlign="left", labelFontSize=10)),
                   column=alt.Column("panel:N", title=None, sort=[heads[k] for k in labels if k in heads],
                                     header=alt.Header(labelFontSize=10, labelLimit=width + 10,
                                                       labelExpr="split(datum.value, '|')")),
                   spacing={"row": 2, "column": 8})
            .resolve_scale(x="independent", y="independent")
            .properties(title=title))
