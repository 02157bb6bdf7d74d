"""Issue 14's page defects: a digit network told it sees a photo, honest upload limits, kernels centred at 0."""
from __future__ import annotations

import numpy as np
import pytest
import streamlit as st
import torch

from cnn_core.models import ModelOptions, build_model
from cnn_core.training.checkpoints import save_checkpoint
from cnn_core.training.pretrained import LENET5_MNIST, cached_path

LAYER_VIZ = "pages/4_Layer_Visualization.py"
BASIC = "pages/3_Basic_Layers.py"


@pytest.fixture
def lenet_cache(tmp_path, monkeypatch):
    """An untrained LeNet-5 checkpoint where the page looks for it, so the page does not train it."""
    monkeypatch.setenv("CNN_PLAYGROUND_CACHE", str(tmp_path))
    torch.manual_seed(0)
    options = ModelOptions()
    save_checkpoint(cached_path(LENET5_MNIST), build_model("lenet5-modern", options), "lenet5-modern", options,
                    config=LENET5_MNIST, metrics={"test_accuracy": 0.1, "epochs": 0},
                    class_names=tuple("0123456789"), input_shape=(1, 28, 28))
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_a_photo_sent_to_lenet_gets_a_note_and_a_digit_does_not(app_test, lenet_cache):
    at = app_test(LAYER_VIZ, default_timeout=300).run()
    at.selectbox(key="lv_model").set_value("lenet5-mnist").run()
    at.radio(key="lv_source").set_value("Sample photo").run()
    assert not at.exception
    notes = [w.value for w in at.warning if "only knows the handwritten digits" in w.value]
    assert len(notes) == 1 and "a photo" in notes[0]
    assert [m.label for m in at.metric].count("Prediction") == 1  # still shown, with the note beside it
    at.radio(key="lv_source").set_value("Test digit").run()
    assert not [w for w in at.warning if "only knows" in w.value]
    assert [m.label for m in at.metric].count("Prediction") == 1


def test_upload_limits_are_the_real_ones(app_test):
    at = app_test(BASIC, default_timeout=120).run()
    at.radio(key="conv_source").set_value("Upload your own").run()
    uploader = at.get("file_uploader")[0]
    assert uploader.proto.max_upload_size_mb == 25 and "25 MB" in uploader.proto.label


def test_kernel_colours_are_centred_at_zero():
    from pages.basic_layers.sections import grid
    kernel = torch.tensor([[-1.0, 0.0, 8.0]])  # asymmetric: an uncentred scale puts 0 near the red end
    html = grid(kernel, cmap="RdBu", centred=True).to_html()
    cells = grid(kernel, cmap="RdBu", centred=True)._compute().ctx  # (row, col) -> [(css, value)]
    colours = {col: dict(cells[(0, col)])["background-color"] for col in range(3)}
    from matplotlib import colormaps
    from matplotlib.colors import to_hex
    assert colours[1] == to_hex(colormaps["RdBu"](0.5))  # 0 = the middle of the diverging scale
    assert colours[2] == to_hex(colormaps["RdBu"](1.0))  # +8 = the end; -1 is pale, not the other end
    assert colours[0] == to_hex(colormaps["RdBu"](0.5 - 1 / 16))
    assert "8" in html


def test_zoom_keeps_the_window_inside_the_crop():
    from pages.basic_layers.sections import ZOOM_MARGIN, zoom_on_window
    padded = torch.arange(256 * 200, dtype=torch.float32).view(256, 200)
    crop, box, taps, (r0, c0) = zoom_on_window(padded, (100, 3, 102, 5), [(100, 3), (102, 5)])
    assert crop.shape == (3 + 2 * ZOOM_MARGIN, 3 + ZOOM_MARGIN + 3)  # cut at the left edge
    top, left, bottom, right = box
    assert torch.equal(crop[top:bottom + 1, left:right + 1], padded[100:103, 3:6])
    assert taps == [(ZOOM_MARGIN, 3), (ZOOM_MARGIN + 2, 5)] and (r0, c0) == (100 - ZOOM_MARGIN, 0)
    assert np.isfinite(crop.numpy()).all()
