"""What one student's client can do to a class server, measured through Streamlit's own protocol.

Run: OMP_NUM_THREADS=1 python benchmarks/class_abuse.py [--flood-seconds 60] [--only NAME]

Each check starts a real `streamlit run` server (its own data, runs and database folders in a temp folder) and
drives it with benchmarks/st_protocol.py, a websocket client that sends what a tab sends, and what no honest tab
sends (a clear_cache message, a forged page address). Printed, one line per check:

  clear_cache: sent 3 times while 2 runs hold the slots -> runs at once N (CNN_PLAYGROUND_MAX_JOBS=2)
  tensorboard: 10 sessions claiming localhost -> processes started N (setting off), M (setting embed)
  gallery flood: one client publishing for S s -> A attempts, N stored (quota Q), another student published: yes
  gallery view: 500 entries, 5 viewers at once -> server memory growth X MiB, median load Y s
  tensorboard budget: one session, histograms on, E epochs -> log folder X MiB (budget B MiB), notices: ...

The functions are also what tests/test_class_abuse_protocol.py runs (with smaller numbers).
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.st_protocol import Rendered, Session  # noqa: E402

RUNS_APP = "tests/apps/class_abuse_runs.py"
BOARD_APP = "tests/apps/class_abuse_board.py"
PUBLISH_APP = "tests/apps/class_abuse_publish.py"
GALLERY_APP = "pages/12_Gallery.py"


@contextlib.contextmanager
def server(script: str, env: dict[str, str], folder: Path) -> Iterator[tuple[str, int]]:
    """A `streamlit run script` on a free loopback port with `env` added; yields (base URL, server pid)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = folder / f"server-{port}.log"
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", CNN_PLAYGROUND_DATA=str(folder / "data"),
                    CNN_PLAYGROUND_RUNS=str(folder / "runs"), OMP_NUM_THREADS="1")
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
    full_env.update(env)
    cmd = [sys.executable, "-m", "streamlit", "run", str(REPO / script), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit not healthy: {log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def run_async(coro):
    """asyncio.run(coro), also from a thread whose event loop is already running (pytest beside Playwright's
    sync API, which keeps one in the main thread): then the coroutine runs in a worker thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _numbers(rendered: Rendered, pattern: str) -> list[int]:
    return [int(m) for m in re.findall(pattern.encode(), bytes(rendered.payload))]


# --------------------------------------------------------------------------------- 1. clear_cache and the slots

async def _runs_at_once(url: str, clears: int, per_clear: int, timeout_s: float) -> int:
    sessions = [Session(url) for _ in range(2 + clears * per_clear)]
    attacker = Session(url)
    async with contextlib.AsyncExitStack() as stack:
        for session in sessions + [attacker]:
            await stack.enter_async_context(session)
        await attacker.open("", "", timeout_s)  # a page view of its own first, as a tab does
        await sessions[0].send_open("")
        await sessions[1].send_open("")
        await asyncio.sleep(1.0)  # both hold their slots now
        started = 2
        for _ in range(clears):
            await attacker.clear_cache()
            await asyncio.sleep(0.3)
            for session in sessions[started:started + per_clear]:
                await session.send_open("")
            started += per_clear
            await asyncio.sleep(0.7)
        done = await asyncio.gather(*(s.finished(timeout_s) for s in sessions))
    return max(max(_numbers(r, r"peak runs at once: (\d+)"), default=0) for r in done)


def runs_at_once(folder: Path, clears: int = 3, max_jobs: int = 2, hold_s: float = 3.0) -> int:
    """The most runs holding a slot at once while a client sends clear_cache `clears` times between new runs."""
    env = {"CNN_PLAYGROUND_MAX_JOBS": str(max_jobs), "CNN_PLAYGROUND_JOBS_PER_SESSION": "1",
           "CLASS_ABUSE_HOLD_S": str(hold_s)}
    with server(RUNS_APP, env, folder) as (url, _):
        timeout = 60 + hold_s * (2 + 2 * clears)
        return run_async(_runs_at_once(url, clears, 2, timeout))


# --------------------------------------------------------------------------------- 2. TensorBoard for "localhost"

def tensorboard_processes(marker: str) -> list[int]:
    """Pids of TensorBoard processes whose command line mentions `marker` (a test's own runs folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "tensorboard.main" in cmdline and marker in cmdline:
            pids.append(int(entry.name))
    return pids


async def _claim_localhost(url: str, sessions: int, timeout_s: float) -> int:
    clicked = 0

    async def one() -> None:
        nonlocal clicked
        async with Session(url) as session:
            rendered = await session.open("", "", timeout_s, context_url="http://localhost:8501/")
            if "tb_start" in rendered.widgets:
                clicked += 1
                await session.click("tb_start", rendered, timeout_s)

    await asyncio.gather(*(one() for _ in range(sessions)))
    return clicked


def tensorboard_started(folder: Path, sessions: int = 10, mode: str = "") -> tuple[int, int]:
    """(TensorBoard processes running after `sessions` sessions claimed localhost and pressed Start, presses)."""
    env = {"CNN_PLAYGROUND_TENSORBOARD": mode}
    with server(BOARD_APP, env, folder) as (url, _):
        clicked = run_async(_claim_localhost(url, sessions, 180))
        return len(tensorboard_processes(str(folder / "runs"))), clicked


# --------------------------------------------------------------------------------- 3. publishing in a loop

async def _flood(url: str, seconds: float, timeout_s: float) -> tuple[int, bool]:
    attempts = 0
    async with Session(url) as flooder:
        rendered = await flooder.open("", "", timeout_s)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rendered = await flooder.click("flood_button", rendered, timeout_s, texts={"gallery_nickname": "flood"})
            attempts += 1
    async with Session(url) as other:
        rendered = await other.open("", "", timeout_s)
        rendered = await other.click("flood_button", rendered, timeout_s, texts={"gallery_nickname": "ada"})
        other_ok = rendered.saw("Published as entry")
    return attempts, other_ok


def gallery_flood(folder: Path, seconds: float = 60.0, quota: int = 10) -> tuple[int, int, bool]:
    """(publish attempts of one client in `seconds`, entries stored, whether another student could publish)."""
    from cnn_core.classroom.gallery import GalleryStore

    db = f"sqlite:///{folder / 'flood.sqlite3'}"
    env = {"CNN_PLAYGROUND_DB": db, "CNN_PLAYGROUND_GALLERY_PER_SESSION": str(quota)}
    with server(PUBLISH_APP, env, folder) as (url, _):
        attempts, other_ok = run_async(_flood(url, seconds, 120))
    store = GalleryStore(db)
    try:
        stored = len([e for e in store.entries("flood") if e.nickname == "flood"])
    finally:
        store.close()
    return attempts, stored, other_ok


# --------------------------------------------------------------------------------- 4. a full gallery, 5 viewers

def fill_gallery(db: str, entries: int = 500, epochs: int = 20, steps_per_epoch: int = 30) -> None:
    """`entries` runs in one exercise, each with a full curves payload (per-step and per-epoch rows)."""
    import random

    from cnn_core.classroom.gallery import GalleryStore, NewEntry

    rng = random.Random(0)
    store = GalleryStore(db, max_per_exercise=entries)
    try:
        for i in range(entries):
            curves = [{"run": "r", "epoch": e, "step": e * steps_per_epoch + s, "split": "train_step",
                       "metric": "loss", "value": rng.random()} for e in range(1, epochs + 1)
                      for s in range(steps_per_epoch)]
            curves += [{"run": "r", "epoch": e, "step": e * steps_per_epoch, "split": split, "metric": metric,
                        "value": rng.random()} for e in range(1, epochs + 1) for split in ("train", "val")
                       for metric in ("loss", "accuracy")]
            store.publish(NewEntry(
                exercise="optimizers", page="7_Optimizers.py", nickname=f"student{i:03d}", seed=i,
                config={"optimizer": {"name": rng.choice(["sgd", "adam"]), "lr": 10 ** rng.uniform(-4, -1)},
                        "batch_size": rng.choice([32, 64, 128])},
                metrics={"val_accuracy": rng.random(), "val_loss": rng.random()}, curves=curves))
    finally:
        store.close()


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def _view(url: str, viewers: int, timeout_s: float) -> list[float]:
    async def one() -> float:
        async with Session(url) as session:
            began = time.perf_counter()
            await session.open("", "", timeout_s)
            return time.perf_counter() - began

    return list(await asyncio.gather(*(one() for _ in range(viewers))))


def gallery_view(folder: Path, entries: int = 500, viewers: int = 5) -> tuple[float, float, float]:
    """(peak server memory growth in MiB while `viewers` open the Gallery at once, their median load seconds, the
    median of 3 loads by one viewer alone)."""
    db = f"sqlite:///{folder / 'view.sqlite3'}"
    fill_gallery(db, entries)
    with server(GALLERY_APP, {"CNN_PLAYGROUND_DB": db}, folder) as (url, pid):
        run_async(_view(url, 1, 120))  # imports and the first page build are not the view's cost
        alone = statistics.median([run_async(_view(url, 1, 120))[0] for _ in range(3)])
        time.sleep(1.0)
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
        before = _status_kib(pid, "VmRSS")
        times = run_async(_view(url, viewers, 120))
        growth = (_status_kib(pid, "VmHWM") - before) / 1024
    return growth, statistics.median(times), alone


# --------------------------------------------------------------------------------- 5. TensorBoard log budget

def tensorboard_budget(folder: Path, budget_mib: float = 1.0, epochs: int = 25) -> tuple[float, float, list[str]]:
    """(session log folder MiB, budget MiB, notices) after one session trains `epochs` epochs with histograms."""
    os.environ["CNN_PLAYGROUND_RUNS"] = str(folder / "runs")
    os.environ["CNN_PLAYGROUND_TB_SESSION_MB"] = str(budget_mib)
    from cnn_core import TrainConfig, TrainingRun, load_dataset
    from cnn_core.training.tensorboard import (TensorBoardLogger, folder_bytes, logged, new_session_id,
                                               read_notices, session_runs_dir)

    data = load_dataset("mnist-5k", per_class=10)
    session = session_runs_dir(new_session_id())
    for run_index in range(2):  # an older run first: the budget deletes it before it stops the new one
        config = TrainConfig(epochs=epochs, batch_size=64, seed=run_index)
        run = TrainingRun(config, data)
        with TensorBoardLogger(run, session / f"run{run_index}") as logger:
            for _ in logged(run.records(epochs), logger):
                pass
    return folder_bytes(session) / 2**20, budget_mib, read_notices(session)


def main() -> None:
    """Run the checks and print one line each."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--flood-seconds", type=float, default=60.0, help="how long one client publishes in a loop")
    parser.add_argument("--only", default="", help="run the checks whose name contains this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="class-abuse-") as tmp:
        root = Path(tmp)

        def fresh(name: str) -> Path:
            path = root / name
            path.mkdir()
            return path

        if "clear" in args.only or not args.only:
            peak = runs_at_once(fresh("clear"), clears=3, max_jobs=2)
            print(f"clear_cache: sent 3 times while 2 runs hold the slots -> runs at once {peak} "
                  f"(CNN_PLAYGROUND_MAX_JOBS=2)", flush=True)
        if "tensorboard" in args.only or not args.only:
            off, pressed_off = tensorboard_started(fresh("tb-off"), 10, "")
            on, pressed_on = tensorboard_started(fresh("tb-on"), 10, "embed")
            print(f"tensorboard: 10 sessions claiming localhost -> processes started {off} (setting off, "
                  f"{pressed_off} could press Start), {on} (setting embed, {pressed_on} pressed Start)", flush=True)
        if "flood" in args.only or not args.only:
            attempts, stored, other_ok = gallery_flood(fresh("flood"), args.flood_seconds, quota=10)
            print(f"gallery flood: one client publishing for {args.flood_seconds:g} s -> {attempts} attempts, "
                  f"{stored} stored (quota 10), another student published: {'yes' if other_ok else 'NO'}", flush=True)
        if "view" in args.only or not args.only:
            growth, median, alone = gallery_view(fresh("view"), 500, 5)
            print(f"gallery view: 500 entries, 5 viewers at once -> server memory growth {growth:.1f} MiB, "
                  f"median load {median:.2f} s (one viewer alone: {alone:.2f} s)", flush=True)
        if "budget" in args.only or not args.only:
            size, budget, notices = tensorboard_budget(fresh("budget"))
            print(f"tensorboard budget: one session, histograms on, 2 runs x 25 epochs -> log folder {size:.2f} MiB "
                  f"(budget {budget:g} MiB), notices: {len(notices)}; last: {notices[-1] if notices else '-'}",
                  flush=True)


if __name__ == "__main__":
    main()
