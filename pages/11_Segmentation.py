"""Semantic segmentation: how a network that shrinks the image grows it back, and why skips matter."""
import streamlit as st

from pages.common import lessons, links
from pages.common.live import drawn_in_turns
from pages.segmentation.pretrained import pretrained_section
from pages.segmentation.sections import (STATE, architecture_section, config_widgets, data_section,
                                          larger_scene_section, train_section, why_section)
from pages.segmentation.upsampling import explorer

ui = links.bound(st)  # widgets drawn through `ui` with a key live in the address bar (lesson links)


@drawn_in_turns
def main() -> None:
    """The tabs: train with and without skips, upsampling, why a pixel, any size, pretrained."""
    st.set_page_config(page_title="Segmentation", page_icon="🎨", layout="wide")
    links.start_page()
    st.title("🎨 Semantic segmentation")
    st.caption("A class for every pixel. The network halves the image with pooling and grows it back with "
               "transposed convolutions; a U-Net also hands each decoder level the encoder's maps of the same size.")
    lessons.exercise_panel("11_Segmentation.py")

    train_tab, grow_tab, why_tab, any_size_tab, pretrained_tab = ui.tabs(
        ["Skips on vs off", "Growing an image back", "Why a pixel got its class", "Any input size",
         "Pretrained segmenters"])

    with train_tab:
        config = config_widgets()
        train_section(config)
        with ui.expander("The data: digit scenes and their masks", expanded=STATE not in st.session_state):
            data_section(config)
        architecture_section(config)

    with grow_tab:
        explorer()

    with why_tab:
        if st.session_state.get(STATE):
            why_section(st.session_state[STATE])
        else:
            st.info("Train the networks first (tab 'Skips on vs off'): these views explain a trained model.")

    with any_size_tab:
        if st.session_state.get(STATE):
            larger_scene_section(st.session_state[STATE])
        else:
            st.info("Train the networks first (tab 'Skips on vs off'); a fully convolutional network then runs on "
                    "any input size.")

    with pretrained_tab:
        pretrained_section()


main()
links.finish_page()
