"""The page helpers draw their download buttons (generated lazily) or a clear caption, never a traceback."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _app() -> None:
    import streamlit as st

    from cnn_core import TrainConfig
    from cnn_core.models.builder import LENET5_SPECS
    from pages.common.export_buttons import architecture_downloads, export_downloads

    export_downloads(TrainConfig(epochs=1), "train run!", key="ok")
    export_downloads({"deep plain": TrainConfig(model="plain-cnn")}, "plain", key="bad")
    architecture_downloads(LENET5_SPECS, (1, 28, 28))
    st.write("done")


def test_buttons_and_the_unexportable_caption():
    at = AppTest.from_function(_app, default_timeout=120).run()
    assert not at.exception
    buttons = at.get("download_button")
    assert len(buttons) == 4  # .py + .ipynb of the run, .py + .ipynb of the network; none for plain-cnn
    captions = " ".join(c.value for c in at.caption)
    assert "No script export for this setting" in captions and "cannot be exported" in captions
