"""The app on a phone (390 x 844, touch): no sideways scrolling, settings that can be found, main actions whose
results show near the top, a two-column segmentation grid, and digits drawn with a finger."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import (open_app_page, SCREENSHOT_DIR, act_and_wait_for_rerun, assert_no_exception, save_screenshot,
                           wait_for_app_idle)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

PHONE = {"width": 390, "height": 844}
SIDEBAR_SETTINGS_PAGES = ("Train", "Regularization", "Weight_Initialization")

# The distance (px) from the top of the page's content to an element, whoever scrolls (the window or stMain).
CONTENT_TOP = """el => { const r = el.getBoundingClientRect(); const m = document.querySelector('[data-testid="stMain"]');
  return r.top + (m ? m.scrollTop : 0) + (document.scrollingElement.scrollTop || 0); }"""
SIDEWAYS = """() => [document.scrollingElement, document.querySelector('[data-testid="stMain"]')]
  .filter(Boolean).map(e => ({scroll: e.scrollWidth, client: e.clientWidth}))"""


def page_paths() -> list[str]:
    """Every page's URL path ("" = home), as Streamlit derives it from the file name."""
    from pages.common.topics import available_topics
    return [""] + [re.sub(r"^\d+_", "", Path(t.file).stem) for t in available_topics()]


@pytest.fixture
def phone(browser):
    """A phone-sized touch page in a fresh context (Streamlit remembers an opened sidebar within a context)."""
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()




def content_top(locator) -> float:
    return float(locator.evaluate(CONTENT_TOP))


@pytest.mark.parametrize("path", page_paths(), ids=lambda p: p or "Home")
def test_no_page_scrolls_sideways(streamlit_server, phone, path):
    open_app_page(phone, streamlit_server, path)
    save_screenshot(phone, f"phone_{path or 'Home'}", SCREENSHOT_DIR)
    for box in phone.evaluate(SIDEWAYS):
        assert box["scroll"] <= box["client"] + 1, f"{path or 'Home'} scrolls sideways on a phone: {box}"


@pytest.mark.parametrize("path", SIDEBAR_SETTINGS_PAGES)
def test_pages_with_sidebar_settings_say_where_they_are(streamlit_server, phone, path):
    open_app_page(phone, streamlit_server, path)
    sidebar = phone.get_by_test_id("stSidebar").bounding_box()
    assert sidebar is None or sidebar["x"] + sidebar["width"] <= 1, f"the sidebar starts open on a phone: {sidebar}"
    hint = phone.get_by_test_id("phoneSidebarHint")
    assert hint.is_visible() and "»" in hint.inner_text()
    assert content_top(hint) < PHONE["height"], "the hint is below the first screen"
    opener = phone.get_by_test_id("stExpandSidebarButton")
    box = opener.bounding_box()
    assert box and box["x"] < PHONE["width"] / 3 and box["y"] < 100, f"no » at the top left: {box}"
    opener.tap()
    settings = phone.get_by_test_id("stSidebarUserContent")
    settings.wait_for(state="visible")
    phone.wait_for_timeout(500)  # the sidebar slides in
    assert settings.bounding_box()["x"] >= 0 and settings.get_by_test_id("stWidgetLabel").count() >= 2


def test_the_hint_is_hidden_on_a_laptop(streamlit_server, browser_page):
    open_app_page(browser_page, streamlit_server, "Train")
    assert browser_page.get_by_test_id("phoneSidebarHint").count() == 1
    assert not browser_page.get_by_test_id("phoneSidebarHint").is_visible()


@pytest.mark.parametrize("path, button, result", [
    ("Train?tr_per_class=20&tr_epochs=1", ".st-key-tr_train button:visible", '[data-testid="stMetric"]:visible'),
    ("Weight_Initialization?init_epochs=1&init_per_class=50", ".st-key-init_train_start button:visible",
     '[data-testid="stVegaLiteChart"]:visible'),  # the curves (the "At initialization" tab's charts are hidden)
], ids=["Train", "Weight_Initialization"])
def test_main_action_result_shows_near_the_top(streamlit_server, phone, path, button, result):
    open_app_page(phone, streamlit_server, path)
    if path.startswith("Weight_Initialization"):
        phone.get_by_role("tab", name="During training").tap()
    start = phone.locator(button).first
    start.scroll_into_view_if_needed()
    act_and_wait_for_rerun(phone, start.tap, timeout_ms=300_000)
    wait_for_app_idle(phone, 300_000)
    assert_no_exception(phone, f"after the main action on {path}")
    shown = phone.locator(result).first
    shown.wait_for(state="visible", timeout=120_000)
    top = content_top(shown)
    save_screenshot(phone, f"phone_result_{path.split('?')[0]}", SCREENSHOT_DIR)
    assert top <= 2 * PHONE["height"], f"the result of {path} starts {top:.0f} px down the page"


def test_segmentation_grid_stays_two_columns(streamlit_server, phone):
    open_app_page(phone, streamlit_server, "Segmentation?seg_epochs=1&seg_scenes=250")
    start = phone.locator(".st-key-seg_train button").first
    start.scroll_into_view_if_needed()
    act_and_wait_for_rerun(phone, start.tap, timeout_ms=300_000)
    wait_for_app_idle(phone, 300_000)
    assert_no_exception(phone, "after training the segmenters")
    grid = phone.locator(".st-key-seg_predictions")
    images = grid.get_by_test_id("stImage")
    assert images.count() >= 4
    lefts = sorted({round(images.nth(i).bounding_box()["x"]) for i in range(images.count())})
    assert len(lefts) == 2, f"the prediction images sit in {len(lefts)} columns on a phone: x = {lefts}"
    width = images.first.bounding_box()["width"]
    assert width < PHONE["width"] / 2
    grid.scroll_into_view_if_needed()
    save_screenshot(phone, "phone_segmentation_grid", SCREENSHOT_DIR, full_page=False)


def touch_stroke(page, canvas, points: list[tuple[int, int]]) -> None:
    """One finger stroke over the canvas (points in canvas pixels) through Chrome's touch events."""
    box = canvas.bounding_box()
    scale = box["width"] / 280  # the canvas is 280 px wide on a laptop; a phone may draw it smaller
    cdp = page.context.new_cdp_session(page)

    def at(x: float, y: float) -> list[dict]:
        return [{"x": box["x"] + x * scale, "y": box["y"] + y * scale, "id": 1}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": at(*points[0])})
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        for k in range(1, 9):  # small steps, like a finger
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": at(
                x0 + (x1 - x0) * k / 8, y0 + (y1 - y0) * k / 8)})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def prediction(page) -> str:
    return page.get_by_test_id("stMetric").filter(has_text="Prediction").get_by_test_id(
        "stMetricValue").inner_text().strip()


def test_draw_a_one_and_a_seven_with_a_finger(streamlit_server, phone):
    open_app_page(phone, streamlit_server, "Layer_Visualization")
    network = phone.get_by_test_id("stSelectbox").filter(has_text="Network")
    act_and_wait_for_rerun(phone, lambda: (network.click(),
                                           phone.get_by_role("option", name="LeNet-5 (MNIST digits)").click()),
                           timeout_ms=180_000)
    act_and_wait_for_rerun(phone, lambda: phone.get_by_test_id("stRadio").filter(has_text="Image")
                           .get_by_text("Draw a digit", exact=True).tap(), timeout_ms=120_000)
    canvas = phone.locator("canvas.upper-canvas")
    canvas.scroll_into_view_if_needed()
    canvas.wait_for(state="visible")
    act_and_wait_for_rerun(phone, lambda: touch_stroke(phone, canvas, [(140, 40), (140, 240)]), timeout_ms=120_000)
    assert_no_exception(phone, "after drawing a 1")
    assert prediction(phone) == "1"
    act_and_wait_for_rerun(phone, lambda: phone.get_by_role("button", name="Reset canvas & history").tap(),
                           timeout_ms=120_000)
    canvas = phone.locator("canvas.upper-canvas")
    canvas.scroll_into_view_if_needed()
    act_and_wait_for_rerun(phone, lambda: touch_stroke(phone, canvas, [(60, 50), (220, 50), (130, 250)]),
                           timeout_ms=120_000)
    assert_no_exception(phone, "after drawing a 7")
    assert prediction(phone) == "7"
    save_screenshot(phone, "phone_draw_digit_seven", SCREENSHOT_DIR, full_page=False)
