"""Colours, dashes and point shapes that tell runs apart for every student, colour-blind ones included.

The colours are Okabe & Ito's palette ("Color Universal Design", 2008), distinguishable with the common colour
vision deficiencies; black is left out because it vanishes on the dark theme, and yellow comes last because it
is faint on a white background. Colour alone still fails in greyscale prints and for some students, so charts
with several runs also give each run its own stroke dash (lines) or point shape (points).
"""
from __future__ import annotations

from typing import Sequence

import altair as alt
import matplotlib
import numpy as np

OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "bluish green": "#009E73",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "sky blue": "#56B4E9",
    "yellow": "#F0E442",
}
PALETTE: tuple[str, ...] = tuple(OKABE_ITO.values())  # one colour per run, in the order runs are listed

# Solid first, then patterns that stay distinct at a 2 px stroke width.
DASHES: tuple[list[float], ...] = ([1, 0], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [12, 3, 2, 3, 2, 3], [1, 6])
SHAPES: tuple[str, ...] = ("circle", "square", "triangle-up", "diamond", "cross", "triangle-down", "wedge")

SPLIT_COLORS = alt.Scale(domain=["train", "val"], range=[OKABE_ITO["blue"], OKABE_ITO["orange"]])
SPLIT_DASHES = alt.Scale(domain=["train", "val"], range=[DASHES[0], DASHES[1]])


def _cycle(values: Sequence, n: int) -> list:
    """The first n values, starting over when there are more than len(values)."""
    return [values[i % len(values)] for i in range(n)]


def palette(n: int) -> list[str]:
    """n Okabe-Ito colours (they repeat after seven: a dash or shape still tells those runs apart)."""
    return _cycle(PALETTE, n)


def color_scale(labels: Sequence[str] | None = None) -> alt.Scale:
    """A nominal colour scale in Okabe-Ito colours; with `labels`, the same colour for a label on every chart."""
    if labels is None:
        return alt.Scale(range=list(PALETTE))
    labels = list(labels)
    return alt.Scale(domain=labels, range=palette(len(labels)))


def dash_scale(labels: Sequence[str] | None = None) -> alt.Scale:
    """A stroke-dash scale (solid, dashed, dotted, ...) so that lines differ without colour."""
    if labels is None:
        return alt.Scale(range=list(DASHES))
    labels = list(labels)
    return alt.Scale(domain=labels, range=_cycle(DASHES, len(labels)))


def shape_scale(labels: Sequence[str] | None = None) -> alt.Scale:
    """A point-shape scale (circle, square, triangle, ...) so that points differ without colour."""
    if labels is None:
        return alt.Scale(range=list(SHAPES))
    labels = list(labels)
    return alt.Scale(domain=labels, range=_cycle(SHAPES, len(labels)))


def run_encodings(field: str = "run", labels: Sequence[str] | None = None, title: str | None = "run",
                  shapes: bool = False, legend: alt.Legend | None = None) -> dict:
    """color + strokeDash (+ shape) channels on one nominal field: one merged legend shows colour and pattern.

    Use as ``chart.encode(**run_encodings("run", labels))``; the scales share `labels` so the legends merge.
    """
    kw = {"title": title} if legend is None else {"title": title, "legend": legend}
    channels = {"color": alt.Color(f"{field}:N", scale=color_scale(labels), **kw),
                "strokeDash": alt.StrokeDash(f"{field}:N", scale=dash_scale(labels), **kw)}
    if shapes:
        channels["shape"] = alt.Shape(f"{field}:N", scale=shape_scale(labels), **kw)
    return channels


def _luminance(rgb) -> float:
    """WCAG relative luminance of an (r, g, b) colour with channels in 0..1."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def readable_text_color(rgb) -> str:
    """Black or white, whichever contrasts more with the background `rgb` (0..1): always at least 4.58:1."""
    lum = _luminance(rgb)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def readable_gradient(styler, cmap: str, vmin: float | None = None, vmax: float | None = None):
    """`styler.background_gradient` over the whole table with text black or white per cell, whichever reads
    better (pandas' own choice leaves white on mid greens and blues at about 3:1)."""
    values = styler.data.to_numpy(dtype=float)
    lo = np.nanmin(values) if vmin is None else vmin
    hi = np.nanmax(values) if vmax is None else vmax
    colours = matplotlib.colormaps[cmap](matplotlib.colors.Normalize(lo, hi)(values))  # rows x cols x RGBA

    def text(_frame):
        """One 'color: ...' per cell, after background_gradient's so it wins."""
        return np.vectorize(lambda i, j: f"color: {readable_text_color(colours[i, j])}")(
            *np.indices(values.shape)) if values.size else np.empty(values.shape, dtype=object)

    return styler.background_gradient(cmap=cmap, axis=None, vmin=vmin, vmax=vmax).apply(text, axis=None)
