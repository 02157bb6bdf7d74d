"""CNN Playground home page: what it teaches, the device in use, and a link to every topic."""
import streamlit as st
import torch

from cnn_core import DATASETS, device_label
from pages.common.topics import available_topics

st.set_page_config(page_title="CNN Playground", page_icon="🧠", layout="wide")

st.title("🧠 CNN Playground")
st.markdown(
    "An interactive companion to the lecture **From ANNs to CNNs**. Every number on these pages is "
    "computed by a real PyTorch network: shapes, parameter counts, feature maps of your own images, "
    "training curves. Pick a topic below or in the sidebar; they follow the lecture's order."
)

left, right = st.columns(2)
left.metric("Device in use", "CUDA GPU" if torch.cuda.is_available() else "CPU")
left.caption(f"{device_label()}. CUDA is used when available, else the CPU. Every experiment takes a seed: "
             "the same seed gives the same curves on the CPU.")
offline = [f"`{key}`" for key, spec in DATASETS.items() if spec.offline]
right.metric("Default dataset", "MNIST 5k (embedded)")
right.caption(f"Works offline: {', '.join(offline)}. Fashion-MNIST is read from a local folder when "
              "present; full MNIST and CIFAR-10 are downloaded by torchvision when online. "
              f"PyTorch {torch.__version__}.")

st.subheader("Topics")
for topic in available_topics():
    with st.container(border=True):
        st.page_link(f"pages/{topic.file}", label=f"**{topic.lecture}**", icon=topic.icon)
        st.caption(topic.blurb)
