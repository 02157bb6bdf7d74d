"""The home page's content: what the playground teaches, the device in use, a link to every topic."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys

import streamlit as st

from pages.common.topics import topics_by_section


def show_intro() -> None:
    """The title and what the playground is."""
    st.title("🧠 CNN Playground")
    st.markdown(
        "An interactive companion to the lecture **From ANNs to CNNs**. Every number on these pages is "
        "computed by a real PyTorch network: shapes, parameter counts, feature maps of your own images, "
        "training curves. Pick a topic below or in the sidebar; they follow the lecture's order."
    )


def device_line() -> tuple[str, str]:
    """(metric, detail) of the device, without importing torch for the home page: the exact device once
    another page has loaded torch in this server, else 'CPU or CUDA' from what is installed (cheap)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        from cnn_core.device import device_label
        return ("CUDA GPU" if torch.cuda.is_available() else "CPU"), device_label()
    if importlib.util.find_spec("torch") is None:
        return "CPU", "PyTorch is not installed"
    return "CPU, or CUDA if available", "Checked when a page first needs PyTorch"


def show_device_and_data() -> None:
    """Two metrics: the device in use and the default (offline) dataset."""
    left, right = st.columns(2)
    device, detail = device_line()
    left.metric("Device in use", device)
    left.caption(f"{detail}. CUDA is used when available, else the CPU. Every experiment takes a seed: "
                 "the same seed gives the same curves on the CPU.")
    right.metric("Default dataset", "MNIST 5k (embedded)")
    # no dataset registry here: it imports numpy, and the home page should cost what Streamlit's own demo costs
    right.caption("MNIST 5k ships with pip and works offline. Fashion-MNIST is read from a local folder when "
                  "present; full MNIST and CIFAR-10 are downloaded by torchvision when online. "
                  f"PyTorch {importlib.metadata.version('torch')}.")


def show_topic_links() -> None:
    """One bordered card per existing topic, grouped by the sidebar's sections."""
    for section, topics in topics_by_section().items():
        st.subheader(section)
        for topic in topics:
            with st.container(border=True):
                st.page_link(f"pages/{topic.file}", label=f"**{topic.lecture}**", icon=topic.icon)
                st.caption(topic.blurb)


def show_teacher_pin() -> None:
    """The teacher's pinned note, if any: only a server with a teacher token has pins (and opens the database)."""
    if not os.environ.get("CNN_PLAYGROUND_TEACHER_TOKEN"):
        return  # no teacher controls, so no pin: the home page then imports no database library
    from pages.common.classroom.teacher import show_pin_on_home
    show_pin_on_home()


def show_home() -> None:
    """The whole home page (an ``st.Page`` callable in playground.py)."""
    show_intro()
    show_teacher_pin()
    show_device_and_data()
    show_topic_links()
