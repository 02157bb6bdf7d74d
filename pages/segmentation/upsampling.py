"""The upsampling explorer: transposed convolution step by step, the checkerboard, nearest / bilinear / unpooling."""
from __future__ import annotations

import textwrap

import altair as alt
import pandas as pd
import streamlit as st
import torch

from cnn_core.errors import InvalidConfig
from cnn_core.teaching import upsampling as up
from pages.common import links

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


def grid_chart(values: torch.Tensor, title: str, highlight: tuple[int, int, int] | None = None,
               scheme: str = "blues", max_side: int = 320) -> alt.Chart:
    """A small heat map of square cells with the number in every cell (and an optional k x k square outlined).

    Draw it with ``width="content"``: stretched to a column, the cells would stop being square.
    """
    h, w = values.shape
    frame = pd.DataFrame([(r, c, float(values[r, c])) for r in range(h) for c in range(w)],
                         columns=["row", "col", "value"])
    cell = max(14, min(48, max_side // max(h, w)))  # px per cell: 48 for a 3x3 input, 14 for the largest outputs
    base = alt.Chart(frame).encode(x=alt.X("col:O", title=None, axis=alt.Axis(labelAngle=0)),
                                   y=alt.Y("row:O", title=None))
    cells = base.mark_rect().encode(color=alt.Color("value:Q", scale=alt.Scale(scheme=scheme), legend=None),
                                    tooltip=["row", "col", alt.Tooltip("value:Q", format=".3g")])
    layers = [cells]
    if cell >= 20:  # a number needs ~20 px; smaller cells keep it in the tooltip
        dark = alt.datum.value > (frame["value"].min() + frame["value"].max()) / 2  # white text on dark cells
        layers.append(base.mark_text(fontSize=13 if cell >= 30 else 10).encode(
            text=alt.Text("value:Q", format=".3~g"),
            color=alt.condition(dark, alt.value("white"), alt.value("black"))))
    if highlight is not None:
        top, left, k = highlight
        box = pd.DataFrame([{"col": c, "row": r} for r in range(max(top, 0), min(top + k, h))
                            for c in range(max(left, 0), min(left + k, w))])
        if not box.empty:
            layers.append(alt.Chart(box).mark_rect(fill=None, stroke="#e4572e", strokeWidth=2)
                          .encode(x="col:O", y="row:O"))
    # At least 160 px a side, so a 3x3 input is as readable as a 7x7 output; "pad" keeps this exact size.
    side_w, side_h = max(160, cell * w), max(160, cell * h)
    lines = textwrap.wrap(title, max(26, side_w // 7))  # ~7 px a character: the title never widens the chart
    return alt.layer(*layers).properties(title=alt.TitleParams(lines), width=side_w, height=side_h,
                                         autosize=alt.AutoSizeParams(type="pad"))


def transposed_settings(key: str) -> tuple[int, up.TransposedSettings]:
    """The explorer's widgets: input size and every nn.ConvTranspose2d argument that changes the output size."""
    cols = ui.columns(6)
    size = int(cols[0].number_input("Input side", 1, 8, 3, key=f"{key}_size"))
    kernel = int(cols[1].number_input("kernel_size", 1, up.MAX_KERNEL, 3, key=f"{key}_k"))
    stride = int(cols[2].number_input("stride", 1, up.MAX_STRIDE, 2, key=f"{key}_s"))
    padding = int(cols[3].number_input("padding", 0, 6, 0, key=f"{key}_p"))
    output_padding = int(cols[4].number_input("output_padding", 0, 3, 0, key=f"{key}_op",
                                              help="Must be smaller than stride or dilation."))
    dilation = int(cols[5].number_input("dilation", 1, up.MAX_DILATION, 1, key=f"{key}_d"))
    return size, up.TransposedSettings(kernel, stride, padding, output_padding, dilation)


def transposed_section(key: str = "up") -> None:
    """Output-size formula, where one input value lands, and the same layer as an ordinary convolution."""
    size, t = transposed_settings(key)
    try:
        out_side = up.check_transposed(size, t)
    except InvalidConfig as exc:
        st.error(str(exc))
        return
    st.markdown(f"**Output size** `{t.formula(size)}`")
    x = torch.arange(1.0, size * size + 1).reshape(1, 1, size, size)
    weight = torch.ones(t.kernel, t.kernel)
    left, right = ui.columns(2)
    with left:
        row = int(ui.slider("Input row", 0, size - 1, 0, key=f"{key}_row"))
        col = int(ui.slider("Input column", 0, size - 1, min(1, size - 1), key=f"{key}_col"))
        spread, (top, corner) = up.spread_of_one_input(size, row, col, weight, t)
        st.altair_chart(grid_chart(x[0, 0], "Input (values 1, 2, ...)", (row, col, 1)), width="content")
        st.caption(f"Input value at ({row}, {col}) is multiplied by the whole {t.kernel} x {t.kernel} kernel "
                   f"and added into the output starting at ({top}, {corner}) = (row x stride - padding, "
                   "col x stride - padding), with dilation gaps; padding crops the output's border.")
    with right:
        footprint = t.dilation * (t.kernel - 1) + 1
        st.altair_chart(grid_chart(spread * x[0, 0, row, col], f"Where input ({row}, {col}) lands "
                                   f"({out_side} x {out_side} output)", (top, corner, footprint), "oranges"), width="content")
    full = up.transposed_conv(x, weight, t)[0, 0]
    same = torch.allclose(up.as_ordinary_convolution(x, weight, t)[0, 0], full, atol=1e-5)
    st.altair_chart(grid_chart(full, "F.conv_transpose2d of the whole input (all-ones kernel)"), width="content")
    st.info("**A convolution with the input and output roles swapped.** Put stride - 1 zeros between the input "
            f"pixels, pad by dilation x (kernel - 1) - padding = {t.dilation * (t.kernel - 1) - t.padding}, and run "
            f"an ordinary convolution with the kernel flipped: the result {'equals' if same else 'differs from'} "
            "torch's transposed convolution above (checked now, to 1e-5).")


def checkerboard_section(key: str = "cb") -> None:
    """Overlap counts of a transposed conv (uneven when kernel % stride != 0) beside upsample-then-conv."""
    cols = ui.columns(3)
    kernel = int(cols[0].slider("Kernel", 1, up.MAX_KERNEL, 3, key=f"{key}_k"))
    stride = int(cols[1].slider("Stride", 1, up.MAX_STRIDE, 2, key=f"{key}_s"))
    side = int(cols[2].slider("Input side", 4, 12, 6, key=f"{key}_n"))
    counts = up.overlap_counts(side, kernel, stride)
    smooth = up.upsample_then_conv_counts(side, kernel, stride)
    margin = kernel
    left, right = ui.columns(2)
    left.altair_chart(grid_chart(counts, f"Transposed conv k={kernel}, s={stride}: kernel placements per pixel"),
                      width="content")
    left.metric("Unevenness inside (max / min)", f"{up.unevenness(counts, margin):.2f}")
    right.altair_chart(grid_chart(smooth, f"Nearest x{stride}, then conv k={kernel}"), width="content")
    right.metric("Unevenness inside (max / min)", f"{up.unevenness(smooth, margin):.2f}")
    verdict = ("is a multiple of" if kernel % stride == 0 else "is **not** a multiple of")
    st.caption(f"Kernel {kernel} {verdict} stride {stride}. When it is not, some output pixels receive more "
               "kernel placements than their neighbours: the checkerboard artefacts of generated images "
               "(Odena et al., 2016). Upsampling first, then convolving, gives every pixel the same share.")


def simple_upsampling_section(key: str = "us") -> None:
    """Nearest and bilinear upsampling, and max-unpooling with the pool's indices, on a 4 x 4 example."""
    x = torch.tensor([[1.0, 2, 0, 1], [3, 8, 1, 0], [0, 1, 5, 2], [2, 0, 3, 9]]).reshape(1, 1, 4, 4)
    factor = int(ui.slider("Factor", 2, up.MAX_STRIDE, 2, key=f"{key}_f"))
    cols = ui.columns(4)
    pooled, _indices, unpooled = up.max_unpool(x)
    grids = [(x[0, 0], "Input"), (up.upsample(x, factor, "nearest")[0, 0], f"Nearest x{factor}"),
             (up.upsample(x, factor, "bilinear")[0, 0], f"Bilinear x{factor}"),
             (unpooled[0, 0], "Max-pool 2x2, then max-unpool")]
    for col, (values, title) in zip(cols, grids):
        col.altair_chart(grid_chart(values, title, max_side=200), width="content")  # 4 side by side: smaller cells
    st.caption(f"Max-pool keeps {pooled.flatten().tolist()} and remembers where each came from; unpooling puts "
               "each back in its place and zeros elsewhere (SegNet's decoder). Nearest copies each value into a "
               "block, bilinear blends neighbours: neither has weights to learn, a transposed conv does.")


def explorer() -> None:
    """The three parts of the upsampling explorer as tabs."""
    tabs = ui.tabs(["Transposed convolution", "Checkerboard", "Nearest, bilinear, unpooling"])
    with tabs[0]:
        transposed_section()
    with tabs[1]:
        checkerboard_section()
    with tabs[2]:
        simple_upsampling_section()
