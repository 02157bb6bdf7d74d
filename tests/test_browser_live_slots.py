"""Issue 13, found-item 1, in real browsers: a queued student who leaves just as the slot frees loses no slot.

A server with ONE training slot (CNN_PLAYGROUND_MAX_JOBS=1). Student A trains a long run; student B
presses Train and is queued. Then, in the same instant, A presses Stop (the slot frees) and B leaves:
first B closes the tab, the second time B presses Stop. Before the fix each such event lost the
slot for good ("Queued" on every page until a restart). Afterwards a third student C must train at
once, never seeing "Queued".
"""
from __future__ import annotations

import pytest

from tests.helpers import (VIEWPORT, act_and_wait_for_rerun, assert_no_exception, run_streamlit_server, save_screenshot,
                           wait_for_app_idle)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

QUEUED = "Queued (position 1 of 1"
WATCH_QUEUED = """() => {
  window.__sawQueued = false;
  const look = () => { if (document.body.innerText.includes('Queued')) window.__sawQueued = true; };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
  look();
}"""


@pytest.fixture(scope="module")
def one_slot_server(tmp_path_factory):
    """A fresh `streamlit run playground.py` whose admission control has a single slot."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNN_PLAYGROUND_MAX_JOBS", "1")
        log = tmp_path_factory.mktemp("one-slot") / "server.log"
        with run_streamlit_server("playground.py", log_path=log) as url:
            yield url


def open_train(browser, url: str):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{url}/Train")
    wait_for_app_idle(page, timeout_ms=180_000)
    assert_no_exception(page, "Train page")
    return context, page


def wait_for_metric(page, label: str, value: str, timeout_ms: int = 240_000) -> None:
    metric = page.get_by_test_id("stMetric").filter(has_text=label)
    metric.get_by_test_id("stMetricValue").filter(has_text=value).wait_for(timeout=timeout_ms)
    wait_for_app_idle(page, timeout_ms)


def start_long_run(page) -> None:
    """Continue the page's run for 50 epochs (minutes) and wait until it trains."""
    more = page.locator(".st-key-tr_more input")
    act_and_wait_for_rerun(page, lambda: (more.fill("50"), more.press("Enter")))
    page.locator(".st-key-tr_continue button").first.click()
    page.locator(".st-key-tr_stop button").first.wait_for(state="visible", timeout=120_000)
    page.get_by_test_id("stProgress").first.wait_for(state="visible", timeout=120_000)


def queue_behind(browser, url: str):
    """A second student who presses Train and waits in the queue."""
    context, page = open_train(browser, url)
    page.locator(".st-key-tr_train button").first.click()
    page.get_by_text(QUEUED).wait_for(timeout=120_000)
    return context, page


def test_leaving_the_queue_as_the_slot_frees_loses_no_slot(browser, one_slot_server, screenshot_dir):
    contexts = []
    try:
        ctx_a, a = open_train(browser, one_slot_server)
        contexts.append(ctx_a)
        a.locator(".st-key-tr_train button").first.click()
        wait_for_metric(a, "Epochs trained", "3")  # A has a run to continue

        # 1. B is queued behind A's long run; A stops and B closes the tab in the same instant.
        start_long_run(a)
        ctx_b, b = queue_behind(browser, one_slot_server)
        contexts.append(ctx_b)
        save_screenshot(b, "live_slots_01_queued", screenshot_dir, full_page=False)
        a.locator(".st-key-tr_stop button").first.click()
        ctx_b.close()
        wait_for_app_idle(a)
        assert_no_exception(a, "A after Stop")

        # 2. Again, B2 presses Stop instead of closing the tab.
        start_long_run(a)
        ctx_b2, b2 = queue_behind(browser, one_slot_server)
        contexts.append(ctx_b2)
        a.locator(".st-key-tr_stop button").first.click()
        b2.locator(".st-key-tr_stop button").first.click()
        wait_for_app_idle(a)
        wait_for_app_idle(b2)
        assert_no_exception(b2, "B2 after Stop")

        # 3. C trains at once: the one slot is free, nobody is queued.
        ctx_c, c = open_train(browser, one_slot_server)
        contexts.append(ctx_c)
        per_class = c.locator(".st-key-tr_per_class input")
        act_and_wait_for_rerun(c, lambda: (per_class.fill("30"), per_class.press("Enter")))
        c.evaluate(WATCH_QUEUED)
        c.locator(".st-key-tr_train button").first.click()
        wait_for_metric(c, "Epochs trained", "3", timeout_ms=120_000)
        save_screenshot(c, "live_slots_02_third_student_trained", screenshot_dir, full_page=False)
        assert c.evaluate("() => window.__sawQueued") is False, "C was queued: a slot leaked"
        assert_no_exception(c, "C after training")
    finally:
        for context in contexts:
            context.close()
