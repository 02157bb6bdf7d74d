"""The Detection page in a real Chromium: the scenes and the MTCNN cascade draw, IoU sliders answer."""

from __future__ import annotations

import pytest

from cnn_core.vision.mtcnn import weights_dir
from tests.helpers import act_and_wait_for_rerun, assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def _section(page, name: str) -> None:
    act_and_wait_for_rerun(page, lambda: page.get_by_text(name, exact=True).first.click(), timeout_ms=180_000)
    assert_no_exception(page, name)


def test_detection_page_sections(streamlit_server, browser_page, screenshot_dir):
    page = browser_page
    page.goto(streamlit_server.rstrip("/") + "/Detection")
    wait_for_app_idle(page, timeout_ms=180_000)
    assert_no_exception(page, "Detection")
    assert page.get_by_text("One backbone, three heads").count() >= 1
    _section(page, "Scenes")
    page.locator('[data-testid="stImage"]').nth(15).wait_for(timeout=180_000)  # 8 scenes with boxes + 8 masks
    save_screenshot(page, "detection_scenes", screenshot_dir)
    _section(page, "Scores to boxes")
    page.get_by_text("IoU (torchvision.ops.box_iou)").first.wait_for(timeout=180_000)
    if weights_dir() is not None:
        _section(page, "Faces (MTCNN)")
        page.get_by_text("P-Net face probability", exact=False).first.wait_for(timeout=240_000)
        assert_no_exception(page, "MTCNN")
        save_screenshot(page, "detection_mtcnn", screenshot_dir)
