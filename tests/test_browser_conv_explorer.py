"""In a real Chromium: upload an image to the convolution explorer and see its output feature map."""
from __future__ import annotations

import pytest
from PIL import Image

from tests.helpers import act_and_wait_for_rerun, assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


def _image_captions(page) -> list[str]:
    return [c.inner_text() for c in page.locator('[data-testid="stImageCaption"]').all()]


def test_upload_an_image_and_see_the_feature_map(streamlit_server, browser_page, tmp_path, screenshot_dir):
    picture = tmp_path / "stripes.png"
    image = Image.new("RGB", (64, 40), "white")
    image.putdata([(0, 0, 0) if (x // 8) % 2 else (255, 255, 255) for y in range(40) for x in range(64)])
    image.save(picture)  # vertical stripes: the Sobel x kernel lights up at every edge

    page = browser_page
    page.goto(f"{streamlit_server}/Basic_Layers")
    wait_for_app_idle(page, timeout_ms=120_000)
    assert_no_exception(page, "Basic Layers")
    assert page.get_by_role("tab", name="Convolution").get_attribute("aria-selected") == "true"

    act_and_wait_for_rerun(page, lambda: page.get_by_text("Upload your own", exact=True).click())
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.wait_for(state="attached", timeout=60_000)  # the rerun that shows it may start late on a busy server
    assert uploader.count() == 1
    act_and_wait_for_rerun(page, lambda: uploader.set_input_files(str(picture)), timeout_ms=120_000)
    assert_no_exception(page, "after the upload")

    page.get_by_text("Input 40 x 64", exact=False).first.wait_for(timeout=60_000)
    captions = _image_captions(page)
    assert any(c.startswith("Input 40 x 64") for c in captions), captions
    assert any(c.startswith("Output feature map 38 x 62") for c in captions), captions
    images = page.locator('[data-testid="stImage"] img')
    assert images.count() >= 2
    for i in range(2):  # the input and the output map really rendered
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.get_by_text("equal to the output map's value", exact=False).count() == 1
    save_screenshot(page, "browser_conv_explorer_upload", screenshot_dir)
