"""From ANNs to CNNs: why fully-connected networks do not suit images, measured."""
import altair as alt
import pandas as pd
import streamlit as st

from cnn_core.experiments import ann_vs_cnn as avc
from cnn_core.teaching.layer_ops import to_display
from cnn_core.training.pretrained import LENET5_MNIST, MLP_MNIST, trained_model
from pages.common import lessons, links
from pages.common.charts import legend_highlight
from pages.common.errors import friendly_errors
from pages.common.state import get_dataset

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

IMAGE_SIZES = [8, 16, 28, 32, 64, 128, 224, 256, 512, 1024]


@st.cache_resource(show_spinner="Training an MLP and LeNet-5 (first time only, ~5 s; later runs load them from "
                                "the disk cache)...")
def trained_models() -> dict:
    """Shared by every session, read-only: {label: (model, metrics)}."""
    return {"MLP": trained_model(MLP_MNIST), "LeNet-5": trained_model(LENET5_MNIST)}


@st.cache_data(max_entries=16, show_spinner="Shifting the test digits, classifying them with both networks...")
def translation(direction: str, mode: str, max_shift: int) -> pd.DataFrame:
    """Test accuracy of both networks for shifts 0..max_shift (cached per setting; call trained_models() first)."""
    frame, _ = avc.translation_experiment(shifts=range(0, max_shift + 1), direction=direction, mode=mode)
    return frame


def growth_chart(growth: pd.DataFrame, lo: int, hi: int) -> alt.Chart:
    """First-layer parameters vs image size, log-log, conv blue and FC orange, grayscale vs RGB dashed."""
    pick, opacity = legend_highlight("layer")
    return (alt.Chart(growth, title="Parameters of the first layer vs image size (log scale)")
            .mark_line(point=alt.OverlayMarkDef(size=18)).encode(
                x=alt.X("size:Q", title="image size (pixels per side)",
                        scale=alt.Scale(type="log", domain=[lo, hi], nice=False)),
                y=alt.Y("params:Q", title="parameters", scale=alt.Scale(type="log"), axis=alt.Axis(format="~s")),
                color=alt.Color("layer:N", title="first layer", scale=alt.Scale(range=["#4c78a8", "#f58518"])),
                strokeDash=alt.StrokeDash("color:N", title="image"), opacity=opacity,
                tooltip=["layer", "color", "size", alt.Tooltip("params:Q", format=","),
                         alt.Tooltip("inputs:Q", format=",", title="input values")])
            .add_params(pick).properties(height=330))


def parameter_growth_section() -> None:
    """1. How a fully-connected and a conv first layer grow with the image size."""
    st.header("1. Parameters vs image size")
    c1, c2 = ui.columns([1, 2.6], gap="large")
    lo, hi = c1.select_slider("Image size (pixels per side)", IMAGE_SIZES, value=(28, 1024), key="growth_sizes")
    hidden = int(c1.number_input("Hidden units of the fully-connected layer", 1, 4096, 256, key="growth_hidden"))
    filters = int(c1.number_input("Filters of the conv layer", 1, 512, 16, key="growth_filters"))
    kernel = int(c1.slider("Kernel size of the conv layer", 1, 11, 3, step=2, key="growth_kernel"))
    with friendly_errors("Counting parameters"):
        growth = avc.fc_vs_conv_params(avc.size_range(lo, hi), (1, 3), hidden, filters, kernel)
        c2.altair_chart(growth_chart(growth, lo, hi), width="stretch")
        fc_params, conv_params = avc.first_layer_params(growth, hi, channels=3)
        st.markdown(
            f"For one **{hi} x {hi} RGB** image, `nn.Linear(3*{hi}*{hi}, {hidden})` has **{fc_params:,}** weights "
            f"and biases, while `nn.Conv2d(3, {filters}, {kernel})` has **{conv_params:,}**, whatever the image size: "
            f"its {filters} small kernels are **shared** across all positions and each output only looks at a "
            f"**local** {kernel} x {kernel} window. (Counted on real PyTorch modules on the 'meta' device.)")


def translation_chart(frame: pd.DataFrame, direction: str, mode: str) -> alt.Chart:
    """Test accuracy vs shift, MLP orange and LeNet-5 blue."""
    pick, opacity = legend_highlight("model")
    return (alt.Chart(frame, title=f"Test accuracy vs shift ({direction}, {mode})").mark_line(point=True).encode(
        x=alt.X("shift:Q", title="shift (pixels)", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("accuracy:Q", title="test accuracy", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("model:N", title="model",
                        scale=alt.Scale(domain=["MLP", "LeNet-5"], range=["#f58518", "#4c78a8"])),
        opacity=opacity, tooltip=["model", "shift", alt.Tooltip("accuracy:Q", format=".1%")])
        .add_params(pick).properties(height=320))


def one_digit_shifted(data, models: dict, max_shift: int, direction: str, mode: str) -> None:
    """One test digit, shifted, and what each network answers."""
    st.subheader("One digit, shifted")
    e1, e2, e3 = ui.columns([1, 0.8, 1.8], gap="medium")
    labels = [data.class_names[int(y)] for y in data.test_y]
    index = e1.select_slider("Test digit", range(len(labels)), 7, key="shift_digit",
                             format_func=lambda i: f"a {labels[i]} (no. {i})")  # the digit, not only its index
    shift = e1.slider("Shift (pixels)", 0, max_shift, min(3, max_shift), key="shift_amount")
    fill = (0.0 - data.mean[0]) / data.std[0]  # a black pixel, normalized: the background
    moved, answers = avc.predict_shifted({k: m for k, (m, _) in models.items()}, data.test_x[index], shift,
                                         direction, mode, fill)
    label = int(data.test_y[index])
    e2.image(to_display(data.denormalize(moved)[0], 224), width="stretch", output_format="PNG",
             caption=f"label {label}, shifted {shift} px {direction}", alt=f"label {label}, shifted {shift} px {direction}")
    e3.dataframe(answers.assign(correct=answers["prediction"] == label), hide_index=True, width="stretch",
                 column_config={"confidence": st.column_config.ProgressColumn(
                     "confidence", format="percent", min_value=0, max_value=1)})
    e3.caption("Test accuracy without shift: " + ", ".join(
        f"{name} {metrics['test_accuracy']:.1%}" for name, (_, metrics) in models.items()))


def translation_section() -> None:
    """2. Test digits moved by k pixels, classified by the MLP and by LeNet-5."""
    st.header("2. A shifted digit looks new to an MLP")
    data = get_dataset("mnist-5k")
    st.markdown(f"Both networks were trained by `cnn_core` on the {data.sizes()['train']:,} centred training digits "
                f"of mnist-5k ({LENET5_MNIST.epochs} epochs, seed {LENET5_MNIST.seed}). Here the "
                f"{data.sizes()['test']} test digits are moved by k pixels and classified again.")
    t1, t2 = ui.columns([1, 2.6], gap="large")
    direction = t1.selectbox("Direction", list(avc.DIRECTIONS), key="shift_direction")
    mode = t1.radio("How to shift", list(avc.SHIFT_MODES), key="shift_mode", horizontal=True,
                    help=" / ".join(f"{k}: {v}" for k, v in avc.SHIFT_MODES.items()))
    max_shift = int(t1.slider("Largest shift (pixels)", 1, 12, 8, key="shift_max"))
    with friendly_errors("The translation experiment"):
        trained_models()  # a cold start trains both networks first, under their own (honest) spinner
        frame = translation(direction, mode, max_shift)
        t2.altair_chart(translation_chart(frame, direction, mode), width="stretch")
        k = min(2, max_shift)
        for model, (accuracy, change) in avc.accuracy_change(frame, k).items():
            t1.metric(f"{model} at {k} px", f"{accuracy:.1%}", f"{change * 100:+.1f} pp",  # points, not a %
                      help="pp = percentage points: the accuracy's change against the unshifted test digits.")
        st.markdown(
            "**Why the CNN copes better.** The MLP has one separate weight per pixel, so a stroke that moves by a "
            "few pixels hits weights that never saw it during training. LeNet-5 applies the same kernels at every "
            "position (**shared weights**), each seeing a small neighbourhood (**local receptive fields**), so a "
            "moved stroke produces the same feature, just moved; **sub-sampling** (pooling) then makes small moves "
            "disappear. The curves also show the limit: the CNN is tolerant to small shifts, not invariant to large "
            "ones, because all its training digits were centred - which is what data augmentation is for.")
        one_digit_shifted(data, trained_models(), max_shift, direction, mode)


def main() -> None:
    """Title, intro and the two measurements."""
    st.set_page_config(page_title="From ANNs to CNNs", page_icon="🧠", layout="wide")
    links.start_page()
    st.title("🧠 From ANNs to CNNs")
    st.caption("Fully-connected networks (ANNs) on images: they **don't scale** with the input, they **ignore the "
               "local arrangement** of pixels, and a pattern must be **learned again in every region**.")
    lessons.exercise_panel("1_From_ANNs_to_CNNs.py")
    with ui.expander("What this page measures"):
        st.markdown("The first and the last issue of the lecture's list, on real PyTorch layers and on an MLP and "
                    "LeNet-5 trained on MNIST digits.")
    parameter_growth_section()
    translation_section()


main()
links.finish_page()
