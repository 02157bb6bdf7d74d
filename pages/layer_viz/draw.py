"""Draw a digit (Layer Visualization): the canvas, the MNIST-style input it becomes, and the model picked once.

st_canvas sends its pixels when a stroke ends (mouse or finger lifted): that rerun is the prediction.
"""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from cnn_core.data.drawing import EmptyCanvas, drawing_warning, prepare_drawing
from cnn_core.data.preprocess import InputSpec, Prepared
from cnn_core.training.digit_models import EXTRA_VISION_MODELS
from pages.common import links
from pages.common.links.params import initial
from pages.common.errors import friendly_errors

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)

DRAW_SOURCE = "Draw a digit"
PHOTO_SOURCE = "Sample photo"
DIGIT_SOURCES = ("Test digit", DRAW_SOURCE)
DIGIT_MODEL, PHOTO_MODEL = "lenet5-mnist", "efficientnet-lite0"  # keys of cnn_core's VISION_MODELS
CANVAS_SIDE = 280
DRAW_HINT = ("✏️ Draw a digit on the canvas (mouse, pen or finger): the prediction appears when you lift it. "
             "A digit as tall as the canvas, centred, works best.")


@st.cache_resource(max_entries=2, show_spinner="Loading the model (trained once on first use, a few seconds)...")
def extra_model(key: str):
    """A digit model that is not in the zoo (the MLP), shared read-only by every session."""
    return EXTRA_VISION_MODELS[key][1]()


def remember(key: str) -> None:
    """Keep a widget's choice for the whole session (Streamlit forgets the state of widgets not drawn in a run)."""
    kept = f"_kept_{key}"
    if key not in st.session_state and kept in st.session_state:
        st.session_state[key] = st.session_state[kept]


def keep(key: str) -> None:
    """Store the widget's current value where `remember` finds it on the next visit."""
    st.session_state[f"_kept_{key}"] = st.session_state.get(key)


def network_chosen(model_key: str = "lv_model") -> bool:
    """Whether the student chose the network: in the Network box this session, or in the link they opened."""
    if model_key not in st.session_state:  # before the Network box's first draw: the link is all there is
        return initial(model_key) is not None
    return f"_kept_{model_key}" in st.session_state or links.from_link(model_key)


def model_for_source(source: str | None, model_key: str = "lv_model") -> None:
    """Start a digit source on LeNet-5 and a photo on EfficientNet-Lite0, unless the student chose the network.

    An ImageNet network shown a drawn 7 answers "plunger" and a student blames their drawing.
    """
    if network_chosen(model_key):
        return
    if source in DIGIT_SOURCES:
        st.session_state[model_key] = DIGIT_MODEL
    elif source == PHOTO_SOURCE and st.session_state.get(model_key) == DIGIT_MODEL:
        st.session_state[model_key] = PHOTO_MODEL


def source_changed(source_key: str = "lv_source") -> None:
    """on_change of the image source: the network follows it (see model_for_source)."""
    model_for_source(st.session_state.get(source_key))


def start_on_linked_source(source_key: str = "lv_source", model_key: str = "lv_model") -> None:
    """Before the Network box's first draw: a link that opens on a digit source starts on the digit model."""
    if model_key not in st.session_state and f"_kept_{model_key}" not in st.session_state:
        linked = initial(source_key)
        model_for_source(linked if isinstance(linked, str) else None, model_key)


def digit_canvas(key: str = "lv_canvas") -> np.ndarray | None:
    """The drawing canvas with its stroke width; returns its RGBA pixels (None before the first stroke)."""
    from streamlit_drawable_canvas import st_canvas  # a Streamlit component: import only where it is drawn

    st.space("small")  # room for the canvas's floating toolbar (top right, above the canvas)
    canvas_slot = ui.container()  # drawn above the slider, after it: a lesson link's stroke width applies at once
    left, right = ui.columns([2, 1], vertical_alignment="bottom")
    width = left.slider("Stroke width", 6, 40, 22, key=f"{key}_stroke",
                        help="MNIST strokes are 2-3 px of 28, about 1/10 of the digit's height.")
    with canvas_slot:
        result = st_canvas(stroke_width=width, stroke_color="#000000", background_color="#FFFFFF",
                           height=CANVAS_SIDE, width=CANVAS_SIDE, drawing_mode="freedraw", update_streamlit=True,
                           return_image_data=True, key=f"{key}_{st.session_state.get(f'{key}_round', 0)}")
    if right.button("Clear", key=f"{key}_clear", icon="🧹", help="Empty the canvas (or use its toolbar's 🗑)."):
        st.session_state[f"{key}_round"] = st.session_state.get(f"{key}_round", 0) + 1
        st.rerun()
    st.caption("The canvas's toolbar (top right) has ↶ undo, ↷ redo and 🗑 clear. Each lifted stroke updates "
               "the prediction.")
    return result.image_data


def drawn_input(spec: InputSpec, key: str = "lv_canvas") -> tuple[str, Prepared] | None:
    """The canvas and its preprocessed drawing: (cache key of the pixels, Prepared); None while it is empty."""
    rgba = digit_canvas(key)
    if rgba is None:
        st.info(DRAW_HINT)
        return None
    with friendly_errors("Reading the drawing"):
        try:
            ready = prepare_drawing(rgba, spec)
        except EmptyCanvas:
            st.info(DRAW_HINT)
            return None
        return hashlib.sha256(np.ascontiguousarray(rgba).tobytes()).hexdigest(), ready
    return None


def warn_if_unsure(ready: Prepared, probabilities: np.ndarray) -> None:
    """A warning under the prediction when the drawing is unlike a digit or the network is unsure."""
    message = drawing_warning(ready.view, probabilities)
    if message:
        st.warning(message, icon="⚠️")


def digit_model_note(vm, image_key: str) -> None:
    """A digit network knows ten digits only: say so when it is shown a photo (or an upload that may be one)."""
    if vm.input.style != "digit" or image_key.startswith(("digit:", "draw:")):
        return
    what = "a photo" if image_key.startswith("sample:") else "an upload"
    st.warning(f"{vm.label} only knows the handwritten digits 0-9, so it answers a digit for {what} too: for "
               "anything that is not a digit, the prediction and its probability mean nothing.", icon="🔢")
