"""axe-core on every page and every tab of the running app (1366 x 768, light theme; dark theme: contrast).

Serious and critical violations fail the test, except the few that Streamlit's own markup causes and the app
cannot change: those are named in STREAMLIT_OWNED, each matched by rule id and by where the element sits.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import open_app_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

LAPTOP = {"width": 1366, "height": 768}
FAILING_IMPACTS = ("serious", "critical")


@dataclass(frozen=True)
class KnownViolation:
    """A violation in markup Streamlit renders: `rule` (axe rule id) on an element inside `inside` (a selector)."""

    rule: str
    inside: str
    why: str
    link: str


# Streamlit's sidebar navigation (st.navigation with sections) wraps each section's <li> items in <div>s placed
# directly in its <ul>: axe reports the <ul> ("list") and every <li> ("listitem"). Tracked with Streamlit's
# accessibility work: https://github.com/streamlit/streamlit/issues/8399 (label area:accessibility).
STREAMLIT_OWNED = (
    KnownViolation("list", '[data-testid="stSidebarNav"]', "<div> children in the nav's <ul>",
                   "https://github.com/streamlit/streamlit/issues/8399"),
    KnownViolation("listitem", '[data-testid="stSidebarNav"]', "<li> items whose parent is a <div>",
                   "https://github.com/streamlit/streamlit/issues/8399"),
)


def page_paths() -> list[str]:
    """URL paths of every page: "" (home), then each topic as Streamlit derives it ("3_Basic_Layers.py" ->
    "Basic_Layers")."""
    from pages.common.topics import available_topics
    return [""] + [re.sub(r"^\d+_", "", Path(t.file).stem) for t in available_topics()]


def is_streamlit_owned(page, rule: str, node: dict) -> bool:
    """True when this violation node is on the STREAMLIT_OWNED list (rule id + the element's place)."""
    target = node["target"][0] if node.get("target") else None
    if not isinstance(target, str):
        return False
    for known in STREAMLIT_OWNED:
        if known.rule == rule and page.evaluate(
                "([t, inside]) => { const el = document.querySelector(t); return !!(el && el.closest(inside)); }",
                [target, known.inside]):
            return True
    return False


def app_violations(page, where: str, context=None, options: dict | None = None) -> list[str]:
    """Serious/critical axe violations not on STREAMLIT_OWNED, one readable line per element."""
    from axe_playwright_python.sync_playwright import Axe

    response = Axe().run(page, context=context, options=options or {"resultTypes": ["violations"]}).response
    found = []
    for violation in response["violations"]:
        if violation["impact"] not in FAILING_IMPACTS:
            continue
        for node in violation["nodes"]:
            if not is_streamlit_owned(page, violation["id"], node):
                found.append(f"{where}: {violation['id']} ({violation['impact']}) on {node['html'][:160]!r}: "
                             f"{node['failureSummary'][:300]}")
    return found


def visit_tabs(page, scope, where: str, problems: list[str]) -> int:
    """Click every tab of every visible tab list in `scope`, run axe on its panel, and recurse into the panel's
    own tabs; return how many tabs were checked."""
    checked = 0
    tablists = scope.locator('[role="tablist"]')
    for t in range(tablists.count()):
        tablist = tablists.nth(t)
        if not tablist.is_visible():
            continue  # inside another tab's hidden panel: checked when that tab is opened
        tabs = tablist.locator('[role="tab"]')
        for i in range(tabs.count()):
            tab = tabs.nth(i)
            label = f"{where} > tab {tab.inner_text().strip()!r}"
            tab.click()
            panel_id = tab.get_attribute("aria-controls")
            panel = page.locator(f'[id="{panel_id}"]')
            panel.wait_for(state="visible")
            page.wait_for_timeout(400)  # charts inside a freshly shown panel lay out again
            problems.extend(app_violations(page, label, context={"include": [[f'[id="{panel_id}"]']]}))
            checked += 1 + visit_tabs(page, panel, label, problems)
    return checked


@pytest.fixture(scope="module")
def laptop_page(browser):
    """One 1366 x 768 page for the whole module (light theme), reused page after page."""
    context = browser.new_context(viewport=LAPTOP, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def dark_page(browser):
    """One 1366 x 768 page in the dark theme (Streamlit follows prefers-color-scheme)."""
    context = browser.new_context(viewport=LAPTOP, color_scheme="dark")
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()




def test_the_named_streamlit_violations_are_the_sidebar_nav_only():
    assert {k.rule for k in STREAMLIT_OWNED} == {"list", "listitem"}
    assert all("stSidebarNav" in k.inside and k.link.startswith("https://github.com/streamlit/")
               for k in STREAMLIT_OWNED)


@pytest.mark.parametrize("path", page_paths(), ids=lambda p: p or "Home")
def test_page_and_every_tab_have_no_serious_violations(streamlit_server, laptop_page, path):
    page = laptop_page
    open_app_page(page, streamlit_server, path)
    where = path or "Home"
    problems = app_violations(page, where)
    visit_tabs(page, page.locator('[data-testid="stMain"]'), where, problems)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", page_paths(), ids=lambda p: p or "Home")
def test_dark_theme_contrast_on_first_view(streamlit_server, dark_page, path):
    page = dark_page
    open_app_page(page, streamlit_server, path)
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    background = page.locator('[data-testid="stApp"]').evaluate("el => getComputedStyle(el).backgroundColor")
    rgb = [int(v) for v in re.findall(r"\d+", background)[:3]]
    assert sum(rgb) < 3 * 80, f"the app did not switch to its dark theme: background {background}"
    problems = app_violations(page, f"{path or 'Home'} (dark)", options={"runOnly": ["color-contrast"]})
    assert not problems, "\n".join(problems)
