"""Layer Visualization in a real Chromium: upload a real photo, then a corrupt file."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import act_and_wait_for_rerun, assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def open_upload(page, base_url: str):
    """Open the page, choose 'Upload' as the image source; returns the image file input."""
    page.goto(f"{base_url}/Layer_Visualization")
    wait_for_app_idle(page, timeout_ms=180_000)
    assert_no_exception(page, "Layer Visualization on load")
    act_and_wait_for_rerun(page, lambda: page.locator('[data-testid="stRadio"]').filter(has_text="Image")
                           .get_by_text("Upload", exact=True).click(), timeout_ms=120_000)
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Your image")
    return uploader.locator('[data-testid="stFileUploaderDropzoneInput"]')


def test_upload_a_real_photo_shows_predictions_feature_maps_and_grad_cam(streamlit_server, browser_page, tmp_path):
    import sklearn.datasets

    photo = tmp_path / "china.jpg"  # a real photo (427 x 640) that ships with scikit-learn
    photo.write_bytes((Path(sklearn.datasets.__file__).parent / "images" / "china.jpg").read_bytes())
    page = browser_page
    file_input = open_upload(page, streamlit_server)
    act_and_wait_for_rerun(page, lambda: file_input.set_input_files(str(photo)), timeout_ms=180_000)
    assert_no_exception(page, "after uploading china.jpg")

    assert page.locator('[data-testid="stMetricValue"]').first.inner_text().strip() == "palace"
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    chart.wait_for(state="visible")
    assert "Top-5 predictions" in chart.inner_text() or chart.locator("canvas, svg").count() > 0
    grid = page.locator('[data-testid="stImage"]').filter(has_text="strongest first")
    assert grid.count() == 1 and grid.first.is_visible(), "a feature-map grid"
    assert grid.first.locator("img").evaluate("img => img.naturalWidth") > 200
    save_screenshot(page, "layer_viz_upload_feature_maps")

    page.get_by_role("tab", name="🔥 What it looks at").click()
    cam = page.locator('[data-testid="stImage"]').filter(has_text="Grad-CAM for 'palace'")
    cam.first.wait_for(state="visible")
    assert cam.first.locator("img").evaluate("img => img.complete && img.naturalWidth") >= 224
    save_screenshot(page, "layer_viz_upload_grad_cam")
    assert_no_exception(page, "Grad-CAM tab")


def test_corrupt_upload_shows_one_message_and_the_next_upload_works(streamlit_server, browser_page, tmp_path):
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good, "PNG")
    corrupt = tmp_path / "holiday.png"
    corrupt.write_bytes(good.getvalue()[:120])  # a truncated PNG
    fine = tmp_path / "noise.png"
    fine.write_bytes(good.getvalue())
    page = browser_page
    file_input = open_upload(page, streamlit_server)
    act_and_wait_for_rerun(page, lambda: file_input.set_input_files(str(corrupt)), timeout_ms=120_000)
    alerts = page.locator('[data-testid="stAlert"]').filter(has_text="holiday.png")
    alerts.first.wait_for(timeout=60_000)  # the rerun may start late on a busy server
    assert alerts.count() == 1
    assert "damaged or truncated" in alerts.first.inner_text()
    assert_no_exception(page, "after a corrupt upload")
    assert "Traceback" not in page.locator('[data-testid="stApp"]').inner_text()
    save_screenshot(page, "layer_viz_corrupt_upload")

    act_and_wait_for_rerun(page, lambda: file_input.set_input_files(str(fine)), timeout_ms=180_000)
    page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=120_000)
    assert page.locator('[data-testid="stAlert"]').filter(has_text="damaged").count() == 0
    assert page.locator('[data-testid="stMetricValue"]').count() == 1, "the next upload is analysed"
    assert_no_exception(page, "after the next upload")
