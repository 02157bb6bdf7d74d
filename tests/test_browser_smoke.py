"""Every page of the running app loads in a real Chromium without an exception box."""

from __future__ import annotations

import pytest

from tests.helpers import assert_no_exception, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def test_every_page_loads_without_exception(streamlit_server, browser_page, screenshot_dir):
    page = browser_page
    page.goto(streamlit_server)
    wait_for_app_idle(page, timeout_ms=120_000)
    assert_no_exception(page, "home page")
    save_screenshot(page, "00_home", screenshot_dir)

    assert page.locator('[data-testid="stSidebarNav"]').count() == 1, "no sidebar navigation"
    links = page.locator('[data-testid="stSidebarNavLink"]')
    targets = [(links.nth(i).get_attribute("href"), links.nth(i).inner_text().strip())
               for i in range(links.count())]
    assert len(targets) >= 2, f"expected the home page plus topic pages in the nav, got {targets}"

    problems = []
    for i, (href, label) in enumerate(targets, start=1):
        page.goto(href)
        wait_for_app_idle(page, timeout_ms=120_000)
        save_screenshot(page, f"{i:02d}_{label}", screenshot_dir)
        try:
            assert_no_exception(page, f"{label!r} ({href})")
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n\n".join(problems)
