"""The Basic layers page's pooling tab: max vs average pooling on a small seeded map, the winning inputs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core.teaching import layer_ops as ops
from pages.basic_layers.backward import pool_backward_section
from pages.basic_layers.sections import grid
from pages.common import links
from pages.common.errors import friendly_errors
from pages.common.formulas import formula
from pages.common.widgets import seed_input

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


def pick_pool_settings() -> tuple[int, int, ops.PoolSettings]:
    """Map size, seed and the pooling parameters."""
    p = ui.columns(6)
    size = p[0].number_input("Map size", 4, 10, 6, key="pool_size")
    seed = seed_input("pool_seed", p[1], max_value=10_000, help="Seed of the random feature map.")
    kernel_size = p[2].number_input("kernel_size", 1, 4, 2, key="pool_kernel")
    stride = p[3].number_input("stride", 1, 4, 2, key="pool_stride",
                               help="PyTorch's default stride=None means stride = kernel_size.")
    padding = p[4].number_input("padding", 0, 2, 0, key="pool_padding",
                                help="At most kernel_size / 2 (PyTorch's rule); padded cells count as -inf for "
                                     "max and as 0 for avg.")
    dilation = p[5].number_input("dilation", 1, 3, 1, key="pool_dilation", help="MaxPool2d only.")
    ceil_mode = ui.checkbox("ceil_mode: round the output size up (a last, partial window is kept)", key="pool_ceil")
    return int(size), seed, ops.PoolSettings(int(kernel_size), int(stride), int(padding), int(dilation), ceil_mode)


def winner_styles(counts: np.ndarray) -> np.ndarray:
    """CSS per input cell: orange where it won a max, darker for several windows."""
    shade = np.vectorize(lambda c: f"background-color: rgba(245,133,24,{0.35 + 0.2 * min(c, 3)})")
    return np.where(counts > 0, shade(counts), "")


def pooling_tab() -> None:
    """Max vs average pooling on a small seeded map, with the winning inputs."""
    st.markdown("Pooling works on each channel independently: every window is replaced by its **max** or its "
                "**average**. `MaxPool2d(..., return_indices=True)` also returns which input won each window "
                "(what `MaxUnpool2d` uses); the winners are highlighted in the input.")
    size, seed, settings = pick_pool_settings()
    with friendly_errors("Pooling"):
        fmap = ops.sample_feature_map(size, seed)  # size x size
        maxed = ops.pool(fmap, "max", settings)
        averaged = ops.pool(fmap, "avg", settings)
        k, s, p, d = settings.kernel_size, settings.stride, settings.padding, settings.dilation
        l1, l2 = ui.columns(2)
        formula(l1, ops.output_size_latex(size, k, s, p, d, settings.ceil_mode, symbol="H^{max}"))
        formula(l2, ops.output_size_latex(size, k, s, p, 1, settings.ceil_mode, symbol="H^{avg}"))
        counts = ops.win_counts(maxed, (size, size)).numpy()
        q1, q2, q3 = ui.columns([1.2, 1.2, 1])
        q1.caption(f"Input {size} x {size}: orange = won a max (darker = won several windows)")
        labels = [str(i) for i in range(size)]
        q1.table(pd.DataFrame(fmap.numpy(), index=labels, columns=labels).style.format("{:.0f}").apply(
            lambda _: winner_styles(counts), axis=None))
        winners = ops.winners_frame(maxed, size)
        out_h, out_w = maxed.output.shape
        cells = [f"{v:.0f} ← ({r},{c})" for v, r, c in zip(winners["value"], winners["in_row"], winners["in_col"])]
        q2.caption(f"MaxPool2d output {out_h} x {out_w}: value ← (row, col) of the input that won")
        q2.table(pd.DataFrame(np.array(cells).reshape(out_h, out_w), index=[str(i) for i in range(out_h)],
                              columns=[str(j) for j in range(out_w)]))
        avg_h, avg_w = averaged.output.shape
        q3.caption(f"AvgPool2d output {avg_h} x {avg_w}" + (" (AvgPool2d has no dilation)" if d > 1 else ""))
        q3.table(grid(averaged.output, fmt="{:.2f}", cmap="Greens"))
        pool_backward_section(fmap, settings, tuple(maxed.output.shape))
