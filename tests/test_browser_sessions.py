"""Two students on one server: one's results never appear in the other's session, and survive it.

Two browser contexts = two Streamlit sessions on the same live server. Session A runs a short
optimizer comparison on the Optimizers page; session B opens the same page and sees no results;
B then runs its own comparison (another seed) and A's table is still A's, unchanged, also after A
interacts with its page again.
"""
from __future__ import annotations

import pytest

from tests.helpers import VIEWPORT, act_and_wait_for_rerun, assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESULT_KEYS = ("cnn_log", "cnn_csv", "cnn_summary_csv")  # the log-scale toggle and the two CSV downloads
RESULTS_TABLE = '[data-testid="stDataFrame"]:has-text("final val acc")'  # the summary table of the runs


def set_number(page, key: str, value: int) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(str(value))
    act_and_wait_for_rerun(page, lambda: box.press("Enter"))


def open_optimizers(browser, base_url: str):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{base_url}/Optimizers")
    wait_for_app_idle(page, timeout_ms=180_000)
    assert_no_exception(page)
    return context, page


def shows_results(page) -> dict[str, bool]:
    shown = {key: page.locator(f".st-key-{key}").count() > 0 for key in RESULT_KEYS}
    shown["table"] = page.locator(RESULTS_TABLE).count() > 0
    return shown


def run_comparison(page, seed: int) -> str:
    """A short comparison (SGD vs Adam, 50 images per class, 1 epoch); returns the results table text."""
    set_number(page, "cnn_per_class", 50)
    set_number(page, "cnn_epochs", 1)
    set_number(page, "cnn_seed", seed)
    act_and_wait_for_rerun(page, lambda: page.locator(".st-key-cnn_run button").click(), timeout_ms=240_000)
    page.locator(RESULTS_TABLE).wait_for(state="visible", timeout=60_000)
    assert_no_exception(page)
    return table_text(page)


def table_text(page) -> str:
    # st.dataframe draws on a canvas; its accessible grid (text_content, not inner_text) holds the cells.
    return page.locator(RESULTS_TABLE).text_content()


def test_one_sessions_results_never_appear_in_another(browser, streamlit_server):
    ctx_a, a = open_optimizers(browser, streamlit_server)
    ctx_b = None
    try:
        assert not any(shows_results(a).values())
        table_a = run_comparison(a, seed=11)
        assert all(shows_results(a).values()), shows_results(a)
        assert "SGD" in table_a and "Adam" in table_a, table_a[:500]

        ctx_b, b = open_optimizers(browser, streamlit_server)
        assert not any(shows_results(b).values()), f"session B sees session A's results: {shows_results(b)}"
        assert b.get_by_text("Press Run the comparison").count() == 1

        table_b = run_comparison(b, seed=12)
        assert table_b != table_a, "another seed must give other numbers"
        save_screenshot(b, "sessions-B-own-results", full_page=False)

        # A is untouched by B's run: same table; an interaction (log-scale toggle) reruns A's page only.
        assert table_text(a) == table_a
        act_and_wait_for_rerun(a, lambda: a.locator(".st-key-cnn_log label").click())
        assert_no_exception(a)
        assert table_text(a) == table_a, "session A's results changed after session B's actions"
        save_screenshot(a, "sessions-A-results-kept", full_page=False)
    finally:
        ctx_a.close()
        if ctx_b is not None:
            ctx_b.close()
