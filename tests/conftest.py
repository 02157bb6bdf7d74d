"""Shared fixtures: AppTest factory, a live `streamlit run` server, a real Chromium page.

    def test_page(app_test):
        at = app_test("playground.py").run()
        at.switch_page("pages/1_Architecture.py").run()
        assert not at.exception

    @pytest.mark.browser
    def test_in_browser(streamlit_server, browser_page):
        browser_page.goto(streamlit_server)
        wait_for_app_idle(browser_page)
        assert_no_exception(browser_page)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.helpers import (APP_ENTRY, CHROMIUM_ARGS, REPO_ROOT, SCREENSHOT_DIR, VIEWPORT, find_chromium, in_ci,
                           make_app_test, run_streamlit_server, save_screenshot)

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so browser_page can screenshot failures.
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


# --------------------------------------------------------------------------- AppTest


@pytest.fixture
def app_test():
    """Factory: ``app_test(path="playground.py", default_timeout=60) -> AppTest``.

    ``path`` is relative to the repo root (any cwd works). Call ``.run()`` yourself.
    """
    return make_app_test


# --------------------------------------------------------------------- streamlit server


@pytest.fixture(scope="session")
def streamlit_app_path() -> Path:
    """The script the live server runs; override in a test module to serve another app."""
    return APP_ENTRY


@pytest.fixture(scope="session")
def streamlit_server(streamlit_app_path, tmp_path_factory):
    """Base URL (``http://127.0.0.1:PORT``) of ``streamlit run playground.py``, one per session.

    A ``str`` subclass: ``streamlit_server.read_log()`` gives the server's output (tracebacks
    are there, the page shows only the exception type).
    """
    if not Path(streamlit_app_path).is_file():
        pytest.fail(f"app script not found: {streamlit_app_path}", pytrace=False)
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    t0 = time.monotonic()
    with run_streamlit_server(streamlit_app_path, log_path=log_path) as url:
        print(f"\nstreamlit server {url} healthy after {time.monotonic() - t0:.1f} s (log {log_path})")
        yield url


# ----------------------------------------------------------------------------- browser


def _no_browser(reason: str):
    if in_ci():
        pytest.fail(f"{reason}; CI=true needs it: apt-get install -y chromium "
                    "and pip install -r requirements-dev.txt", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """A headless Debian Chromium driven by Playwright (sync API), one per session.

    Skips when Chromium or playwright is missing, except with CI=true, where it fails.
    """
    chromium = find_chromium()
    if chromium is None:
        _no_browser("no chromium executable found (tried $CHROMIUM_PATH, chromium, /usr/bin/chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _no_browser("python package playwright is not installed")
    t0 = time.monotonic()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        print(f"\nchromium {b.version} launched in {time.monotonic() - t0:.1f} s")
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def browser_page(browser, request):
    """A fresh page (own context, 1280x900). A failing test leaves a screenshot in
    artifacts/screenshots/FAILED-<test>.png."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            try:
                save_screenshot(page, f"FAILED-{request.node.name}", full_page=False)
            except Exception:  # the page may be gone; the failure itself matters more
                pass
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """``artifacts/screenshots/`` under the repo root (gitignored), created on demand."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


# --------------------------------------------------------------------- bad-input corpus


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """Folder holding the generated bad-input corpus (tests/bad_inputs), one per test session."""
    return tmp_path_factory.mktemp("bad_inputs")


@pytest.fixture(scope="session")
def corpus(corpus_dir):
    """Every bad or odd upload (list of tests.bad_inputs.Upload), written into corpus_dir."""
    from tests.bad_inputs import write_corpus
    return write_corpus(corpus_dir)


@pytest.fixture(scope="session")
def valid(corpus_dir):
    """One valid upload per uploader kind, for checking that the next upload works."""
    from tests.bad_inputs import valid_inputs
    return valid_inputs(corpus_dir)


def pytest_collection_modifyitems(config, items):
    """Retry real-browser tests (up to twice): on 2 cores one shared server can start a rerun late."""
    for item in items:
        if item.get_closest_marker("browser") is not None and item.get_closest_marker("flaky") is None:
            item.add_marker(pytest.mark.flaky(reruns=2, reruns_delay=2))
