"""Draw a digit on Layer Visualization in a real Chromium: prediction on stroke end, undo, clear, a filled canvas."""
from __future__ import annotations

import pytest

from tests.helpers import act_and_wait_for_rerun, assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

SEVEN = [(60, 50), (220, 50), (130, 250)]           # canvas pixels (280 x 280)
BAR = [(40, 150), (240, 150)]


def stroke(page, canvas, points) -> None:
    """One mouse stroke over the canvas: press, move through the points, release (= the stroke ends)."""
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
    page.mouse.up()


def prediction(page) -> str:
    return page.locator('[data-testid="stMetric"]').filter(has_text="Prediction").locator(
        '[data-testid="stMetricValue"]').inner_text().strip()


def alerts(page) -> list[str]:
    return [a.inner_text() for a in page.locator('[data-testid="stAlert"]').all()]


def open_canvas(page, base_url: str):
    page.goto(f"{base_url}/Layer_Visualization")
    wait_for_app_idle(page, timeout_ms=180_000)
    network = page.locator('[data-testid="stSelectbox"]').filter(has_text="Network")
    act_and_wait_for_rerun(page, lambda: (network.click(),
                                          page.get_by_role("option", name="LeNet-5 (MNIST digits)").click()),
                           timeout_ms=180_000)
    act_and_wait_for_rerun(page, lambda: page.locator('[data-testid="stRadio"]').filter(has_text="Image")
                           .get_by_text("Draw a digit", exact=True).click(), timeout_ms=120_000)
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for(state="visible")
    return canvas


def test_draw_a_seven_undo_and_clear(streamlit_server, browser_page):
    page = browser_page
    canvas = open_canvas(page, streamlit_server)
    assert any("Draw a digit on the canvas" in a for a in alerts(page))
    assert page.locator('[data-testid="stMetric"]').count() == 0

    act_and_wait_for_rerun(page, lambda: stroke(page, canvas, SEVEN), timeout_ms=120_000)
    assert_no_exception(page, "after drawing a 7")
    assert prediction(page) == "7"
    steps = page.get_by_text("Centre of mass at the centre", exact=True)
    assert steps.count() == 1
    grid = page.locator('[data-testid="stImage"]').filter(has_text="strongest first")
    assert grid.count() == 1 and grid.first.locator("img").evaluate("img => img.naturalWidth") > 100
    save_screenshot(page, "draw_digit_seven")

    act_and_wait_for_rerun(page, lambda: stroke(page, canvas, BAR), timeout_ms=120_000)
    assert_no_exception(page, "after a second stroke")
    act_and_wait_for_rerun(page, lambda: page.get_by_role("button", name="Undo").click(), timeout_ms=120_000)
    assert prediction(page) == "7"  # the bar is gone again: the same 7

    act_and_wait_for_rerun(page, lambda: page.get_by_role("button", name="Reset canvas & history").click(),
                           timeout_ms=120_000)
    assert_no_exception(page, "after clearing")
    assert any("Draw a digit on the canvas" in a for a in alerts(page))
    assert page.locator('[data-testid="stMetric"]').count() == 0


def test_a_canvas_full_of_ink_gets_a_prediction_and_a_warning(streamlit_server, browser_page):
    page = browser_page
    canvas = open_canvas(page, streamlit_server)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Stroke width").get_by_role("slider")
    act_and_wait_for_rerun(page, lambda: (slider.focus(), page.keyboard.press("End")), timeout_ms=120_000)
    zigzag = [(x, y) for y in range(5, 285, 30) for x in ((5, 275) if (y // 30) % 2 == 0 else (275, 5))]
    act_and_wait_for_rerun(page, lambda: stroke(page, canvas, zigzag), timeout_ms=120_000)
    assert_no_exception(page, "after filling the canvas")
    assert prediction(page) in list("0123456789")
    assert any("does not look like a digit" in a for a in alerts(page)), alerts(page)
    save_screenshot(page, "draw_digit_filled_canvas")
