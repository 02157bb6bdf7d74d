"""Basic layers: convolution step by step, activations, pooling, flatten + fully-connected, the input layer."""
import altair as alt
import pandas as pd
import streamlit as st
import torch

from cnn_core.data.preprocess import standardize
from cnn_core.models import ACTIVATIONS
from cnn_core.teaching import layer_ops as ops
from cnn_core.training.pretrained import LENET5_MNIST, trained_model
from pages.common import lessons, links
from pages.basic_layers.pooling import pooling_tab
from pages.basic_layers.sections import convolution_tab, photo
from pages.common.charts import legend_highlight
from pages.common.errors import friendly_errors
from pages.common.state import get_dataset
from pages.common.formulas import show_formula

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

DEAD_COUNT = 256  # test digits the dying-ReLU experiment runs on
BIAS_SHIFTS = [s / 2 for s in range(-10, 1)]  # -5.0 .. 0.0


@st.cache_resource(show_spinner="Training LeNet-5 on mnist-5k once (cached on disk)...")
def trained_lenet() -> tuple[torch.nn.Module, dict]:
    """LeNet-5 trained on mnist-5k, shared by all sessions: never modified (dead_relu_report copies it)."""
    return trained_model(LENET5_MNIST)


@st.cache_data(max_entries=2, show_spinner="Measuring dead ReLU units for every bias shift...")
def dead_sweep(count: int = DEAD_COUNT) -> pd.DataFrame:
    """The dying-ReLU sweep of the shared LeNet-5, each ReLU labelled with its LeNet stage: computed once."""
    lenet, _ = trained_lenet()
    test = get_dataset("mnist-5k")
    sweep = ops.dead_relu_sweep(lenet, test.test_x[:count], test.test_y[:count], BIAS_SHIFTS)
    labels = ops.relu_stage_labels(lenet, tuple(test.test_x.shape[1:]))
    return sweep.assign(layer=sweep["layer"].map(labels).fillna(sweep["layer"]))


def activation_chart(names: list[str], x_range: tuple[float, float]) -> alt.Chart:
    """f(x) solid and f'(x) dashed per activation; a legend click highlights one."""
    curves = ops.activation_curves(names, x_range[0], x_range[1], 401) if names and x_range[0] < x_range[1] \
        else pd.DataFrame(columns=["activation", "x", "curve", "value"])
    pick, opacity = legend_highlight("activation", dim=0.12)
    return alt.Chart(curves, title="Activation functions f(x) and their derivatives f'(x)").mark_line().encode(
        x=alt.X("x:Q"), y=alt.Y("value:Q", title="value"),
        color=alt.Color("activation:N", scale=alt.Scale(scheme="tableau10")),
        strokeDash=alt.StrokeDash("curve:N", title="curve", sort=["f(x)", "f'(x)"]), opacity=opacity,
        tooltip=["activation", "curve", alt.Tooltip("x:Q", format=".2f"), alt.Tooltip("value:Q", format=".3f")],
    ).add_params(pick).properties(height=340)


def show_activation_effect(feature_map: torch.Tensor | None) -> None:
    """The convolution tab's output before and after a chosen activation."""
    st.subheader("The effect on a feature map")
    if feature_map is None:
        st.info("Pick an image on the Convolution tab first.")
        return
    e0, e1, e2 = ui.columns([1, 1.5, 1.5])
    chosen = e0.selectbox("Activation", list(ACTIVATIONS), key="act_apply")
    activated = ops.apply_activation(chosen, feature_map)
    e0.metric("Values exactly 0 after it", f"{float((activated == 0).float().mean()):.1%}")
    e0.caption(f"Before: {feature_map.min():.3g} to {feature_map.max():.3g}. After: {activated.min():.3g} to "
               f"{activated.max():.3g}. Each image is min-max normalized.")
    e1.image(ops.to_display(feature_map, 360), caption="The Convolution tab's output (before)", alt="The Convolution tab's output (before)", width="stretch",
             output_format="PNG")
    e2.image(ops.to_display(activated, 360), caption=f"After {chosen}", alt=f"After {chosen}", width="stretch", output_format="PNG")


def show_dying_relu() -> None:
    """Dead ReLU units of the trained LeNet-5 as every conv bias is shifted down."""
    st.subheader("Dying ReLU, measured")
    st.markdown("A ReLU unit whose input is negative for *every* image outputs 0 and passes back a zero "
                "gradient, so an update that pushes its bias far down can switch it off for good. The "
                "experiment: take LeNet-5 trained on mnist-5k, add a **bias shift** to every convolution bias "
                f"(as one bad step could do) and count, on {DEAD_COUNT} test digits, the units that never fire "
                "and the conv channels whose weights get exactly zero gradient.")
    with friendly_errors("The dying-ReLU experiment"):
        d1, d2 = ui.columns([1, 1.4], gap="large")
        shift = d1.slider("Bias shift added to every conv bias", -5.0, 0.0, 0.0, 0.5, key="dead_shift")
        sweep = dead_sweep(DEAD_COUNT)
        now = sweep[sweep["bias_shift"] == shift]
        st.dataframe(pd.DataFrame({
            "ReLU after": now["layer"], "dead units": [f"{d} of {u}" for d, u in zip(now["dead_units"], now["units"])],
            "dead": now["dead_fraction"],
            "dead channels": [f"{d} of {c}" for d, c in zip(now["dead_channels"], now["channels"])],
            "0-gradient channels": now["zero_grad_channels"].map(lambda v: "-" if pd.isna(v) else f"{v:.0f}")}),
            hide_index=True, width="stretch", column_config={
                "dead": st.column_config.ProgressColumn("dead", format="percent", min_value=0, max_value=1)})
        d2.caption(f"A unit is one output value of the ReLU layer; dead = 0 for all {DEAD_COUNT} digits. Even at "
                   "shift 0 a trained net has some dead units; F6 follows a linear layer (its bias is not shifted).")
        st.altair_chart(alt.Chart(sweep, title="Dead ReLU units vs bias shift").mark_line(point=True).encode(
            x=alt.X("bias_shift:Q", title="bias shift"),
            y=alt.Y("dead_fraction:Q", title="dead units", axis=alt.Axis(format="%")),
            color=alt.Color("layer:N", title="ReLU after", sort=list(dict.fromkeys(sweep["layer"])),
                            scale=alt.Scale(scheme="tableau10")),
            tooltip=["layer", "bias_shift", "dead_units", alt.Tooltip("dead_fraction:Q", format=".1%")],
        ).properties(height=280), width="stretch")


def activation_tab(feature_map: torch.Tensor | None) -> None:
    """Activation curves and derivatives, their effect on a feature map, dying ReLU."""
    st.markdown("Convolutions are followed by a **non-linear** activation that acts on each value separately. "
                "Solid lines are f(x), dashed lines the derivative f'(x) that backpropagation multiplies by "
                "(computed with autograd). Click a legend entry to highlight one function.")
    # full width: in a narrow column the box shows two chips and scrolls, while all six are plotted
    names = ui.multiselect("Activations", list(ACTIVATIONS), default=list(ACTIVATIONS), key="act_names")
    a1, a2 = ui.columns([1, 3])
    x_range = a1.slider("x range", -8.0, 8.0, (-4.0, 4.0), 0.5, key="act_range")
    with friendly_errors("The activation curves"):
        a2.altair_chart(activation_chart(names, x_range), width="stretch")
    a1.markdown("\n".join(f"- **{name}**: {spec.explanation}" for name, spec in ACTIVATIONS.items()))
    show_activation_effect(feature_map)
    show_dying_relu()


def fully_connected_tab() -> None:
    """Where the lecture's 16 * 5 * 5 comes from: shapes through its ConvNet, measured."""
    st.markdown("A fully-connected (`nn.Linear`) layer connects every input to every output: it needs a **flat "
                "vector**, so the C x H x W feature maps are flattened first. That is where the lecture's "
                "`16 * 5 * 5` comes from: the shapes below are measured with hooks on the lecture's ConvNet.")
    fc_size = ui.slider("Input image size (the lecture uses 12 x 12 RGB images)", 4, 32, 12, key="fc_size")
    with friendly_errors("The walk-through"):
        steps, flat = ops.lecture_flatten_walkthrough(fc_size)
        st.table(steps.set_index("step"))
        side = ops.conv_output_size(ops.conv_output_size(fc_size, 3), 2, 2)
        show_formula(rf"\underbrace{{16}}_{{\text{{channels}}}} \times \underbrace{{{side}}}_{{H}} \times "
                 rf"\underbrace{{{side}}}_{{W}} = {flat}")
        show_formula(rf"\texttt{{nn.Linear(16 * {side} * {side}, 60)}}: \quad {flat} \cdot 60 + 60 = "
                 rf"{flat * 60 + 60:,}".replace(",", "{,}") + r"\ \text{parameters}")
        st.code(f"x = self.pool(self.relu(self.conv(x)))  # N x 16 x {side} x {side}\n"
                f"x = x.view(-1, 16 * {side} * {side})     # N x {flat}: flatten\n"
                "x = self.fc(x)                         # N x 60", language="python")


def show_rgb_channels() -> None:
    """china.jpg split into its R, G and B channels."""
    china = photo("china")
    st.markdown(f"A colour image has **3 channels**, so the first conv layer has `in_channels=3`: china.jpg is a "
                f"3 x {china.height} x {china.width} tensor (channels shown shrunk):")
    for column, c, (tinted, name) in zip(ui.columns(3), range(3),
                                         zip(ops.rgb_channels(china), ("R (red)", "G (green)", "B (blue)"))):
        column.image(ops.to_display(tinted, 240), caption=f"channel {c}: {name}", alt=f"channel {c}: {name}", width="stretch",
                     output_format="PNG")


def input_tab(data) -> None:
    """The input layer: a C x H x W tensor, normalized with the dataset's mean and std."""
    st.markdown("The input layer is just the image as a tensor of **C x H x W** numbers (channels x height x "
                "width; a batch adds N in front). Before training, each channel is **normalized** with the "
                "dataset's mean and standard deviation, so inputs are centred around 0 with unit spread.")
    mean, std = data.mean[0], data.std[0]
    show_formula(rf"x' = \frac{{x - \mu}}{{\sigma}} = \frac{{x - {mean:.4f}}}{{{std:.4f}}}")
    st.caption("μ and σ: the mean and standard deviation of the mnist-5k training pixels.")
    i1, i2 = ui.columns([1, 1.3], gap="large")
    digit = i1.slider("Test digit", 0, len(data.test_y) - 1, 0, key="input_digit")
    normalized = data.test_x[digit]  # 1 x 28 x 28, as the network sees it
    raw = data.denormalize(normalized)  # 1 x 28 x 28 in [0, 1]
    label = data.class_names[int(data.test_y[digit])]
    i1.image(ops.to_display(raw[0], 280), caption=f"Raw pixels in [0, 1]; label {label}", alt=f"Raw pixels in [0, 1]; label {label}", width="stretch",
             output_format="PNG")
    i2.altair_chart(alt.Chart(ops.pixel_frame(normalized[0]), title="Normalized x' per pixel (hover)").mark_rect()
                    .encode(x=alt.X("col:O", axis=None), y=alt.Y("row:O", axis=None),
                            color=alt.Color("value:Q", scale=alt.Scale(scheme="viridis"), title="x'"),
                            tooltip=["row", "col", alt.Tooltip("value:Q", format=".3f")])
                    .properties(height=330), width="stretch")
    st.dataframe(ops.describe_tensors({"raw pixels x": raw, "normalized x'": standardize(raw, data.mean, data.std)}),
                 hide_index=True, width="stretch")
    st.caption("Statistics of this one digit; over the whole training split the normalized pixels have mean 0 and "
               "standard deviation 1 by construction.")
    show_rgb_channels()


def main() -> None:
    """Title, intro and one tab per basic layer."""
    st.set_page_config(page_title="Basic layers", page_icon="🧩", layout="wide")
    links.start_page()
    st.title("🧩 Basic layers")
    st.caption("The lecture's *Basic Layers* section, one tab per layer; every number is computed by PyTorch.")
    lessons.exercise_panel("3_Basic_Layers.py")
    with ui.expander("What each layer does"):
        st.markdown(
            "A convolution computes **dot products $W^T x + b$** of a small kernel with every patch of its input; "
            "an **activation** bends the result element-wise; **pooling** sub-samples each channel with `max()` or "
            "`avg()`; a **fully-connected** layer sees the whole flattened map.")
    data = get_dataset("mnist-5k")
    tab_conv, tab_act, tab_pool, tab_fc, tab_input = ui.tabs(
        ["Convolution", "Activation", "Pooling", "Fully-connected", "Input"])
    with tab_conv:
        feature_map = convolution_tab(data)
    with tab_act:
        activation_tab(feature_map)
    with tab_pool:
        pooling_tab()
    with tab_fc:
        fully_connected_tab()
    with tab_input:
        input_tab(data)


main()
links.finish_page()
