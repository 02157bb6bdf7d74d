"""Charts redrawn often (live curves, every rerun's results) as Vega-Lite specs built once per *shape*.

Building an Altair chart and turning it into a spec validates it against the Vega-Lite schema: ~50 ms of
interpreter time per chart, paid on every redraw by every session (30 students' live charts held the
server's one interpreter for most of a class's waiting time, benchmarks/load_test.py). Here the Altair
chart is built once for each shape (its run labels, its scale, its title...), against *named* datasets,
and kept as JSON; a draw copies that JSON and attaches this draw's data frames under those names.

    draw(box, step_loss_view, (labels, smoothed, log_scale), {"steps": frame}, width="stretch")
"""
from __future__ import annotations

import functools
import io
import json
from typing import Callable, Mapping

import altair as alt
import pandas as pd
import pyarrow as pa


def named(name: str) -> alt.NamedData:
    """A dataset the template only names; each draw attaches its rows under this name."""
    return alt.NamedData(name=name)


@functools.lru_cache(maxsize=256)
def template(builder: Callable[..., alt.TopLevelMixin], shape: tuple) -> str:
    """The Vega-Lite JSON of builder(*shape), built and validated once per shape (a str: shared, immutable)."""
    return json.dumps(builder(*shape).to_dict())


def spec_with(builder: Callable[..., alt.TopLevelMixin], shape: tuple,
              datasets: Mapping[str, pd.DataFrame | bytes]) -> dict:
    """A fresh spec of this shape with `datasets` attached (Streamlit moves them out of the dict it is given)."""
    spec = json.loads(template(builder, shape))
    spec["datasets"] = dict(datasets)
    return spec


def draw(box, builder: Callable[..., alt.TopLevelMixin], shape: tuple, datasets: Mapping[str, pd.DataFrame | bytes],
         **options) -> None:
    """Draw the chart builder(*shape) with this draw's datasets into `box` (st or a placeholder)."""
    box.vega_lite_chart(spec=spec_with(builder, shape, datasets), **options)


def arrow_bytes(frame: pd.DataFrame) -> bytes:
    """A data frame as Arrow IPC stream bytes, the form Streamlit sends a chart's dataset in (convert once, cache,
    and Streamlit passes the bytes through instead of converting the rows on every rerun)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pa.RecordBatchStreamWriter(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def inline_datasets_as_arrow(spec: dict) -> dict:
    """An Altair spec (chart.to_dict()) with its inline `datasets` rows converted to Arrow bytes, in place."""
    for name, rows in list(spec.get("datasets", {}).items()):
        if isinstance(rows, list):
            spec["datasets"][name] = arrow_bytes(pd.DataFrame(rows))
    return spec
