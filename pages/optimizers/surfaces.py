"""The Optimizers page's 2-D surfaces, computed and turned into chart specs once per setting (cached)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from cnn_core import OptimizerConfig, ScheduleConfig
from cnn_core.teaching.toy_surfaces import Surface, compare_2d, surface_grid
from pages.common.charts.specs import inline_datasets_as_arrow
from pages.optimizers.charts import surface_chart, surface_loss_chart


@st.cache_data(max_entries=64, show_spinner=False)
def run_surface(surface: Surface, runs: tuple[tuple[str, OptimizerConfig], ...], start: tuple[float, float],
                steps: int, schedule: ScheduleConfig) -> pd.DataFrame:
    """All 2-D trajectories of one setting (cached: sliders re-draw instantly)."""
    return compare_2d(surface, dict(runs), start, steps, schedule)


@st.cache_data(max_entries=32, show_spinner=False)
def grid_of(surface: Surface) -> pd.DataFrame:
    """The contour grid of a surface."""
    return surface_grid(surface, resolution=80)


@st.cache_data(max_entries=64, show_spinner=False)
def surface_specs(surface: Surface, runs: tuple[tuple[str, OptimizerConfig], ...], start: tuple[float, float],
                  steps: int, schedule: ScheduleConfig, upto: int) -> tuple[dict, dict]:
    """The contour map with the paths and the loss chart as Vega-Lite specs, for the first `upto` steps (cached:
    building them costs ~0.3 s of the interpreter per rerun, which 30 students' reruns would queue behind)."""
    paths = run_surface(surface, runs, start, steps, schedule)
    visible = paths[paths["step"] <= upto]
    with alt.data_transformers.disable_max_rows():  # the 80 x 80 contour grid: 6,400 rows inline
        return (inline_datasets_as_arrow(surface_chart(grid_of(surface), visible, surface).to_dict()),
                inline_datasets_as_arrow(surface_loss_chart(visible).to_dict()))
