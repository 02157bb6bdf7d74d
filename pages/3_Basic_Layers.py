"""Basic layers: convolution step by step, activations, pooling, flatten + fully-connected, the input layer."""
import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch

from cnn_core.teaching import layer_ops as ops
from cnn_core.data.images import load_image
from cnn_core.models import ACTIVATIONS
from cnn_core.training.pretrained import LENET5_MNIST, trained_model
from pages.common.errors import friendly_errors
from pages.common.state import get_dataset

st.set_page_config(page_title="Basic layers", page_icon="🧩", layout="wide")
st.title("🧩 Basic layers")
st.markdown(
    "The lecture's *Basic Layers* section, one tab per layer. A convolution computes **dot products "
    "$W^T x + b$** of a small kernel with every patch of its input; an **activation** bends the result "
    "element-wise; **pooling** sub-samples each channel with `max()` or `avg()`; a **fully-connected** layer "
    "sees the whole flattened map. Every number on this page is computed by PyTorch."
)


@st.cache_data(max_entries=8, show_spinner=False)
def photo(name: str):
    return ops.sample_photo(name)


@st.cache_resource(show_spinner="Training LeNet-5 on mnist-5k once (cached on disk)...")
def trained_lenet():
    return trained_model(LENET5_MNIST)  # shared by all sessions: never modified (dead_relu_report copies it)


@st.cache_data(max_entries=2, show_spinner="Measuring dead ReLU units for every bias shift...")
def dead_sweep(count: int = 256):
    """The dying-ReLU sweep of the shared LeNet-5 (fixed model and digits): computed once, not on every rerun."""
    lenet, _ = trained_lenet()
    test = get_dataset("mnist-5k")
    return ops.dead_relu_sweep(lenet, test.test_x[:count], test.test_y[:count], [s / 2 for s in range(-10, 1)])


def int_slider(label: str, high: int, value: int, key: str, help: str | None = None) -> int:
    """A 0..high slider; a plain caption when there is only one choice (st.slider needs min < max)."""
    if high < 1:
        st.caption(f"{label}: 0 (the only position)")
        return 0
    return st.slider(label, 0, high, min(value, high), key=key, help=help)


def grid(values: torch.Tensor, row_labels=None, col_labels=None, fmt: str = "{:.3g}", cmap: str = "Blues"):
    rows, cols = values.shape
    frame = pd.DataFrame((values + 0.0).numpy(), index=[str(v) for v in (row_labels or range(rows))],
                         columns=[str(v) for v in (col_labels or range(cols))])
    return frame.style.format(fmt).background_gradient(cmap=cmap, axis=None)


data = get_dataset("mnist-5k")
tab_conv, tab_act, tab_pool, tab_fc, tab_input = st.tabs(
    ["Convolution", "Activation", "Pooling", "Fully-connected", "Input"])

# ------------------------------------------------------------------ convolution
feature_map = None
with tab_conv:
    c_image, c_kernel, c_settings = st.columns([1.1, 1, 1], gap="medium")
    with c_image:
        source = st.radio("Image", ["China (photo)", "Flower (photo)", "MNIST digit", "Upload your own"],
                          key="conv_source", horizontal=True)
        image = None
        with friendly_errors("Reading the image"):
            if source == "Upload your own":
                upload = st.file_uploader("An image (PNG, JPEG, WebP, BMP, GIF, TIFF)", key="conv_upload",
                                          type=["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"])
                if upload is None:
                    st.info("Upload an image to convolve it.")
                else:
                    image = load_image(upload.getvalue(), upload.name)
            elif source == "MNIST digit":
                index = st.slider("Test digit", 0, len(data.test_y) - 1, 0, key="conv_digit")
                image = ops.digit_image(data.denormalize(data.test_x[index]))
            else:
                image = photo("china.jpg" if source.startswith("China") else "flower.jpg")
        side = 28
        if image is not None and max(image.size) > 28:
            side = st.slider("Working size (longest side, px)", 32, 512, 64, step=16, key="conv_side",
                             help="The image is converted to grayscale and shrunk to this size: small enough to "
                                  "see single pixels under the kernel.")
    with c_kernel:
        preset = st.selectbox("Kernel preset", list(ops.KERNEL_PRESETS), index=1, key="conv_kernel",
                              format_func=lambda k: ops.KERNEL_PRESETS[k].label)
        weights = ops.KERNEL_PRESETS[preset].tensor()
        edited = st.data_editor(pd.DataFrame(weights.numpy(), columns=[f"c{j}" for j in range(len(weights))]),
                                key=f"conv_weights_{preset}", hide_index=True, width="stretch")
        st.caption(ops.KERNEL_PRESETS[preset].explanation + " Edit any number to make your own kernel.")
    with c_settings:
        bias = st.number_input("Bias b", -10.0, 10.0, 0.0, 0.1, key="conv_bias")
        stride = st.number_input("Stride s", 1, 8, 1, key="conv_stride", help="Step between neighbouring windows.")
        padding = st.number_input("Padding p", 0, 8, 0, key="conv_padding", help="Zeros added on every side.")
        dilation = st.number_input("Dilation d", 1, 4, 1, key="conv_dilation", help="Spacing between kernel taps.")
    if image is not None:
        with friendly_errors("The convolution"):
            gray = ops.image_to_gray(image, side)  # H x W in [0, 1]
            settings = ops.ConvSettings(int(stride), int(padding), int(dilation), float(bias))
            kernel = ops.check_kernel(edited.to_numpy(dtype=float, na_value=np.nan))
            feature_map = ops.convolve(gray, kernel, settings)  # H_out x W_out
            h_out, w_out = feature_map.shape
            k = kernel.shape[0]
            f1, f2 = st.columns(2)
            f1.latex(ops.OUTPUT_SIZE_GENERAL.split(r"\qquad")[0])
            f1.caption("PyTorch's output size for kernel k, stride s, padding p, dilation d (per dimension).")
            f2.latex(ops.output_size_latex(gray.shape[0], k, settings.stride, settings.padding, settings.dilation))
            f2.latex(ops.output_size_latex(gray.shape[1], k, settings.stride, settings.padding, settings.dilation,
                                           symbol="W"))
            r1, r2 = st.columns(2)
            with r1:
                row = int_slider("Output row", h_out - 1, h_out // 2, "conv_row")
            with r2:
                col = int_slider("Output column", w_out - 1, w_out // 2, "conv_col")
            step = ops.patch_product(gray, kernel, settings, row, col)
            p = settings.padding
            padded = torch.nn.functional.pad(gray, (p, p, p, p))
            box = (step.rows[0] + p, step.cols[0] + p, step.rows[-1] + p, step.cols[-1] + p)
            taps = [(r + p, c + p) for r in step.rows for c in step.cols] if settings.dilation > 1 else None
            left, right = st.columns(2)
            left.image(ops.to_display(padded, 420, [box], taps), width="stretch", output_format="PNG",
                       caption=f"Input {gray.shape[0]} x {gray.shape[1]}" + (f", padded by {p}" if p else "")
                       + f"; the red window feeds output ({row}, {col})")
            right.image(ops.to_display(feature_map, 420, [(row, col, row, col)]), width="stretch",
                        output_format="PNG",
                        caption=f"Output feature map {h_out} x {w_out} (values {feature_map.min():.3g} to "
                                f"{feature_map.max():.3g}, shown min-max normalized)")
            st.markdown(f"**Step through one position:** output ({row}, {col}) is the dot product $W^T x$ of "
                        "the window x with the kernel W, plus the bias b.")
            g1, g2, g3 = st.columns(3)
            g1.caption("Patch x: input under the window (row/column labels = input position; outside = padding)")
            g1.table(grid(step.patch, list(step.rows), list(step.cols)))
            g2.caption("Kernel W")
            g2.table(grid(step.kernel, cmap="RdBu"))
            g3.caption("Element-wise products W ⊙ x")
            g3.table(grid(step.products, cmap="RdBu"))
            st.code(f"W^T x + b = {step.terms_text()}", language=None, wrap_lines=True)
            value = float(feature_map[row, col])
            same = "equal to" if abs(value - step.total) <= 1e-4 * max(1.0, abs(value)) else "DIFFERENT from"
            st.success(f"Sum of products + bias = {step.total:.5g}, {same} the output map's value at "
                       f"({row}, {col}): {value:.5g}.")
            st.caption("PyTorch's 'convolution' is a cross-correlation: the kernel is not flipped. "
                       "Colour photos are converted to grayscale here (one input channel).")

# ------------------------------------------------------------------ activation
LENET_RELUS = {"features.1": "C1 (6@28x28)", "features.4": "C3 (16@10x10)", "features.7": "C5 (120)",
               "classifier.2": "F6 (84)"}
with tab_act:
    st.markdown("Convolutions are followed by a **non-linear** activation that acts on each value separately. "
                "Solid lines are f(x), dashed lines the derivative f'(x) that backpropagation multiplies by "
                "(computed with autograd). Click a legend entry to highlight one function.")
    a1, a2 = st.columns([1, 3])
    names = a1.multiselect("Activations", list(ACTIVATIONS), default=list(ACTIVATIONS), key="act_names")
    x_range = a1.slider("x range", -8.0, 8.0, (-4.0, 4.0), 0.5, key="act_range")
    with friendly_errors("The activation curves"):
        curves = ops.activation_curves(names, x_range[0], x_range[1], 401) if names and x_range[0] < x_range[1] \
            else pd.DataFrame(columns=["activation", "x", "curve", "value"])
        pick = alt.selection_point(fields=["activation"], bind="legend")
        a2.altair_chart(
            alt.Chart(curves, title="Activation functions f(x) and their derivatives f'(x)").mark_line().encode(
                x=alt.X("x:Q"), y=alt.Y("value:Q", title="value"),
                color=alt.Color("activation:N", scale=alt.Scale(scheme="tableau10")),
                strokeDash=alt.StrokeDash("curve:N", title="curve", sort=["f(x)", "f'(x)"]),
                opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12)),
                tooltip=["activation", "curve", alt.Tooltip("x:Q", format=".2f"),
                         alt.Tooltip("value:Q", format=".3f")],
            ).add_params(pick).properties(height=340), width="stretch")
    a1.markdown("\n".join(f"- **{name}**: {spec.explanation}" for name, spec in ACTIVATIONS.items()))
    st.subheader("The effect on a feature map")
    if feature_map is None:
        st.info("Pick an image on the Convolution tab first.")
    else:
        e0, e1, e2 = st.columns([1, 1.5, 1.5])
        chosen = e0.selectbox("Activation", list(ACTIVATIONS), key="act_apply")
        activated = ops.apply_activation(chosen, feature_map)
        e0.metric("Values exactly 0 after it", f"{float((activated == 0).float().mean()):.1%}")
        e0.caption(f"Before: {feature_map.min():.3g} to {feature_map.max():.3g}. After: {activated.min():.3g} to "
                   f"{activated.max():.3g}. Each image is min-max normalized.")
        e1.image(ops.to_display(feature_map, 360), caption="The Convolution tab's output (before)", width="stretch",
                 output_format="PNG")
        e2.image(ops.to_display(activated, 360), caption=f"After {chosen}", width="stretch",
                 output_format="PNG")
    st.subheader("Dying ReLU, measured")
    st.markdown("A ReLU unit whose input is negative for *every* image outputs 0 and passes back a zero "
                "gradient, so an update that pushes its bias far down can switch it off for good. The "
                "experiment: take LeNet-5 trained on mnist-5k, add a **bias shift** to every convolution bias "
                "(as one bad step could do) and count, on 256 test digits, the units that never fire and the "
                "conv channels whose weights get exactly zero gradient.")
    with friendly_errors("The dying-ReLU experiment"):
        d1, d2 = st.columns([1, 1.4], gap="large")
        shift = d1.slider("Bias shift added to every conv bias", -5.0, 0.0, 0.0, 0.5, key="dead_shift")
        sweep = dead_sweep(256)  # a copy of the cached frame: changing it below is safe
        sweep["layer"] = sweep["layer"].map(LENET_RELUS).fillna(sweep["layer"])
        now = sweep[sweep["bias_shift"] == shift]
        st.dataframe(pd.DataFrame({
            "ReLU after": now["layer"], "dead units": [f"{d} of {u}" for d, u in zip(now["dead_units"], now["units"])],
            "dead": now["dead_fraction"],
            "dead channels": [f"{d} of {c}" for d, c in zip(now["dead_channels"], now["channels"])],
            "0-gradient channels": now["zero_grad_channels"].map(lambda v: "-" if pd.isna(v) else f"{v:.0f}")}),
            hide_index=True, width="stretch", column_config={
                "dead": st.column_config.ProgressColumn("dead", format="percent", min_value=0, max_value=1)})
        d2.caption("A unit is one output value of the ReLU layer; dead = 0 for all 256 digits. Even at shift 0 a "
                   "trained net has some dead units; F6 follows a linear layer (its bias is not shifted).")
        st.altair_chart(alt.Chart(sweep, title="Dead ReLU units vs bias shift").mark_line(point=True).encode(
            x=alt.X("bias_shift:Q", title="bias shift"), y=alt.Y("dead_fraction:Q", title="dead units",
                                                                   axis=alt.Axis(format="%")),
            color=alt.Color("layer:N", title="ReLU after", sort=list(LENET_RELUS.values()),
                            scale=alt.Scale(scheme="tableau10")),
            tooltip=["layer", "bias_shift", "dead_units", alt.Tooltip("dead_fraction:Q", format=".1%")],
        ).properties(height=280), width="stretch")

# ------------------------------------------------------------------ pooling
with tab_pool:
    st.markdown("Pooling works on each channel independently: every window is replaced by its **max** or its "
                "**average**. `MaxPool2d(..., return_indices=True)` also returns which input won each window "
                "(what `MaxUnpool2d` uses); the winners are highlighted in the input.")
    p = st.columns(6)
    size = p[0].number_input("Map size", 4, 10, 6, key="pool_size")
    seed = p[1].number_input("Seed", 0, 10_000, 0, key="pool_seed", help="Seed of the random feature map.")
    kernel_size = p[2].number_input("kernel_size", 1, 4, 2, key="pool_kernel")
    pool_stride = p[3].number_input("stride", 1, 4, 2, key="pool_stride",
                                    help="PyTorch's default stride=None means stride = kernel_size.")
    pool_padding = p[4].number_input("padding", 0, 2, 0, key="pool_padding",
                                     help="At most kernel_size / 2 (PyTorch's rule); padded cells count as -inf for "
                                          "max and as 0 for avg.")
    pool_dilation = p[5].number_input("dilation", 1, 3, 1, key="pool_dilation", help="MaxPool2d only.")
    ceil_mode = st.checkbox("ceil_mode: round the output size up (a last, partial window is kept)", key="pool_ceil")
    with friendly_errors("Pooling"):
        fmap = ops.sample_feature_map(int(size), int(seed))  # size x size
        pool_settings = ops.PoolSettings(int(kernel_size), int(pool_stride), int(pool_padding), int(pool_dilation),
                                         ceil_mode)
        maxed = ops.pool(fmap, "max", pool_settings)
        averaged = ops.pool(fmap, "avg", pool_settings)
        l1, l2 = st.columns(2)
        l1.latex(ops.output_size_latex(int(size), int(kernel_size), int(pool_stride), int(pool_padding),
                                       int(pool_dilation), ceil_mode, symbol="H^{max}"))
        l2.latex(ops.output_size_latex(int(size), int(kernel_size), int(pool_stride), int(pool_padding), 1,
                                       ceil_mode, symbol="H^{avg}"))
        counts = ops.win_counts(maxed, (int(size), int(size))).numpy()
        q1, q2, q3 = st.columns([1.2, 1.2, 1])
        q1.caption(f"Input {size} x {size}: orange = won a max (darker = won several windows)")
        labels = [str(i) for i in range(int(size))]
        q1.table(pd.DataFrame(fmap.numpy(), index=labels, columns=labels).style.format("{:.0f}").apply(
            lambda _: np.where(counts > 0, np.vectorize(lambda c: f"background-color: rgba(245,133,24,"
                                                                  f"{0.35 + 0.2 * min(c, 3)})")(counts), ""),
            axis=None))
        winners = ops.winners_frame(maxed, int(size))
        out_h, out_w = maxed.output.shape
        cells = [f"{v:.0f} ← ({r},{c})" for v, r, c in zip(winners["value"], winners["in_row"], winners["in_col"])]
        q2.caption(f"MaxPool2d output {out_h} x {out_w}: value ← (row, col) of the input that won")
        q2.table(pd.DataFrame(np.array(cells).reshape(out_h, out_w), index=[str(i) for i in range(out_h)],
                              columns=[str(j) for j in range(out_w)]))
        avg_h, avg_w = averaged.output.shape
        q3.caption(f"AvgPool2d output {avg_h} x {avg_w}" + (" (AvgPool2d has no dilation)" if pool_dilation > 1
                                                           else ""))
        q3.table(grid(averaged.output, fmt="{:.2f}", cmap="Greens"))

# ------------------------------------------------------------------ fully-connected
with tab_fc:
    st.markdown("A fully-connected (`nn.Linear`) layer connects every input to every output: it needs a **flat "
                "vector**, so the C x H x W feature maps are flattened first. That is where the lecture's "
                "`16 * 5 * 5` comes from: the shapes below are measured with hooks on the lecture's ConvNet.")
    fc_size = st.slider("Input image size (the lecture uses 12 x 12 RGB images)", 4, 32, 12, key="fc_size")
    with friendly_errors("The walk-through"):
        steps, flat = ops.lecture_flatten_walkthrough(fc_size)
        st.table(steps.set_index("step"))
        side = ops.conv_output_size(ops.conv_output_size(fc_size, 3), 2, 2)
        st.latex(rf"\underbrace{{16}}_{{\text{{channels}}}} \times \underbrace{{{side}}}_{{H}} \times "
                 rf"\underbrace{{{side}}}_{{W}} = {flat}")
        st.latex(rf"\texttt{{nn.Linear(16 * {side} * {side}, 60)}}: \quad {flat} \cdot 60 + 60 = "
                 rf"{flat * 60 + 60:,}".replace(",", "{,}") + r"\ \text{parameters}")
        st.code(f"x = self.pool(self.relu(self.conv(x)))  # N x 16 x {side} x {side}\n"
                f"x = x.view(-1, 16 * {side} * {side})     # N x {flat}: flatten\n"
                "x = self.fc(x)                         # N x 60", language="python")

# ------------------------------------------------------------------ input
with tab_input:
    st.markdown("The input layer is just the image as a tensor of **C x H x W** numbers (channels x height x "
                "width; a batch adds N in front). Before training, each channel is **normalized** with the "
                "dataset's mean and standard deviation, so inputs are centred around 0 with unit spread.")
    mean, std = data.mean[0], data.std[0]
    st.latex(rf"x' = \frac{{x - \mu}}{{\sigma}} = \frac{{x - {mean:.4f}}}{{{std:.4f}}}"
             r"\qquad(\mu, \sigma \text{ of the mnist-5k training pixels})")
    i1, i2 = st.columns([1, 1.3], gap="large")
    digit = i1.slider("Test digit", 0, len(data.test_y) - 1, 0, key="input_digit")
    normalized = data.test_x[digit]  # 1 x 28 x 28, as the network sees it
    raw = data.denormalize(normalized)  # 1 x 28 x 28 in [0, 1]
    label = data.class_names[int(data.test_y[digit])]
    i1.image(ops.to_display(raw[0], 280), caption=f"Raw pixels in [0, 1]; label {label}", width="stretch",
             output_format="PNG")
    heat = pd.DataFrame([(r, c, float(normalized[0, r, c])) for r in range(28) for c in range(28)],
                        columns=["row", "col", "value"])
    i2.altair_chart(alt.Chart(heat, title="Normalized x' per pixel (hover)").mark_rect().encode(
        x=alt.X("col:O", axis=None), y=alt.Y("row:O", axis=None),
        color=alt.Color("value:Q", scale=alt.Scale(scheme="viridis"), title="x'"),
        tooltip=["row", "col", alt.Tooltip("value:Q", format=".3f")]).properties(height=330), width="stretch")
    st.dataframe(ops.tensor_stats({"raw pixels x": raw, "normalized x'": ops.normalize(raw, data.mean, data.std)}),
                 hide_index=True, width="stretch")
    st.caption("Statistics of this one digit; over the whole training split the normalized pixels have mean 0 and "
               "standard deviation 1 by construction.")
    china_photo = photo("china.jpg")
    rgb = torch.from_numpy(np.array(china_photo.resize((240, 160)), dtype=np.float32) / 255).permute(2, 0, 1)
    st.markdown(f"A colour image has **3 channels**, so the first conv layer has `in_channels=3`: china.jpg is a "
                f"3 x {china_photo.height} x {china_photo.width} tensor (channels shown shrunk):")
    for column, c, name in zip(st.columns(3), range(3), ("R (red)", "G (green)", "B (blue)")):
        tinted = torch.zeros_like(rgb)
        tinted[c] = rgb[c]  # one channel, drawn in its own colour
        column.image(ops.to_display(tinted, 240), caption=f"channel {c}: {name}", width="stretch",
                     output_format="PNG")
