"""Lesson links in a real browser: a setting changed on one browser opens identically in another.

Per wired page: change a number input, wait until the address bar carries it, open that address in a NEW
browser context (another student: no shared session), and read the same value back. Plus a hostile link
(out of range, not a number, unknown key) that shows a note and no exception.
"""
from __future__ import annotations

import pytest

from tests.helpers import act_and_wait_for_rerun, assert_no_exception, run_streamlit_server, wait_for_app_idle

pytestmark = pytest.mark.browser

# (URL path of the page [with what else it needs to show the input], key of a linked number input on it, a value
# that differs from its default)
PAGES = [
    ("Train", "tr_seed", 7),
    ("Optimizers", "cnn_epochs", 1),  # 1 is the widget's minimum, not the page's default (2): it must survive too
    ("Regularization", "reg_seed", 5),
    ("Hyperparameter_Tuning", "hp_seed", 3),
    ("From_ANNs_to_CNNs", "growth_hidden", 300),
    ("Architecture", "arch_in_size", 32),
    ("Basic_Layers", "conv_stride", 2),
    ("Layer_Visualization?lv_source=Test+digit", "lv_digit", 7),
    ("Weight_Initialization", "init_seed", 9),
    ("Detection?det_section=Scenes", "sc_seed", 5),
    ("Segmentation", "seg_epochs", 5),
]


def expect(locator):
    """Playwright's auto-waiting assertion (imported late: the browser fixture reports a missing playwright)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def number_box(page, key: str):
    return page.locator(f".st-key-{key} input").first


def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(url)
    wait_for_app_idle(page, 120_000)
    return context, page


@pytest.mark.parametrize("path, key, value", PAGES, ids=[p.split("?")[0] for p, _, _ in PAGES])
def test_a_setting_opens_identically_in_another_browser(browser, streamlit_server, path, key, value):
    first, page = open_page(browser, f"{streamlit_server}/{path}")
    try:
        assert_no_exception(page)
        box = number_box(page, key)
        act_and_wait_for_rerun(page, lambda: (box.fill(str(value)), box.press("Enter")))
        page.wait_for_function("(needle) => window.location.search.includes(needle)", arg=f"{key}={value}",
                               timeout=60_000)
        link = page.url
    finally:
        first.close()
    second, other = open_page(browser, link)
    try:
        # the first load of a multipage app can draw the page twice (router, then page): wait for the value
        expect(number_box(other, key)).to_have_value(str(value), timeout=60_000)
        assert_no_exception(other)
        assert not other.locator('[data-testid="stAlert"]:has-text("could not be used")').count()
    finally:
        second.close()


def test_a_hostile_link_shows_a_note_and_no_traceback(browser, streamlit_server):
    context, page = open_page(browser, f"{streamlit_server}/Train?tr_seed=1e400&tr_epochs=nan&zz%60=%3Cscript%3E")
    try:
        assert_no_exception(page)
        note = page.locator('[data-testid="stAlert"]:has-text("could not be used")')
        note.wait_for(timeout=30_000)
        text = note.inner_text()
        assert "tr_seed" in text and "tr_epochs" in text and "not a setting of this page" in text
        expect(number_box(page, "tr_seed")).to_have_value("0", timeout=30_000)
        assert "tr_seed" not in page.url
    finally:
        context.close()


def sidebar_navigation(page) -> str:
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.wait_for(timeout=60_000)
    return nav.inner_text()


def test_a_deep_link_on_a_fresh_server_shows_the_sectioned_navigation(browser, tmp_path, screenshot_dir):
    # a server of its own: the bug showed only when a page's address was the FIRST request of a server process
    with run_streamlit_server(log_path=tmp_path / "server.log") as url:
        context, page = open_page(browser, f"{url}/Segmentation?seg_epochs=5")
        try:
            expect(number_box(page, "seg_epochs")).to_have_value("5", timeout=60_000)  # the link survives
            wait_for_app_idle(page, 60_000)
            nav = sidebar_navigation(page)
            page.set_viewport_size({"width": 1366, "height": 768})
            page.screenshot(path=str(screenshot_dir / "deep-link-segmentation.png"))
            assert_no_exception(page)
            for section in ("Foundations", "Inside a CNN", "Training", "Vision tasks", "Classroom"):
                assert section in nav, nav
            assert "playground" not in nav.lower() and "Basic layers" in nav  # not the raw file list
            assert page.url.split("?")[0].endswith("/Segmentation")
        finally:
            context.close()
        context, page = open_page(browser, f"{url}/Architecture")  # another student, another deep link
        try:
            nav = sidebar_navigation(page)
            assert "Vision tasks" in nav and "playground" not in nav.lower()
            assert_no_exception(page)
        finally:
            context.close()
