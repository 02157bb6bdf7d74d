"""Colour-blind-safe charts: Okabe-Ito run colours, and runs also told apart by dash or point shape."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pages.common.charts import epoch_metric_chart, step_loss_chart, train_val_facets
from pages.common.charts import palette as pal
from pages.common.charts import training as training_charts
from pages.optimizers import charts as optimizer_charts
from pages.weight_init import charts as init_charts

# Okabe & Ito, "Color Universal Design" (2008), as 0-255 RGB triples (black left out: it vanishes on dark themes).
OKABE_ITO_RGB = {(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
                 (204, 121, 167)}
RUNS = ["SGD", "Adam", "RMSprop", "AdamW"]


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def tidy_frame(runs: list[str]) -> pd.DataFrame:
    """A small tidy frame like cnn_core's: per-step train loss and per-epoch train/val loss and accuracy."""
    rng = np.random.default_rng(0)
    rows = []
    for run in runs:
        for step in range(6):
            rows.append(dict(run=run, epoch=step // 3, step=step, split="train_step", metric="loss",
                             value=float(rng.random())))
        for epoch in range(2):
            for split in ("train", "val"):
                for metric in ("loss", "accuracy"):
                    rows.append(dict(run=run, epoch=epoch, step=3 * epoch, split=split, metric=metric,
                                     value=float(rng.random())))
    return pd.DataFrame(rows)


def encodings(spec: dict) -> list[dict]:
    """Every `encoding` block anywhere in a Vega-Lite spec (layers, concats, facets)."""
    found = []
    if isinstance(spec, dict):
        if isinstance(spec.get("encoding"), dict):
            found.append(spec["encoding"])
        for value in spec.values():
            found.extend(encodings(value))
    elif isinstance(spec, list):
        for value in spec:
            found.extend(encodings(value))
    return found


def run_is_told_apart_without_colour(spec: dict, field: str) -> bool:
    """True when some layer encodes `field` on strokeDash or shape (not only on colour)."""
    return any(enc.get(channel, {}).get("field") == field
               for enc in encodings(spec) for channel in ("strokeDash", "shape"))


def test_palette_is_okabe_ito_and_distinct():
    assert {rgb(c) for c in pal.PALETTE} == OKABE_ITO_RGB
    assert len(set(pal.PALETTE)) == len(pal.PALETTE) == 7
    assert pal.palette(3) == list(pal.PALETTE[:3])
    assert pal.palette(9)[7] == pal.PALETTE[0]  # repeats after seven; the dash still differs
    assert len({str(d) for d in pal.DASHES}) == len(pal.DASHES)
    assert len(set(pal.SHAPES)) == len(pal.SHAPES)


def test_scales_give_each_label_its_own_colour_dash_and_shape():
    colours, dashes, shapes = pal.color_scale(RUNS), pal.dash_scale(RUNS), pal.shape_scale(RUNS)
    for scale in (colours, dashes, shapes):
        assert list(scale.domain) == RUNS
    assert len({c for c in colours.range}) == len({str(d) for d in dashes.range}) == len(set(shapes.range)) == 4


def test_yellow_is_not_among_the_first_runs():
    # Yellow on a white background is the least visible: it is the last colour a comparison reaches.
    assert "#F0E442" not in pal.palette(6)


@pytest.mark.parametrize("build", [
    lambda tidy: step_loss_chart(tidy),
    lambda tidy: epoch_metric_chart(tidy),
    lambda tidy: optimizer_charts.comparison_live_view(tuple(RUNS[:3]), True),
    lambda tidy: optimizer_charts.comparison_accuracy_view(tuple(RUNS[:3])),
    lambda tidy: optimizer_charts.lr_schedule_view(tuple(RUNS[:3])),
], ids=["step_loss", "epoch_metric", "optimizer_live", "optimizer_accuracy", "lr_schedule"])
def test_three_runs_differ_by_dash_or_shape(build):
    spec = build(tidy_frame(RUNS[:3])).to_dict()
    assert run_is_told_apart_without_colour(spec, "run")
    colour_scales = [enc["color"].get("scale", {}) for enc in encodings(spec)
                     if enc.get("color", {}).get("field") == "run"]
    assert colour_scales and all(set(s.get("range", pal.PALETTE)) <= set(pal.PALETTE) for s in colour_scales)


def test_weight_init_depth_chart_differs_by_dash_and_shape():
    frame = pd.DataFrame({"label": [s for s in RUNS[:3] for _ in range(3)], "layer": [1, 2, 3] * 3,
                          "layer_name": ["conv1", "conv2", "fc"] * 3, "std": np.linspace(0.1, 1, 9),
                          "mean": np.zeros(9)})
    spec = init_charts.depth_chart(frame, "std", "Standard deviation per layer", False,
                                   init_charts.scheme_colors(RUNS[:3])).to_dict()
    enc = encodings(spec)[0]
    assert enc["strokeDash"]["field"] == enc["shape"]["field"] == "label"
    assert enc["color"]["scale"]["range"] == pal.palette(3)


def test_train_vs_validation_differs_by_dash():
    spec = train_val_facets(tidy_frame(RUNS[:3])).to_dict()
    assert run_is_told_apart_without_colour(spec, "split")
    live = [c.to_dict() for c in training_charts.live_curves(tidy_frame(RUNS[:1]))]
    assert run_is_told_apart_without_colour(live[1], "split") and run_is_told_apart_without_colour(live[2], "split")


def test_confusion_heatmap_uses_viridis_with_a_legend():
    classes = pd.Categorical(["0", "1"], categories=["0", "1"])
    confusion = pd.DataFrame({"true": classes.repeat(2), "predicted": pd.Categorical(["0", "1", "0", "1"]),
                              "true_index": [0, 0, 1, 1], "predicted_index": [0, 1, 0, 1],
                              "count": [5, 1, 2, 4], "fraction": [5 / 6, 1 / 6, 2 / 6, 4 / 6]})
    spec = training_charts.confusion_heatmap(confusion).to_dict()
    rect = next(layer for layer in spec["layer"] if layer["mark"] in ("rect", {"type": "rect"}))
    colour = rect["encoding"]["color"]
    assert colour["scale"]["scheme"] in ("viridis", "cividis") and colour.get("legend", {}) is not None


def wcag_contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (channels 0..1), written out from the WCAG definition."""
    def lum(c):
        r, g, b_ = (v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("cmap", ["Blues", "Greens", "RdBu"])
def test_table_gradients_keep_text_readable(cmap):
    import matplotlib
    import torch
    from pages.basic_layers.sections import grid

    for value in np.linspace(0, 1, 41):
        background = matplotlib.colormaps[cmap](value)[:3]
        text = pal.readable_text_color(background)
        assert wcag_contrast(background, rgb_unit(text)) >= 4.5, (cmap, value, text)
    styled = grid(torch.linspace(0, 5.75, 12).reshape(3, 4), cmap=cmap).to_html()
    # the last colour rule of each cell is the readable one
    for cell in re_cells(styled):
        background = rgb_unit(cell["background-color"])
        assert wcag_contrast(background, rgb_unit(cell["color"])) >= 4.5, cell


def rgb_unit(hex_colour: str) -> tuple[float, float, float]:
    return tuple(v / 255 for v in rgb(hex_colour))


def re_cells(html: str) -> list[dict]:
    """Each cell's CSS rule in a Styler's HTML as {property: last value}."""
    import re
    cells = []
    for body in re.findall(r"#T_\w+_row\d+_col\d+ \{([^}]*)\}", html):
        props = {}
        for prop, value in re.findall(r"([\w-]+):\s*([^;]+);", body):
            props[prop] = value.strip()
        cells.append(props)
    return cells
