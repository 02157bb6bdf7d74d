"""A session that has one tiny TensorBoard run and shows the Train page's TensorBoard tab (class-abuse checks)."""
import streamlit as st
from torch.utils.tensorboard import SummaryWriter

from pages.train.tensorboard import session_log_dir, tensorboard_tab

folder = session_log_dir() / "probe"
if not folder.exists():
    with SummaryWriter(str(folder)) as writer:
        for epoch, loss in enumerate([2.0, 1.0, 0.5], start=1):
            writer.add_scalar("epoch/train_loss", loss, epoch)
tensorboard_tab()
