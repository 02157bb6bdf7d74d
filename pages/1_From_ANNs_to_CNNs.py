"""From ANNs to CNNs: why fully-connected networks do not suit images, measured."""
import altair as alt
import numpy as np
import streamlit as st

from cnn_core.experiments import ann_vs_cnn as avc
from cnn_core.teaching.layer_ops import to_display
from cnn_core.training.pretrained import LENET5_MNIST, MLP_MNIST, trained_model
from pages.common.errors import friendly_errors
from pages.common.state import get_dataset

st.set_page_config(page_title="From ANNs to CNNs", page_icon="🧠", layout="wide")
st.title("🧠 From ANNs to CNNs")
st.markdown(
    "The lecture lists the issues of fully-connected networks (ANNs) on images: they **don't scale** with "
    "high-dimensional inputs, they **ignore the local arrangement** of pixels, and the same weight pattern has to "
    "be **learned again for every region** where a feature can appear. This page measures the first and the "
    "last issue on real PyTorch layers and on an MLP and LeNet-5 trained on MNIST digits."
)


@st.cache_resource(show_spinner="Training the MLP and LeNet-5 on mnist-5k (first time only, a few seconds "
                                "each; later runs load them from the disk cache)...")
def trained_models() -> dict:
    """Shared by every session, read-only: {label: (model, metrics)}."""
    return {"MLP": trained_model(MLP_MNIST), "LeNet-5": trained_model(LENET5_MNIST)}


@st.cache_data(max_entries=16, show_spinner="Shifting the test digits...")
def translation(direction: str, mode: str, max_shift: int):
    trained_models()  # make sure the spinner above is shown on a cold start
    frame, _ = avc.translation_experiment(shifts=range(0, max_shift + 1), direction=direction, mode=mode)
    return frame


# ------------------------------------------------------------------ parameter growth
st.header("1. Parameters vs image size")
c1, c2 = st.columns([1, 2.6], gap="large")
lo, hi = c1.select_slider("Image size (pixels per side)", [8, 16, 28, 32, 64, 128, 224, 256, 512, 1024],
                          value=(28, 1024), key="growth_sizes")
hidden = c1.number_input("Hidden units of the fully-connected layer", 1, 4096, 256, key="growth_hidden")
filters = c1.number_input("Filters of the conv layer", 1, 512, 16, key="growth_filters")
kernel = c1.slider("Kernel size of the conv layer", 1, 11, 3, step=2, key="growth_kernel")
with friendly_errors("Counting parameters"):
    sizes = sorted({int(s) for s in np.geomspace(lo, hi, 24)} | {lo, hi}) if lo < hi else [lo]
    growth = avc.fc_vs_conv_params(sizes, (1, 3), int(hidden), int(filters), int(kernel))
    pick = alt.selection_point(fields=["layer"], bind="legend")
    c2.altair_chart(alt.Chart(growth, title="Parameters of the first layer vs image size (log scale)")
                    .mark_line(point=alt.OverlayMarkDef(size=18)).encode(
                        x=alt.X("size:Q", title="image size (pixels per side)",
                                scale=alt.Scale(type="log", domain=[lo, hi], nice=False)),
                        y=alt.Y("params:Q", title="parameters", scale=alt.Scale(type="log"),
                                axis=alt.Axis(format="~s")),
                        color=alt.Color("layer:N", title="first layer",  # conv blue, FC orange (as below)
                                        scale=alt.Scale(range=["#4c78a8", "#f58518"])),
                        strokeDash=alt.StrokeDash("color:N", title="image"),
                        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
                        tooltip=["layer", "color", "size", alt.Tooltip("params:Q", format=","),
                                 alt.Tooltip("inputs:Q", format=",", title="input values")])
                    .add_params(pick).properties(height=330), width="stretch")
    at = growth[(growth["size"] == hi) & (growth["channels"] == 3)].set_index("layer")["params"]
    fc_name, conv_name = at.index[0], at.index[1]
    st.markdown(
        f"For one **{hi} x {hi} RGB** image, `nn.Linear(3*{hi}*{hi}, {hidden})` has **{at[fc_name]:,}** weights and "
        f"biases, while `nn.Conv2d(3, {filters}, {kernel})` has **{at[conv_name]:,}**, whatever the image size: its "
        f"{filters} small kernels are **shared** across all positions and each output only looks at a "
        f"**local** {kernel} x {kernel} window. (Counted on real PyTorch modules on the 'meta' device.)")

# ------------------------------------------------------------------ translation experiment
st.header("2. A shifted digit looks new to an MLP")
data = get_dataset("mnist-5k")
st.markdown(f"Both networks were trained by `cnn_core` on the {data.sizes()['train']:,} centred training digits of "
            f"mnist-5k ({LENET5_MNIST.epochs} epochs, seed {LENET5_MNIST.seed}). Here the {data.sizes()['test']} test "
            "digits are moved by k pixels and classified again.")
t1, t2 = st.columns([1, 2.6], gap="large")
direction = t1.selectbox("Direction", list(avc.DIRECTIONS), key="shift_direction")
mode = t1.radio("How to shift", list(avc.SHIFT_MODES), key="shift_mode", horizontal=True,
                help=" / ".join(f"{k}: {v}" for k, v in avc.SHIFT_MODES.items()))
max_shift = t1.slider("Largest shift (pixels)", 1, 12, 8, key="shift_max")
with friendly_errors("The translation experiment"):
    frame = translation(direction, mode, int(max_shift))
    models = trained_models()
    pick2 = alt.selection_point(fields=["model"], bind="legend")
    t2.altair_chart(alt.Chart(frame, title=f"Test accuracy vs shift ({direction}, {mode})")
                    .mark_line(point=True).encode(
                        x=alt.X("shift:Q", title="shift (pixels)", axis=alt.Axis(tickMinStep=1)),
                        y=alt.Y("accuracy:Q", title="test accuracy", axis=alt.Axis(format="%"),
                                scale=alt.Scale(domain=[0, 1])),
                        color=alt.Color("model:N", title="model", scale=alt.Scale(
                            domain=["MLP", "LeNet-5"], range=["#f58518", "#4c78a8"])),
                        opacity=alt.condition(pick2, alt.value(1.0), alt.value(0.15)),
                        tooltip=["model", "shift", alt.Tooltip("accuracy:Q", format=".1%")])
                    .add_params(pick2).properties(height=320), width="stretch")
    wide = frame.pivot(index="shift", columns="model", values="accuracy")
    k = min(2, int(max_shift))
    t1.metric(f"MLP at {k} px", f"{wide.loc[k, 'MLP']:.1%}", f"{wide.loc[k, 'MLP'] - wide.loc[0, 'MLP']:+.1%}")
    t1.metric(f"LeNet-5 at {k} px", f"{wide.loc[k, 'LeNet-5']:.1%}",
              f"{wide.loc[k, 'LeNet-5'] - wide.loc[0, 'LeNet-5']:+.1%}")
    st.markdown(
        "**Why the CNN copes better.** The MLP has one separate weight per pixel, so a stroke that moves by a few "
        "pixels hits weights that never saw it during training. LeNet-5 applies the same kernels at every position "
        "(**shared weights**), each seeing a small neighbourhood (**local receptive fields**), so a moved stroke "
        "produces the same feature, just moved; **sub-sampling** (pooling) then makes small moves disappear. The "
        "curves also show the limit: the CNN is tolerant to small shifts, not invariant to large ones, because all "
        "its training digits were centred - which is what data augmentation is for.")
    st.subheader("One digit, shifted")
    e1, e2, e3 = st.columns([1, 0.8, 1.8], gap="medium")
    index = e1.slider("Test digit", 0, len(data.test_y) - 1, 7, key="shift_digit")
    shift = e1.slider("Shift (pixels)", 0, int(max_shift), min(3, int(max_shift)), key="shift_amount")
    fill = (0.0 - data.mean[0]) / data.std[0]
    moved, answers = avc.predict_shifted({k: m for k, (m, _) in models.items()}, data.test_x[index], shift,
                                         direction, mode, fill)
    e2.image(to_display(data.denormalize(moved)[0], 224), width="stretch", output_format="PNG",
             caption=f"label {int(data.test_y[index])}, shifted {shift} px {direction}")
    answers["correct"] = answers["prediction"] == int(data.test_y[index])
    e3.dataframe(answers, hide_index=True, width="stretch", column_config={
        "confidence": st.column_config.ProgressColumn("confidence", format="percent", min_value=0, max_value=1)})
    e3.caption("Test accuracy without shift: " + ", ".join(
        f"{name} {metrics['test_accuracy']:.1%}" for name, (_, metrics) in models.items()))
