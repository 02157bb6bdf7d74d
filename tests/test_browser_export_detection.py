"""In a real browser: train the Detection page's detector, download it as a runnable .zip, look inside."""
from __future__ import annotations

import ast
import io
import zipfile

import pytest

from tests.helpers import assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

# the smallest detector the page trains: 1 epoch on 200 scenes with a backbone of width 8 (a lesson link)
SMALLEST = "Detection?det_section=Train+the+detector&dt_epochs=1&dt_scenes=200&dt_width=8"


def test_train_the_detector_then_download_the_bundle(streamlit_server, browser_page, screenshot_dir, tmp_path):
    page = browser_page
    page.goto(f"{streamlit_server.rstrip('/')}/{SMALLEST}")
    wait_for_app_idle(page, timeout_ms=180_000)
    assert_no_exception(page, "Detection")
    assert page.locator(".st-key-det_export_zip button").count() == 0  # nothing trained, nothing to take home
    page.locator(".st-key-dt_start button").first.click()
    button = page.locator(".st-key-det_export_zip button").first
    button.wait_for(timeout=300_000)  # drawn once the run has its records
    wait_for_app_idle(page, 180_000)
    assert_no_exception(page, "after training")
    assert page.get_by_text("Epoch 1: held-out mAP@0.5").count() >= 1
    assert page.locator(".st-key-det_export_ipynb button").count() == 1

    button.scroll_into_view_if_needed()
    save_screenshot(page, "export_detection_01_buttons", screenshot_dir)
    with page.expect_download(timeout=120_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == "digit_detector.zip"
    path = tmp_path / "digit_detector.zip"
    download.save_as(path)
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    assert sorted(files) == ["digit_detector/README.txt", "digit_detector/digit_detector.ipynb",
                             "digit_detector/digit_detector.py", "digit_detector/requirements.txt"]
    script = files["digit_detector/digit_detector.py"]
    assert "cnn_core" not in script and "cnn_core" not in files["digit_detector/digit_detector.ipynb"]
    ast.parse(script)  # a whole, valid Python file
    # the trained run's settings, as the lesson link set them
    assert "'train_scenes': 200," in script and "'width': 8," in script and "'epochs': 1," in script
    assert len(files["digit_detector/README.txt"].splitlines()) == 3
    assert "torchvision" in files["digit_detector/requirements.txt"]
