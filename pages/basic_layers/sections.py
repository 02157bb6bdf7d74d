"""The Basic layers page's convolution tab (pooling is in pooling.py; the page itself holds the other tabs)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit
import streamlit as st
import torch
from pandas.io.formats.style import Styler
from PIL import Image

from cnn_core.data.images import load_image
from cnn_core.data.samples import sample_photo
from cnn_core.teaching import layer_ops as ops
from pages.common import links
from pages.basic_layers.backward import conv_backward_section
from pages.common.errors import friendly_errors
from pages.common.widgets import IMAGE_TYPES as UPLOAD_TYPES
from pages.common.formulas import formula
from pages.common.charts.palette import readable_gradient

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

PHOTO_SOURCES = {"China (photo)": "china", "Flower (photo)": "flower"}  # SAMPLE_PHOTOS keys


@st.cache_data(max_entries=8, show_spinner=False)
def photo(key: str) -> Image.Image:
    """A sample photo (cached per process; st.cache_data hands out copies)."""
    return sample_photo(key)


def int_slider(label: str, high: int, value: int, key: str, help: str | None = None) -> int:
    """A 0..high slider; a plain caption when there is only one choice (ui.slider needs min < max)."""
    if high < 1:
        st.caption(f"{label}: 0 (the only position)")
        return 0
    # not in the address: a position on one image means nothing on another (and may be past its edge)
    return streamlit.slider(label, 0, high, min(value, high), key=key, help=help)


def grid(values: torch.Tensor, row_labels=None, col_labels=None, fmt: str = "{:.3g}", cmap: str = "Blues",
         centred: bool = False) -> Styler:
    """A rows x cols tensor as a styled table with a colour gradient (centred: 0 = the middle colour)."""
    rows, cols = values.shape
    frame = pd.DataFrame((values + 0.0).numpy(), index=[str(v) for v in (row_labels or range(rows))],
                         columns=[str(v) for v in (col_labels or range(cols))])
    if centred:  # a diverging scale symmetric around 0: negative and positive weights read at a glance
        bound = float(values.abs().max()) or 1.0
        return readable_gradient(frame.style.format(fmt), cmap, vmin=-bound, vmax=bound)
    return readable_gradient(frame.style.format(fmt), cmap)


ZOOM_ABOVE = 64  # inputs larger than this get a zoomed view around the window
ZOOM_MARGIN = 8  # input pixels shown on each side of the window in the zoom


def zoom_on_window(padded: torch.Tensor, box: tuple[int, int, int, int], taps):
    """The padded input cropped to the window plus a margin, with the box and taps moved to the crop."""
    top, left, bottom, right = box
    r0, c0 = max(0, top - ZOOM_MARGIN), max(0, left - ZOOM_MARGIN)
    r1, c1 = min(padded.shape[0], bottom + ZOOM_MARGIN + 1), min(padded.shape[1], right + ZOOM_MARGIN + 1)
    crop = padded[r0:r1, c0:c1]  # h x w
    moved = (top - r0, left - c0, bottom - r0, right - c0)
    return crop, moved, [(r - r0, c - c0) for r, c in taps] if taps else None, (r0, c0)


def pick_image(data) -> tuple[Image.Image | None, int]:
    """The image to convolve (photo, digit or upload) and its working size; image None = nothing yet."""
    source = ui.radio("Image", [*PHOTO_SOURCES, "MNIST digit", "Upload your own"], key="conv_source",
                      horizontal=True)
    image = None
    with friendly_errors("Reading the image"):
        if source == "Upload your own":
            upload = st.file_uploader("An image (PNG, JPEG, WebP, BMP, GIF, TIFF; up to 25 MB)", key="conv_upload",
                                      type=UPLOAD_TYPES, max_upload_size=25)
            if upload is None:
                st.info("Upload an image to convolve it.")
            else:
                image = load_image(upload.getvalue(), upload.name)
        elif source == "MNIST digit":
            index = ui.slider("Test digit", 0, len(data.test_y) - 1, 0, key="conv_digit")
            image = ops.digit_image(data.denormalize(data.test_x[index]))
        else:
            image = photo(PHOTO_SOURCES[source])
    side = 28
    if image is not None and max(image.size) > 28:
        side = ui.slider("Working size (longest side, px)", 32, 512, 64, step=16, key="conv_side",
                         help="The image is converted to grayscale and shrunk to this size: small enough to "
                              "see single pixels under the kernel.")
    return image, side


def pick_kernel() -> pd.DataFrame:
    """The kernel preset, editable as a table."""
    preset = ui.selectbox("Kernel preset", list(ops.KERNEL_PRESETS), index=1, key="conv_kernel",
                          format_func=lambda k: ops.KERNEL_PRESETS[k].label)
    weights = ops.KERNEL_PRESETS[preset].tensor()
    edited = st.data_editor(pd.DataFrame(weights.numpy(), columns=[f"c{j}" for j in range(len(weights))]),
                            key=f"conv_weights_{preset}", hide_index=True, width="stretch")
    st.caption(ops.KERNEL_PRESETS[preset].explanation + " Edit any number to make your own kernel.")
    return edited


def pick_conv_settings() -> ops.ConvSettings:
    """Bias, stride, padding and dilation, two per row."""
    b, s = ui.columns(2)
    bias = b.number_input("Bias b", -10.0, 10.0, 0.0, 0.1, key="conv_bias")
    stride = s.number_input("Stride s", 1, 8, 1, key="conv_stride", help="Step between neighbouring windows.")
    p, d = ui.columns(2)
    padding = p.number_input("Padding p", 0, 8, 0, key="conv_padding", help="Zeros added on every side.")
    dilation = d.number_input("Dilation d", 1, 4, 1, key="conv_dilation", help="Spacing between kernel taps.")
    return ops.ConvSettings(int(stride), int(padding), int(dilation), float(bias))


def show_output_size(gray: torch.Tensor, k: int, settings: ops.ConvSettings) -> None:
    """The general output-size formula and the same with this image's numbers."""
    f1, f2 = ui.columns(2)
    formula(f1, ops.OUTPUT_SIZE_GENERAL.split(r"\qquad")[0])
    f1.caption("PyTorch's output size for kernel k, stride s, padding p, dilation d (per dimension).")
    formula(f2, ops.output_size_latex(gray.shape[0], k, settings.stride, settings.padding, settings.dilation))
    formula(f2, ops.output_size_latex(gray.shape[1], k, settings.stride, settings.padding, settings.dilation,
                                   symbol="W"))


def show_window(gray: torch.Tensor, kernel: torch.Tensor, settings: ops.ConvSettings,
                feature_map: torch.Tensor) -> ops.PatchProduct:
    """The main result: input with the window, the output map (and a zoom on large inputs); returns the step."""
    h_out, w_out = feature_map.shape
    r1, r2 = ui.columns(2)
    with r1:
        row = int_slider("Output row", h_out - 1, h_out // 2, "conv_row")
    with r2:
        col = int_slider("Output column", w_out - 1, w_out // 2, "conv_col")
    step = ops.patch_product(gray, kernel, settings, row, col)
    padded, box, taps = ops.window_overlay(gray, step, settings)
    p = settings.padding
    left, right = ui.columns(2)
    left.image(ops.to_display(padded, 420, [box], taps), width="stretch", output_format="PNG",
               caption=f"Input {gray.shape[0]} x {gray.shape[1]}" + (f", padded by {p}" if p else "")
               + f"; the red window feeds output ({row}, {col})", alt=(f"Input {gray.shape[0]} x {gray.shape[1]}" + (f", padded by {p}" if p else "")
               + f"; the red window feeds output ({row}, {col})"))
    right.image(ops.to_display(feature_map, 420, [(row, col, row, col)]), width="stretch", output_format="PNG",
                caption=f"Output feature map {h_out} x {w_out} (values {feature_map.min():.3g} to "
                        f"{feature_map.max():.3g}, shown min-max normalized)", alt=(f"Output feature map {h_out} x {w_out} (values {feature_map.min():.3g} to "
                        f"{feature_map.max():.3g}, shown min-max normalized)"))
    if max(padded.shape) > ZOOM_ABOVE:  # at working size 256 the window is a dot: show it up close too
        crop, moved, moved_taps, (r0, c0) = zoom_on_window(padded, box, taps)
        z1, z2 = ui.columns([1, 1])
        z1.image(ops.to_display(crop, 280, [moved], moved_taps), width="stretch", output_format="PNG",
                 caption=f"Zoom: input rows {r0 - p}..{r0 - p + crop.shape[0] - 1}, columns "
                         f"{c0 - p}..{c0 - p + crop.shape[1] - 1} around the window", alt=(f"Zoom: input rows {r0 - p}..{r0 - p + crop.shape[0] - 1}, columns "
                         f"{c0 - p}..{c0 - p + crop.shape[1] - 1} around the window"))
        z2.caption(f"The input has {max(padded.shape)} px on its longest side, so the {kernel.shape[0]} x "
                   f"{kernel.shape[0]} window is small in the full view; the zoom shows it with "
                   f"{ZOOM_MARGIN} pixels around it.")
    return step


def show_step(gray: torch.Tensor, kernel: torch.Tensor, settings: ops.ConvSettings,
              feature_map: torch.Tensor, step: ops.PatchProduct) -> None:
    """One output position in numbers: the patch, the kernel, W ⊙ x and the sum, checked."""
    row, col = step.row, step.col
    st.markdown(f"**Step through one position:** output ({row}, {col}) is the dot product $W^T x$ of "
                "the window x with the kernel W, plus the bias b.")
    g1, g2, g3 = ui.columns(3)
    g1.caption("Patch x: input under the window (row/column labels = input position; outside = padding)")
    g1.table(grid(step.patch, list(step.rows), list(step.cols)))
    g2.caption("Kernel W (red < 0 < blue, white = 0)")
    g2.table(grid(step.kernel, cmap="RdBu", centred=True))
    g3.caption("Element-wise products W ⊙ x (centred at 0)")
    g3.table(grid(step.products, cmap="RdBu", centred=True))
    st.code(f"W^T x + b = {step.terms_text()}", language=None, wrap_lines=True)
    value = float(feature_map[row, col])
    same = "equal to" if abs(value - step.total) <= 1e-4 * max(1.0, abs(value)) else "DIFFERENT from"
    st.success(f"Sum of products + bias = {step.total:.5g}, {same} the output map's value at "
               f"({row}, {col}): {value:.5g}.")
    st.caption("PyTorch's 'convolution' is a cross-correlation: the kernel is not flipped. "
               "Colour photos are converted to grayscale here (one input channel).")


def convolution_tab(data) -> torch.Tensor | None:
    """The convolution explorer; returns its output feature map (H_out x W_out), None without an image."""
    c_controls, c_view = ui.columns([1, 2.1], gap="medium")  # the result beside its controls: above the fold
    with c_controls:
        image, side = pick_image(data)
        edited = pick_kernel()
        settings = pick_conv_settings()
    if image is None:
        return None
    feature_map = None
    with friendly_errors("The convolution"):
        gray = ops.image_to_gray(image, side)  # H x W in [0, 1]
        kernel = ops.check_kernel(edited.to_numpy(dtype=float, na_value=np.nan))
        feature_map = ops.convolve(gray, kernel, settings)  # H_out x W_out
        with c_view:
            step = show_window(gray, kernel, settings, feature_map)
        show_output_size(gray, kernel.shape[0], settings)
        show_step(gray, kernel, settings, feature_map, step)
        conv_backward_section(gray, kernel, settings, feature_map)
    return feature_map
