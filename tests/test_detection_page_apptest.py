"""The Detection page under AppTest: every section draws, bad input gets a message, never a traceback."""
import io

import numpy as np
import pytest
from PIL import Image

from cnn_core.models import ModelOptions, build_model
from cnn_core.training.checkpoints import checkpoint_bytes
from cnn_core.vision.detect_train import DetectConfig, DetectionRun
from cnn_core.vision.mtcnn import weights_dir
from tests.helpers import make_app_test

PAGE = "pages/10_Detection.py"


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def detector_bytes() -> bytes:
    run = DetectionRun(DetectConfig(train_scenes=64, val_scenes=8, epochs=1, batch_size=16, width=4))
    list(run.records())
    return run.checkpoint()


def _page(section: str | None = None):
    at = make_app_test(PAGE, default_timeout=180)
    at.run()
    assert not at.exception
    if section:
        at.radio(key="det_section").set_value(section).run()
        assert not at.exception, [e.stack_trace[-2:] for e in at.exception]
    return at


def test_three_heads_show_shapes_and_meanings():
    at = _page()
    shapes = at.dataframe[0].value
    assert list(shapes["head output"]) == ["1 x 10", "1 x 14", "1 x 15 x 8 x 8"]
    assert set(shapes["backbone output"]) == {"1 x 64 x 8 x 8"}
    at.radio(key="hd_head").set_value("detection").run()
    assert not at.exception and any("untrained" in c.value for c in at.caption)
    meanings = at.dataframe[1].value
    assert meanings["output[...]"].tolist()[0] == "[:, 0, i, j]" and len(at.dataframe[2].value) == 15


def test_scenes_section_with_no_objects():
    at = _page("Scenes")
    assert len(at.image) == 16
    at.slider(key="sc_digits").set_value(0).run()
    assert not at.exception
    assert any("no objects" in cap for image in at.image for cap in image.captions)


def test_scores_to_boxes_thresholds_and_zero_area_box():
    at = _page("Scores to boxes")
    assert any("simulated" in i.value for i in at.info)
    at.slider(key="nms_conf").set_value(1.0).run()
    assert not at.exception
    assert any(cap.startswith("0 kept after NMS") for image in at.image for cap in image.captions)
    at.slider(key="nms_conf").set_value(0.0)
    at.slider(key="nms_iou").set_value(1.0).run()
    assert not at.exception
    at.slider(key="iou_ax").set_value((20, 20)).run()
    assert not at.exception and any("zero area" in w.value for w in at.warning)
    at.slider(key="iou_ax").set_value((10, 40)).run()
    assert any(m.label.startswith("IoU") for m in at.metric)
    maps = [m for m in at.metric if m.label == "mAP@0.5"]
    assert maps and 0 < float(maps[0].value) <= 1


def test_checkpoint_upload_restores_or_refuses(detector_bytes):
    at = _page("Train the detector")
    lenet = checkpoint_bytes(build_model("lenet5-modern", ModelOptions()), "lenet5-modern", ModelOptions())
    at.file_uploader(key="dt_upload").set_value(("lenet.pt", lenet, "application/octet-stream")).run()
    assert not at.exception and any("not a digit detector" in e.value for e in at.error)
    at.file_uploader(key="dt_upload").set_value(("det.pt", detector_bytes, "application/octet-stream")).run()
    assert not at.exception and any(s.value.startswith("Restored a detector") for s in at.success)
    at.radio(key="det_section").set_value("Your image").run()
    digits = (np.random.default_rng(0).random((70, 90)) > 0.97).astype(np.uint8) * 255
    at.file_uploader(key="dt_own").set_value(("digits.png", _png(digits), "image/png")).run()
    assert not at.exception
    assert any("input:" in cap for image in at.image for cap in image.captions)


@pytest.mark.skipif(weights_dir() is None, reason="facenet-pytorch wheel (MTCNN weights) not installed")
def test_mtcnn_finds_grace_hopper_and_nothing_in_a_blank_photo():
    at = _page("Faces (MTCNN)")
    table = at.dataframe[0].value
    assert int(table["Faces"][0]) == 1
    blank = np.full((120, 160, 3), 90, dtype=np.uint8)
    at.file_uploader(key="mt_photo").set_value(("blank.png", _png(blank), "image/png")).run()
    assert not at.exception and any("No face found" in i.value for i in at.info)


def test_coco_detectors_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    at = _page("COCO detectors")
    assert any("not in the torch hub cache" in i.value for i in at.info)


@pytest.mark.slow
def test_train_live_then_continue_and_download():
    at = _page("Train the detector")
    at.number_input(key="dt_epochs").set_value(1)
    at.select_slider(key="dt_scenes").set_value(200)
    at.select_slider(key="dt_width").set_value(8)
    at.button(key="dt_start").click().run()
    assert not at.exception, [e.stack_trace[-2:] for e in at.exception]
    assert any(s.value.startswith("Epoch 1: held-out mAP@0.5") for s in at.success)
    assert len([i for i in at.image if any(c.startswith("val ") for c in i.captions)]) == 6
    run = at.session_state["det_run"]
    assert run.epoch == 1 and any(r.kind == "epoch" for r in run.history)
    at.button(key="dt_more").click().run()
    assert not at.exception and at.session_state["det_run"].epoch == 3
    at.radio(key="det_section").set_value("Scores to boxes").run()
    assert not at.exception and not any("simulated" in i.value for i in at.info)  # the trained detector's boxes
