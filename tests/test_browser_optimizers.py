"""In a real browser: a running comparison updates its progress text and live chart; Stop keeps the results so far."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import act_and_wait_for_rerun, assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

# Mark the chart that follows the progress bar (the live chart) so a locator can find it again.
MARK_LIVE_CHART = """() => {
  const bar = document.querySelector('[data-testid="stProgress"]');
  if (!bar) return false;
  for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
    chart.removeAttribute('data-live');
  }
  for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
    if (bar.compareDocumentPosition(chart) & Node.DOCUMENT_POSITION_FOLLOWING) {
      chart.setAttribute('data-live', '1');
      return true;
    }
  }
  return false;
}"""


def observe(page) -> tuple[str, bytes] | None:
    """(progress text, picture of the live chart) while training runs, else None."""
    bar = page.locator('[data-testid="stProgress"]')
    if bar.count() == 0 or not page.evaluate(MARK_LIVE_CHART):
        return None
    text = bar.first.inner_text()
    try:
        picture = page.locator('[data-live="1"]').first.screenshot(timeout=5_000)
    except Exception:  # the chart was replaced between marking and the screenshot: try again later
        return None
    return text, picture


def test_a_running_comparison_updates_its_live_chart(streamlit_server, browser_page, screenshot_dir):
    page = browser_page
    page.goto(f"{streamlit_server}/Optimizers")
    wait_for_app_idle(page, timeout_ms=120_000)
    assert_no_exception(page, "optimizer page")
    # The whole mnist-5k training split (4,000 images), 5 epochs: several seconds even on a fast CPU.
    # Once the live chart has been seen to change, the test presses Stop (a busy machine need not finish).
    field = page.locator(".st-key-cnn_per_class input")
    act_and_wait_for_rerun(page, lambda: (field.fill("0"), field.press("Enter")))
    field = page.locator(".st-key-cnn_epochs input")
    act_and_wait_for_rerun(page, lambda: (field.fill("5"), field.press("Enter")))

    page.locator(".st-key-cnn_run button").click()
    first = None
    deadline = time.monotonic() + 120
    while first is None or "step" not in first[0]:
        assert time.monotonic() < deadline, "no progress bar with a step count appeared"
        first = observe(page)
        time.sleep(0.2)
    later = None
    while time.monotonic() < deadline:
        time.sleep(1.0)
        later = observe(page)
        if later is not None and later[0] != first[0] and later[1] != first[1]:
            break
    assert later is not None, "training finished before a second observation: make the run longer"
    assert later[0] != first[0], f"progress text did not change: {first[0]!r}"
    assert later[1] != first[1], "the live chart did not change while training"
    save_screenshot(page, "optimizers_live_chart", screenshot_dir)

    stop = page.locator(".st-key-opt_cnn_experiment_stop button")
    stopped = stop.count() > 0 and page.locator('[data-testid="stProgress"]').count() > 0
    if stopped:
        stop.first.click()
    wait_for_app_idle(page, timeout_ms=400_000)
    page.wait_for_selector("text=Time counts each run's own computing", timeout=60_000)
    assert_no_exception(page, "optimizer page after training")
    assert page.locator('[data-testid="stDataFrame"]').count() == 2, "expected the summary table and the 2-D table"
    if stopped:  # the partial results stay on the page, marked as stopped
        assert page.get_by_text("Stopped: showing what was computed before you pressed Stop.").count() == 1
    save_screenshot(page, "optimizers_done", screenshot_dir)
    # The CSVs are written only when clicked (deferred): the click still delivers the file, a row per record.
    with page.expect_download(timeout=60_000) as info:
        page.locator(".st-key-cnn_csv button").first.click()
    lines = Path(info.value.path()).read_text().splitlines()
    assert lines[0].split(",") == ["run", "epoch", "step", "split", "metric", "value"] and len(lines) > 10, lines[:3]
    assert {line.split(",")[0] for line in lines[1:]} == {"SGD lr=0.05", "Adam lr=0.001"}
