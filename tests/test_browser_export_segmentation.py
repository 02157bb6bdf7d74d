"""In a real browser: train the U-Net pair on the Segmentation page, download its bundle, open the zip."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.helpers import assert_no_exception, open_app_page, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

NAME = "unet_segmenter"


def test_train_the_pair_then_download_the_bundle(streamlit_server, browser_page, screenshot_dir, tmp_path):
    page = browser_page
    # the smallest run the page allows: 1 epoch on 250 training scenes (a lesson link sets both widgets)
    open_app_page(page, streamlit_server, "Segmentation?seg_epochs=1&seg_scenes=250")
    assert page.locator(".st-key-seg_export_zip button").count() == 0  # nothing trained: nothing to take home
    start = page.locator(".st-key-seg_train button").first
    start.scroll_into_view_if_needed()
    start.click()
    button = page.locator(".st-key-seg_export_zip button").first
    button.wait_for(timeout=300_000)
    wait_for_app_idle(page, 180_000)
    assert_no_exception(page, "after training the segmenters")
    assert page.locator(".st-key-seg_export_ipynb button").count() == 1

    button.scroll_into_view_if_needed()
    save_screenshot(page, "export_segmentation_01_buttons", screenshot_dir)
    with page.expect_download(timeout=120_000) as info:
        button.click()
    assert info.value.suggested_filename == f"{NAME}.zip"
    path = tmp_path / f"{NAME}.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        assert sorted(archive.namelist()) == [f"{NAME}/README.txt", f"{NAME}/requirements.txt",
                                              f"{NAME}/{NAME}.ipynb", f"{NAME}/{NAME}.py"]
        script = archive.read(f"{NAME}/{NAME}.py").decode()
        notebook = json.loads(archive.read(f"{NAME}/{NAME}.ipynb").decode())
        readme = archive.read(f"{NAME}/README.txt").decode()
    assert "cnn_core" not in script and "import torch" in script
    compile(script, f"{NAME}.py", "exec")  # a whole, valid Python file
    # the page's settings went into the export: both networks, 1 epoch, 250 scenes
    assert '"U-Net (skips on)": {' in script and '"Encoder-decoder (skips off)": {' in script
    assert script.count('"epochs": 1,') == 2 and script.count('"train_scenes": 250,') == 2
    assert notebook["nbformat"] == 4 and len(readme.strip().splitlines()) == 3
