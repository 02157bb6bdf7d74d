"""The Layer Visualization page, driven headlessly with AppTest (same process: caches are shared)."""
from __future__ import annotations

import io
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image

from cnn_core.models import ModelOptions, build_model
from cnn_core.training import TrainConfig
from cnn_core.training.checkpoints import checkpoint_bytes, save_checkpoint
from cnn_core.training.pretrained import LENET5_MNIST, cached_path
from pages.common.session_keys import SESSION_CHECKPOINTS
from tests.test_images import huge_png

PAGE = "pages/4_Layer_Visualization.py"
pytestmark = pytest.mark.timeout(600)


def china_jpeg() -> bytes:
    import sklearn.datasets

    return (Path(sklearn.datasets.__file__).parent / "images" / "china.jpg").read_bytes()


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def messages(at) -> tuple[list[str], list[str], list[str]]:
    return [e.value for e in at.error], [w.value for w in at.warning], [str(e.value) for e in at.exception]


def captions(at) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def lenet_digit_checkpoint() -> bytes:
    torch.manual_seed(0)
    options = ModelOptions()
    return checkpoint_bytes(build_model("lenet5-modern", options), "lenet5-modern", options,
                            config=TrainConfig(model="lenet5-modern", dataset="mnist-5k", epochs=1),
                            class_names=tuple("0123456789"), input_shape=(1, 28, 28))


def test_default_page_shows_prediction_maps_filters_and_grad_cam(app_test):
    at = app_test(PAGE, default_timeout=300).run()
    errors, _, exceptions = messages(at)
    assert (errors, exceptions) == ([], [])
    assert at.metric[0].value == "palace"  # EfficientNet-Lite0 on scikit-learn's china.jpg
    # the depthwise note (in an expander, so the prediction stays above the fold)
    assert any("**16**" in m.value and "groups" in m.value for m in at.markdown)
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3  # top-5 bars + two statistics charts
    texts = captions(at)
    assert any("strongest first" in c for c in texts), "a feature-map grid"
    assert any(c.startswith("Grad-CAM for 'palace'") for c in texts), "a Grad-CAM overlay for the predicted class"
    assert any(c.startswith("_blocks.15") for c in texts), "the overview strip reaches the last block"
    assert at.get("download_button")[0].label.startswith("⬇️ Download all 32 channels")
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) > 100  # one statistics row per layer output

    at.selectbox(key="lv_group_efficientnet-lite0").set_value("block").run()
    at.selectbox(key="lv_layer_efficientnet-lite0_block").set_value("_blocks.3").run()
    at.slider(key="lv_count").set_value(8).run()
    at.radio(key="lv_scale").set_value("per-map").run()
    assert any(c.startswith("_blocks.3 · MBConvBlock") and "8 of 40 channels" in c for c in captions(at))
    at.selectbox(key="lv_class_efficientnet-lite0_sample:china").set_value(442).run()  # bell cote
    assert any(c.startswith("Grad-CAM for 'bell cote'") for c in captions(at))
    assert messages(at)[0] == [] and messages(at)[2] == []


@pytest.fixture
def lenet_cache(tmp_path, monkeypatch):
    """A LeNet-5 checkpoint where the page's loader looks for it, so the page does not train for a minute."""
    monkeypatch.setenv("CNN_PLAYGROUND_CACHE", str(tmp_path))
    torch.manual_seed(0)
    options = ModelOptions()
    save_checkpoint(cached_path(LENET5_MNIST), build_model("lenet5-modern", options), "lenet5-modern", options,
                    config=LENET5_MNIST, metrics={"test_accuracy": 0.1, "epochs": 0},
                    class_names=tuple("0123456789"), input_shape=(1, 28, 28))
    st.cache_resource.clear()  # forget a LeNet-5 loaded from the real cache by an earlier test
    yield
    st.cache_resource.clear()


def test_each_bad_upload_gets_one_message_and_the_next_upload_works(app_test, lenet_cache):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    rotated = Image.new("RGB", (60, 30), (230, 230, 230))
    rotated.paste((20, 20, 20), (10, 5, 25, 25))  # a dark blob on light paper
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display: 30 wide, 60 high
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.paste(1, (10, 10, 30, 30))
    bad = {
        "truncated.png": (encode(rgb, "PNG")[:150], "damaged or truncated"),
        "truncated.jpg": (encode(rgb, "JPEG")[:250], "damaged or truncated"),
        "notes.png": (b"plain text pretending to be a PNG\n" * 10, "not an image"),
        "empty.png": (b"", "empty (0 bytes)"),
        "huge.png": (huge_png(), "40,000,000 pixels"),
    }
    good = {
        "gray16.png": encode(Image.fromarray(np.tile(np.arange(0, 65536, 256, dtype=np.uint16), (64, 1))), "PNG"),
        "cmyk.jpg": encode(rgb.convert("CMYK"), "JPEG"),
        "cmyk.tif": encode(rgb.convert("CMYK"), "TIFF"),
        "palette.png": encode(palette, "PNG", transparency=0),
        "rotated.jpg": encode(rotated, "JPEG", exif=exif),
    }
    at = app_test(PAGE, default_timeout=300).run()
    at.radio(key="lv_source").set_value("Upload").run()
    assert "Upload an image" in at.info[-1].value
    for name, (data, expected) in bad.items():
        at.file_uploader(key="lv_upload").set_value((name, data, "image/png")).run()
        errors, _, exceptions = messages(at)
        assert exceptions == [], name
        assert len(errors) == 1 and expected in errors[0], (name, errors)
        assert len(at.metric) == 0, "nothing computed from a bad file"
    # Odd but valid files go through LeNet-5 (fast): each is converted and classified.
    at.selectbox(key="lv_model").set_value("lenet5-mnist").run()
    assert at.radio(key="lv_source").value == "Upload", "switching the network keeps the upload"
    for name, data in good.items():
        at.file_uploader(key="lv_upload").set_value((name, data, "image/png")).run()
        errors, _, exceptions = messages(at)
        assert (errors, exceptions) == ([], []), name
        assert len(at.metric) == 1, name
    assert "30 x 60 px" in [c.value for c in at.caption], "EXIF orientation applied: portrait"
    at.selectbox(key="lv_model").set_value("efficientnet-lite0").run()
    at.file_uploader(key="lv_upload").set_value(("china.jpg", china_jpeg(), "image/jpeg")).run()
    assert messages(at)[0] == [] and at.metric[0].value == "palace"


def test_lenet_switches_to_test_digits(app_test, lenet_cache):
    at = app_test(PAGE, default_timeout=300).run()
    at.selectbox(key="lv_model").set_value("lenet5-mnist").run()
    errors, _, exceptions = messages(at)
    assert (errors, exceptions) == ([], [])
    assert at.radio(key="lv_source").value == "Test digit"
    assert at.metric[0].value in tuple("0123456789")
    assert any("True label of test digit 0" in c.value for c in at.caption)
    at.number_input(key="lv_digit").set_value(7).run()
    assert any("True label of test digit 7" in c.value for c in at.caption)
    assert not at.info, "LeNet-5 has no depthwise convolutions"
    at.radio(key="lv_source").set_value("Sample photo").run()  # a photo through LeNet: MNIST-style steps
    titles = [m.value for m in at.markdown]
    assert "**Cropped to the ink**" in titles and "**Centered in 28 x 28**" in titles


def test_session_checkpoint_and_uploaded_checkpoints(app_test):
    at = app_test(PAGE, default_timeout=300)
    at.session_state[SESSION_CHECKPOINTS] = {"my run": lenet_digit_checkpoint()}
    at.run()
    assert "Trained in this session: my run" in at.selectbox(key="lv_model").options
    at.selectbox(key="lv_model").set_value("session:my run").run()
    errors, _, exceptions = messages(at)
    assert (errors, exceptions) == ([], [])
    assert at.radio(key="lv_source").value == "Test digit" and at.metric[0].value in tuple("0123456789")

    at.file_uploader(key="lv_ckpt").set_value(("broken.pt", b"not a checkpoint at all", "application/octet-stream"))
    at.run()
    assert at.selectbox(key="lv_model").value == "upload", "an uploaded checkpoint is selected by itself"
    errors, _, exceptions = messages(at)
    assert exceptions == [] and len(errors) == 1 and "checkpoint" in errors[0].lower()
    at.file_uploader(key="lv_ckpt").set_value(("good.pt", lenet_digit_checkpoint(), "application/octet-stream"))
    at.run()
    assert messages(at)[0] == [] and at.metric[0].value in tuple("0123456789")


def test_torchvision_model_offline_shows_a_message_and_download_fails_cleanly(app_test, tmp_path, monkeypatch):
    import cnn_core.training.zoo as vmod

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(url, timeout=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(vmod.urllib.request, "urlopen", offline)
    st.cache_resource.clear()
    at = app_test(PAGE, default_timeout=300).run()
    at.selectbox(key="lv_model").set_value("resnet18").run()
    errors, warnings, exceptions = messages(at)
    assert (errors, exceptions) == ([], [])
    assert len(warnings) == 1 and "not in the torch hub cache" in warnings[0]
    assert len(at.metric) == 0
    at.button(key="lv_fetch").click().run()
    errors, _, exceptions = messages(at)
    assert exceptions == [] and len(errors) == 1 and "needs internet" in errors[0]
    at.selectbox(key="lv_model").set_value("efficientnet-lite0").run()
    assert messages(at)[0] == [] and at.metric[0].value == "palace", "the page keeps working"
