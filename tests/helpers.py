"""Plain helpers for the tests (no fixtures here: those live in conftest.py).

Import them as ``from tests.helpers import ...``; pytest.ini puts the repo root
on sys.path, so this works from any working directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_ENTRY = REPO_ROOT / "playground.py"
PAGES_DIR = REPO_ROOT / "pages"
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"

# Flags that work for Debian's chromium on these machines (no network, running as root).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}

APP_SELECTOR = '[data-testid="stApp"]'
IDLE_SELECTOR = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXCEPTION_SELECTOR = '[data-testid="stException"]'

SERVER_START_TIMEOUT_S = 60.0


PG_ENV = "CNN_PLAYGROUND_TEST_PG_URL"


def pg_test_url() -> str:
    """The PostgreSQL URL of an empty test database; skip without one, fail under CI=true (.ci/run sets it)."""
    import pytest

    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{PG_ENV} is not set under CI=true: .ci/run starts PostgreSQL and sets it", pytrace=False)
        pytest.skip(f"{PG_ENV} not set (a postgresql+psycopg:// URL of an empty test database)")
    return url


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


# --------------------------------------------------------------------------- AppTest


def resolve_app_path(path: str | os.PathLike[str] = "playground.py") -> Path:
    """An app script path relative to the repo root (absolute paths pass through)."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def make_app_test(path: str | os.PathLike[str] = "playground.py", default_timeout: float = 60):
    """``AppTest.from_file`` on a repo-relative script, with the repo root importable.

    For a page under ``pages/``, start from ``playground.py`` and use
    ``at.switch_page("pages/N_Topic.py")`` (AppTest's own advice for multipage apps),
    or pass the page path directly to run it on its own.
    """
    from streamlit.testing.v1 import AppTest

    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    return AppTest.from_file(str(resolve_app_path(path)), default_timeout=default_timeout)


# --------------------------------------------------------------------- streamlit server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n_chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n_chars:]
    except OSError as exc:  # pragma: no cover - only on broken temp dirs
        return f"<could not read {path}: {exc}>"


class ServerURL(str):
    """The server's base URL (a plain str) that also knows the server's log file.

    The project's .streamlit/config.toml sets ``client.showErrorDetails = "type"``, so the
    browser shows only the exception type: the traceback is in ``read_log()``.
    """

    log_path: Path

    def __new__(cls, url: str, log_path: Path) -> "ServerURL":
        obj = super().__new__(cls, url)
        obj.log_path = log_path
        return obj

    def read_log(self, n_chars: int = 8000) -> str:
        return _tail(self.log_path, n_chars)


@contextlib.contextmanager
def run_streamlit_server(
    script: str | os.PathLike[str] = "playground.py",
    *,
    log_path: Path | None = None,
    start_timeout_s: float = SERVER_START_TIMEOUT_S,
) -> Iterator[ServerURL]:
    """Run ``python -m streamlit run SCRIPT`` on a free loopback port; yield its base URL
    (a :class:`ServerURL`: a str with ``.log_path`` and ``.read_log()``).

    Output goes to a log file (a server whose stdout pipe nobody reads stops answering
    SIGTERM). The server's cwd is the repo root (as a user starts it; a script outside
    the repo runs from its own folder). On exit: terminate, then kill after 10 s.
    """
    script_path = resolve_app_path(script)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="streamlit-server-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script_path),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    cwd = REPO_ROOT if script_path.is_relative_to(REPO_ROOT) else script_path.parent
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {proc.returncode} before it was healthy; "
                    f"log {log_path}:\n{_tail(log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"streamlit not healthy after {start_timeout_s:.0f} s; "
                    f"log {log_path}:\n{_tail(log_path)}"
                )
            time.sleep(0.25)
        yield ServerURL(base_url, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# ----------------------------------------------------------------------------- browser


def find_chromium() -> str | None:
    """Path of a Chromium binary: $CHROMIUM_PATH if set (only it), else chromium on PATH,
    else /usr/bin/chromium; None when there is none."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    candidates = [
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def wait_for_app_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until the Streamlit script run has finished.

    After a fresh ``page.goto`` the app's state goes ``initial`` -> ``running`` ->
    ``notRunning``, so this alone is enough. After a widget interaction the state may
    still read ``notRunning`` before the rerun starts: use :func:`act_and_wait_for_rerun`.
    """
    page.wait_for_selector(IDLE_SELECTOR, state="attached", timeout=timeout_ms)


_ARM_RERUN_WATCH = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__stSawRun = false;
  window.__stArmedAt = Date.now();
  window.__stIdleSince = null;
  if (window.__stRunObserver) window.__stRunObserver.disconnect();
  window.__stRunObserver = new MutationObserver((records) => {
    // A fast rerun can go running -> notRunning within one batch of records: look at the old values too.
    if (app.getAttribute('data-test-script-state') !== 'notRunning'
        || records.some(r => r.oldValue !== null && r.oldValue !== 'notRunning')) window.__stSawRun = true;
  });
  window.__stRunObserver.observe(app, {attributes: true, attributeOldValue: true,
                                       attributeFilter: ['data-test-script-state']});
}"""

# A rerun so fast that React renders running -> notRunning in one commit leaves no DOM mutation to
# observe; so a page that has stayed idle for QUIET_MS after the action counts as done too.
QUIET_MS = 8000
_RERUN_DONE = """(quietMs) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (app.getAttribute('data-test-script-state') !== 'notRunning') { window.__stIdleSince = null; return false; }
  if (window.__stSawRun === true) return true;
  window.__stIdleSince = window.__stIdleSince || Date.now();
  return Date.now() - Math.max(window.__stIdleSince, window.__stArmedAt) >= quietMs;
}"""


def act_and_wait_for_rerun(page, action: Callable[[], object], timeout_ms: int = 60_000) -> None:
    """Run ``action`` (a click, a fill, ...) and wait for the rerun it triggers to finish.

    A rerun seen start and finish ends the wait; so does an app that stays idle for QUIET_MS after
    the action (a rerun too fast to leave a trace in the DOM). Assert on the content afterwards.
    """
    page.evaluate(_ARM_RERUN_WATCH)
    action()
    page.wait_for_function(_RERUN_DONE, arg=QUIET_MS, timeout=timeout_ms, polling=100)


def open_app_page(page, base_url: str, path: str) -> None:
    """Open `base_url/path`, wait for the script run and the charts' layout, and fail on an exception box."""
    page.goto(f"{base_url}/{path}")
    wait_for_app_idle(page, timeout_ms=180_000)
    page.wait_for_timeout(800)  # charts lay out after the script run ends
    assert_no_exception(page, path or "home")


def exception_texts(page) -> list[str]:
    return [el.inner_text() for el in page.query_selector_all(EXCEPTION_SELECTOR)]


def assert_no_exception(page, where: str = "") -> None:
    """Fail if the page shows any ``st.exception`` / uncaught-error box."""
    texts = exception_texts(page)
    if texts:
        label = where or page.url
        joined = "\n---\n".join(t[:2000] for t in texts)
        raise AssertionError(f"{len(texts)} stException on {label}:\n{joined}")


def slugify(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "page"


def save_screenshot(page, name: str, directory: Path = SCREENSHOT_DIR, full_page: bool = True) -> Path:
    """Write ``<directory>/<name>.png`` (artifacts/ is gitignored) and return its path.

    Streamlit scrolls inside its own container, so ``full_page`` grows the viewport to
    the app's content height for the shot, then restores it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{slugify(name)}.png"
    original = page.viewport_size
    if full_page and original:
        height = page.evaluate(
            """() => Math.max(
                document.documentElement.scrollHeight,
                ...Array.from(document.querySelectorAll(
                    '[data-testid="stMain"], [data-testid="stAppViewContainer"], '
                    + '[data-testid="stMainBlockContainer"]'
                )).map(e => e.scrollHeight))"""
        )
        height = int(min(max(height, original["height"]), 12_000))
        if height > original["height"]:
            page.set_viewport_size({"width": original["width"], "height": height})
            page.wait_for_timeout(300)  # let charts re-layout to the new size
    try:
        page.screenshot(path=str(path), full_page=full_page)
    finally:
        if original and page.viewport_size != original:
            page.set_viewport_size(original)
    return path
