"""The Architecture page in a real Chromium at laptop size: the result above the fold, "auto" fields, fix hints."""
from __future__ import annotations

import pytest

from tests.helpers import act_and_wait_for_rerun, assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def test_builder_shows_auto_and_says_how_to_fix_a_broken_layer(streamlit_server, browser_page, screenshot_dir):
    page = browser_page
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{streamlit_server}/Architecture")
    wait_for_app_idle(page, timeout_ms=120_000)
    assert_no_exception(page, "Architecture")
    parameters = page.locator('[data-testid="stMetric"]').filter(has_text="Parameters")
    parameters.wait_for()
    assert "61,706" in parameters.inner_text()
    assert parameters.bounding_box()["y"] + parameters.bounding_box()["height"] <= 768  # above the fold
    in_channels = page.get_by_role("spinbutton", name="in_channels")
    assert in_channels.input_value() == "" and in_channels.get_attribute("placeholder") == "auto"

    act_and_wait_for_rerun(page, lambda: page.get_by_role("button", name="Conv2d 5x5, 120 filters").click())
    kernel = page.get_by_role("spinbutton", name="kernel_size")
    act_and_wait_for_rerun(page, lambda: (kernel.fill("7"), kernel.press("Enter")))
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Layer 7 (conv)")
    alert.wait_for()
    assert "lower kernel_size to" in alert.inner_text() and "set padding to 1" in alert.inner_text()
    save_screenshot(page, "architecture_broken_layer", screenshot_dir, full_page=False)
    assert_no_exception(page, "Architecture after breaking C5")
