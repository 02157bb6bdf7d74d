"""Shared pieces of the browser benchmarks (cold_start.py, load_test.py): a live server, memory, waits.

Everything talks to 127.0.0.1 only; every wait is bounded.
"""
from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.helpers import CHROMIUM_ARGS, VIEWPORT, find_chromium  # noqa: E402,F401

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXCEPTION = '[data-testid="stException"]'
ERROR_ALERT = '[data-testid="stAlertContentError"]'

# Arm before an action, then wait for RERUN_DONE: true once a rerun started and finished after arming.
ARM_RERUN = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__benchSawRun = false;
  window.__benchArmedAt = Date.now();
  window.__benchIdleSince = null;
  if (window.__benchObserver) window.__benchObserver.disconnect();
  window.__benchObserver = new MutationObserver((records) => {
    if (app.getAttribute('data-test-script-state') !== 'notRunning'
        || records.some(r => r.oldValue !== null && r.oldValue !== 'notRunning')) window.__benchSawRun = true;
  });
  window.__benchObserver.observe(app, {attributes: true, attributeOldValue: true,
                                       attributeFilter: ['data-test-script-state']});
}"""
# A rerun so fast that React renders running -> notRunning in one commit leaves no DOM mutation:
# an app idle for 8 s after the action counts as done too (callers then wait on content).
RERUN_DONE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (app.getAttribute('data-test-script-state') !== 'notRunning') { window.__benchIdleSince = null; return false; }
  if (window.__benchSawRun === true) return true;
  window.__benchIdleSince = window.__benchIdleSince || Date.now();
  return Date.now() - Math.max(window.__benchIdleSince, window.__benchArmedAt) >= 8000;
}"""
# Idle with a visible h1 whose text differs from `old` (page switches).
TITLE_CHANGED = """(old) => {
  const app = document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]');
  const h1 = document.querySelector('[data-testid="stMain"] h1');
  return !!app && !!h1 && h1.offsetParent !== null && h1.innerText.trim() !== '' && h1.innerText !== old;
}"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m streamlit run playground.py` on a free loopback port, output to a log file."""

    def __init__(self, script: str = "playground.py", log_path: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="bench-streamlit-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / script), "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(self.port),
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.started = time.perf_counter()
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_healthy(self, timeout_s: float = 90.0) -> float:
        """Seconds from Popen until /_stcore/health answers 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited ({self.proc.returncode}); log {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - self.started
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"streamlit not healthy after {timeout_s:.0f} s; log {self.log_path}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def running_server(script: str = "playground.py") -> Iterator[Server]:
    server = Server(script)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak so far) of a process, in MiB, from /proc (Linux)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


class MemorySampler:
    """Samples a process's RSS every `every_s` seconds in a thread; `peak` is the largest sample."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.pid, self.every_s, self.peak, self._stop = pid, every_s, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, memory_mib(self.pid).get("VmRSS", 0.0))
            self._stop.wait(self.every_s)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    """One line: CPU model, cores, load average (benchmarks on a busy machine say so)."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return f"{model}, {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
