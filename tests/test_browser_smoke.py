"""Every page of the running app loads in a real Chromium without an exception box."""

from __future__ import annotations

import pytest

from tests.helpers import exception_texts, save_screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def test_every_page_loads_without_exception(streamlit_server, browser_page, screenshot_dir):
    page = browser_page
    problems = []

    def check(label: str) -> None:
        for text in exception_texts(page):
            problems.append(f"stException on {label} ({page.url}):\n{text[:2000]}")

    page.goto(streamlit_server)
    wait_for_app_idle(page, timeout_ms=120_000)
    save_screenshot(page, "00_home", screenshot_dir)
    check("home page")

    assert page.locator('[data-testid="stSidebarNav"]').count() == 1, "no sidebar navigation"
    links = page.locator('[data-testid="stSidebarNavLink"]')
    targets = [(links.nth(i).get_attribute("href"), links.nth(i).inner_text().strip())
               for i in range(links.count())]
    assert len(targets) >= 2, f"expected the home page plus topic pages in the nav, got {targets}"
    # The first entry is "Home" (not the file name "playground"); every existing topic follows, in order.
    from pages.common.topics import available_topics
    assert targets[0][1].endswith("Home"), targets[0]
    assert [label.split("\n")[-1] for _, label in targets[1:]] == [t.title for t in available_topics()]

    for i, (href, label) in enumerate(targets, start=1):
        page.goto(href)
        wait_for_app_idle(page, timeout_ms=120_000)
        save_screenshot(page, f"{i:02d}_{label}", screenshot_dir)
        check(repr(label))

    # The page shows only the exception type (client.showErrorDetails = "type"): the
    # tracebacks are in the server log.
    assert not problems, "\n\n".join(problems) + "\n\nserver log (tail):\n" + streamlit_server.read_log()
