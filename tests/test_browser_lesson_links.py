"""Lesson links in a real browser: a setting changed on one browser opens identically in another.

Per wired page: change a number input, wait until the address bar carries it, open that address in a NEW
browser context (another student: no shared session), and read the same value back. Plus a hostile link
(out of range, not a number, unknown key) that shows a note and no exception.
"""
from __future__ import annotations

import pytest

from tests.helpers import act_and_wait_for_rerun, assert_no_exception, wait_for_app_idle

pytestmark = pytest.mark.browser

# (URL path of the page, key of a linked number input on it, a value that differs from its default)
PAGES = [
    ("Train", "tr_seed", 7),
    ("Optimizers", "cnn_epochs", 3),
    ("Regularization", "reg_seed", 5),
    ("Hyperparameter_Tuning", "hp_seed", 3),
    ("From_ANNs_to_CNNs", "growth_hidden", 300),
    ("Basic_Layers", "conv_stride", 2),
    ("Weight_Initialization", "init_seed", 9),
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


@pytest.mark.parametrize("path, key, value", PAGES, ids=[p for p, _, _ in PAGES])
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
