"""A session that logs a tiny TensorBoard run on request and shows the TensorBoard tab (tensorboard_ui tests)."""
import streamlit as st
import torch
from torch.utils.tensorboard import SummaryWriter

from pages.train.tensorboard import session_log_dir, tensorboard_tab

name = st.text_input("run name", key="name")
if st.button("log", key="log") and name:
    with SummaryWriter(str(session_log_dir() / name)) as writer:
        for step, loss in enumerate([2.0, 1.0, 0.5], start=1):
            writer.add_scalar("epoch/train_loss", loss, step)
            writer.add_histogram("weights/w", torch.tensor([float(step), 2.0 * step, 3.0]), step)
tensorboard_tab()
