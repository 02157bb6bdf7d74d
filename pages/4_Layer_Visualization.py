"""Layer visualization: feed a photo or a digit to a trained CNN and look at every layer's output."""
import hashlib
from typing import Callable

import altair as alt
import streamlit as st
from PIL import ImageOps

from cnn_core.data.images import load_image
from cnn_core.data.preprocess import Prepared, prepare
from cnn_core.data.samples import SAMPLE_PHOTOS, dataset_digit, sample_photo
from cnn_core.inspect import feature_maps as act
from cnn_core.inspect.feature_maps import Analysis
from cnn_core.training.digit_models import EXTRA_VISION_MODELS
from cnn_core.training.zoo import (TORCHVISION_MODELS, VISION_MODELS, VisionModel, WeightsUnavailable,
                                   depthwise_summary, download_weights, from_checkpoint, load_vision_model,
                                   torchvision_weights_cached)
from pages.common import lessons, links
from pages.layer_viz.draw import (DRAW_SOURCE, digit_model_note, drawn_input, extra_model, keep, remember,
                                  source_changed, start_on_linked_source, warn_if_unsure)
from pages.common.errors import friendly_errors
from pages.layer_viz.sections import show_tabs
from pages.common.session_keys import SESSION_CHECKPOINTS
from pages.common.widgets import IMAGE_TYPES, checkpoint_upload_mb

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

SOURCES = ["Sample photo", "Test digit", DRAW_SOURCE, "Upload"]


# Shared, read-only resources: one copy of each model per server process (never trained or re-moded here).
@st.cache_resource(max_entries=6, show_spinner="Loading the model (LeNet-5 is trained once on first use)...")
def builtin_model(key: str) -> VisionModel:
    """A built-in vision model (EfficientNet-Lite0, LeNet-5, torchvision's), shared by all sessions."""
    return load_vision_model(key)


@st.cache_resource(max_entries=4, show_spinner="Loading the checkpoint...")
def checkpoint_model(digest: str, label: str, _data: bytes) -> VisionModel:
    """A checkpoint's model, shared by digest."""
    return from_checkpoint(_data, label)


# Per-image results, keyed by (model, image): reruns caused by widgets only read them back.
@st.cache_data(max_entries=16, show_spinner=False)
def prepared(model_key: str, image_key: str, _vm, _load) -> Prepared:
    """The image preprocessed for the model, with its steps."""
    loaded = _load()  # (image, already_mnist), or a drawing that is already prepared
    return loaded if isinstance(loaded, Prepared) else prepare(loaded[0], _vm.input, loaded[1])


@st.cache_data(max_entries=6, show_spinner="Running the network and recording every layer...")
def analysis(model_key: str, input_key: str, _vm, _x) -> Analysis:
    """Every layer's output for one input, and the prediction."""
    return act.analyze(_vm.model, _x, _vm.class_names)


def keep_valid(key: str, options: list) -> None:
    """Forget a widget's stored choice when it is no longer offered (another model or layer list)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def select_uploaded_checkpoint() -> None:
    """on_change of the checkpoint uploader: select the uploaded model."""
    if st.session_state.get("lv_ckpt") is not None:
        st.session_state["lv_model"] = "upload"


def model_label(key: str, ckpt_file) -> str:
    """The Network selectbox's label for a model key."""
    if key in TORCHVISION_MODELS:
        return VISION_MODELS[key].label + ("" if torchvision_weights_cached(key) else " (weights not downloaded)")
    if key.startswith("session:"):
        return f"Trained in this session: {key[8:]}"
    if key in EXTRA_VISION_MODELS:
        return EXTRA_VISION_MODELS[key][0]
    return f"Uploaded checkpoint: {ckpt_file.name}" if key == "upload" else VISION_MODELS[key].label


def load_builtin(model_key: str) -> VisionModel | None:
    """A built-in model, or a message (and a download button) when its weights are missing."""
    try:
        return builtin_model(model_key)
    except WeightsUnavailable as exc:  # torchvision weights not cached: a message and a way to fetch them
        st.caption(VISION_MODELS[model_key].explanation)
        st.warning(str(exc), icon="📦")
        if model_key in TORCHVISION_MODELS and st.button("Download the weights now", key="lv_fetch"):
            bar = st.progress(0.0, text="Downloading...")
            download_weights(model_key, progress=lambda f: bar.progress(f, text=f"Downloading... {f:.0%}"))
            st.rerun()
    return None


def pick_model(ckpt_box) -> VisionModel | None:
    """The Network picker (built-in, trained this session, uploaded checkpoint in ckpt_box); None when none loaded."""
    session_ckpts: dict = st.session_state.get(SESSION_CHECKPOINTS, {})
    options = list(VISION_MODELS) + list(EXTRA_VISION_MODELS) + [f"session:{name}" for name in session_ckpts]
    with ckpt_box, ui.expander("Use your own trained model (a checkpoint from the Train page)"):
        ckpt_file = st.file_uploader("Checkpoint (.pt)", type=["pt", "pth"], key="lv_ckpt", max_upload_size=checkpoint_upload_mb(),
                                     on_change=select_uploaded_checkpoint,
                                     help="A CNN Playground checkpoint: weights + JSON metadata (loaded weights-only). "
                                          "Models you train on the Train page appear in the list by themselves.")
    if ckpt_file is not None:
        options.append("upload")
    remember("lv_model")  # picked once per session: the choice survives visits to other pages
    start_on_linked_source()  # a link to "Draw a digit" opens on LeNet-5, not on an ImageNet network
    keep_valid("lv_model", options)
    model_key = ui.selectbox("Network", options, format_func=lambda k: model_label(k, ckpt_file), key="lv_model",
                             on_change=keep, args=("lv_model",))
    with friendly_errors("Loading the model"):
        if model_key.startswith("session:"):
            data = session_ckpts[model_key[8:]]
            return checkpoint_model(hashlib.sha256(data).hexdigest(), model_key[8:], data)
        if model_key == "upload":
            data = ckpt_file.getvalue()
            return checkpoint_model(hashlib.sha256(data).hexdigest(), ckpt_file.name, data)
        if model_key in EXTRA_VISION_MODELS:
            return extra_model(model_key)
        return load_builtin(model_key)
    return None


def pick_input(vm: VisionModel) -> tuple[str, Callable, str | None] | None:
    """The image source; returns (image key, loader, true-label caption or None), or None before an upload."""
    if st.session_state.get("lv_last_model") != vm.key:  # another network: start from the input that suits it
        st.session_state["lv_last_model"] = vm.key
        if st.session_state.get("lv_source") not in ("Upload", DRAW_SOURCE):
            st.session_state["lv_source"] = "Test digit" if vm.input.style == "digit" else "Sample photo"
    source = ui.radio("Image", SOURCES, horizontal=True, key="lv_source", on_change=source_changed,
                      help="Sample photos ship with scikit-learn and matplotlib; test digits come from mnist-5k.")
    if source == "Sample photo":
        photo = ui.selectbox("Sample photo", list(SAMPLE_PHOTOS), format_func=lambda k: SAMPLE_PHOTOS[k].label,
                             key="lv_sample")
        st.caption(f"From {SAMPLE_PHOTOS[photo].source}.")
        return f"sample:{photo}", lambda: (sample_photo(photo), False), None
    if source == "Test digit":
        index = int(ui.number_input("Test digit number (mnist-5k test split)", 0, 499, 0, key="lv_digit"))
        digit, label = dataset_digit(index)
        return f"digit:{index}", lambda: (digit, True), f"True label of test digit {index}: **{label}**"
    if source == DRAW_SOURCE:
        drawn = drawn_input(vm.input)
        return None if drawn is None else (f"draw:{drawn[0]}", lambda: drawn[1], None)
    upload = st.file_uploader("Your image (PNG, JPEG, WebP, BMP, GIF, TIFF; up to 25 MB)", type=IMAGE_TYPES,
                              key="lv_upload", max_upload_size=25,
                              help="A photo for the ImageNet models; a digit on paper for LeNet-5 (converted to "
                                   "MNIST style: white ink on black, centered in 28 x 28).")
    if upload is None:
        st.info("Upload an image to start, or pick a sample photo or a test digit.")
        return None
    raw = upload.getvalue()
    return hashlib.sha256(raw).hexdigest(), lambda: (load_image(raw, upload.name), False), None


def show_model_caption(vm) -> None:
    """What the model is: label, input size, parameter count, depthwise note."""
    n_params = sum(p.numel() for p in vm.model.parameters())
    if vm.key in VISION_MODELS:  # beside the prediction, so the image picker stays short
        st.caption(VISION_MODELS[vm.key].explanation)
    st.caption(f"**{vm.label}**: {vm.description} Input: {vm.input.channels} x {vm.input.size} x {vm.input.size}, "
               f"{n_params:,} parameters.")
    if depthwise_summary(vm.model):
        with ui.expander("🧩 Depthwise convolutions in this network"):
            st.markdown(depthwise_summary(vm.model))


def framed(image, width: int = 2):
    """The tile with a grey frame, so white ink at its edge does not merge with a white page."""
    return ImageOps.expand(image.convert("RGB"), border=width, fill=(128, 128, 128))


def show_preprocessing(ready) -> None:
    """Each preprocessing step as an image with its caption."""
    st.subheader("What the network receives")
    cols = ui.columns(max(4, len(ready.steps)))  # at least 4 columns: two steps do not fill the page
    for col, step in zip(cols, ready.steps):
        col.markdown(f"**{step.title}**")
        col.image(framed(step.image, 1 if step.image.width < 112 else 2), alt=f"{step.title}: {step.caption}",
                  width="stretch" if step.image.width >= 112 else "content")
        col.caption(step.caption)


def show_prediction(result, true_label: str | None) -> None:
    """Top-5 softmax bars and the predicted class."""
    top = result.top(5)
    left, right = ui.columns([3, 2])
    bars = alt.Chart(top).mark_bar().encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("class:N", sort=None, title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
        tooltip=["rank", "class", alt.Tooltip("probability:Q", format=".2%")])
    labels = bars.mark_text(align="left", dx=3).encode(text=alt.Text("probability:Q", format=".1%"))
    left.altair_chart((bars + labels).properties(title="Top-5 (softmax probabilities)",
                                                 height=alt.Step(30)), width="stretch")
    right.metric("Prediction", top["class"][0], f"{top['probability'][0]:.1%} probability", delta_color="off",
                 delta_arrow="off")
    if true_label:
        right.caption(true_label)
    right.caption(f"{len(result.layers)} layer outputs recorded in {result.seconds:.2f} s (cached for this image).")


def main() -> None:
    """Model -> image -> preprocessing -> prediction -> the five tabs."""
    st.set_page_config(page_title="Layer visualization", page_icon="🔍", layout="wide")
    links.start_page()
    st.title("🔍 Layer visualization")
    lessons.exercise_panel("4_Layer_Visualization.py")
    with ui.expander("What this page shows"):
        st.markdown(
            "A trained CNN turns an image into a stack of **feature maps**, one per channel of each layer. Early "
            "layers respond to edges and colours, deeper ones to textures and object parts, and the last layers to "
            "whole classes. Pick a trained network and an image (or upload your own), then look at what every "
            "layer makes of it, which filters it learned, and which pixels decided the prediction.")
    c_setup, c_result = ui.columns([1.15, 1.2], gap="large")  # the prediction beside its inputs: above the fold
    with c_setup:
        pick_box, ckpt_box = ui.container(), ui.container()  # the checkpoint upload (rarely used) under the inputs
        with pick_box:
            vm = pick_model(ckpt_box)
            picked = None if vm is None else pick_input(vm)
    if vm is None or picked is None:
        if vm is not None:
            c_result.caption(f"**{vm.label}**: {vm.description}")
        return
    image_key, load, true_label = picked
    result = ready = None
    with friendly_errors("Reading the image"):
        ready = prepared(vm.key, image_key, vm, load)
        input_key = hashlib.sha256(ready.tensor.numpy().tobytes()).hexdigest()  # same pixels = same cache entry
        result = analysis(vm.key, input_key, vm, ready.tensor)
    if result is None:
        return
    with c_result:
        digit_model_note(vm, image_key)
        show_prediction(result, true_label)
        if image_key.startswith("draw:"):
            warn_if_unsure(ready, result.probabilities)
        show_model_caption(vm)
    show_preprocessing(ready)
    show_tabs(result, vm, ready, image_key, input_key)


main()
links.finish_page()
