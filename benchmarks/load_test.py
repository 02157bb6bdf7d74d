"""Load test: N students at once, each running a short optimizer comparison, on one local server.

    python benchmarks/load_test.py [--sessions 1 5 10] [--alone-repeats 3] [--per-class 50] [--epochs 1] [--train-epochs 10]
                                   [--home-samples 5] [--skip-freeze]

Each student is one Streamlit session: by default a websocket client that speaks Streamlit's own protocol
(st_protocol.py: the messages a tab sends, the replies read but not rendered), so the figure is the server's;
with --client browser, one Chromium browser context per student, driven concurrently with Playwright's asyncio
API (30 renderers then share the server's 2 cores). Each session opens the Optimizers page from a lesson link that
sets a short comparison (SGD vs Adam, --per-class images per class, --epochs epochs, a seed of its own
so no session is served from another's cached runs), checks the inputs show it, and presses Run;
its time is click -> results table shown. Errors counted per session: stException boxes and st.error alerts.

Printed: per N, all-complete, errors, median / max time per session, and the ratio to one
session alone; the server's memory (VmRSS/VmHWM from /proc) after start, with the default models
loaded (Layer Visualization and Basic Layers visited once), and at the peak of the biggest N; the peak sum of
PSS of the server and its worker processes. With protocol clients, the home page's load time (a fresh session's
script run of it) while the biggest N's sessions wait or run, next to the same load on the idle server.
Then "long runs never freeze other sessions": the time of a simple page load (home page, idle
with its title) while another session trains on the Train page, against the same load when idle.
Loopback only; every wait is bounded.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time

from browser_bench import (ARM_RERUN, CHROMIUM_ARGS, ERROR_ALERT, EXCEPTION, IDLE, RERUN_DONE, TITLE_CHANGED, VIEWPORT,
                           MemorySampler, find_chromium, machine, median, memory_mib, running_server)

RESULTS_TABLE = '[data-testid="stDataFrame"]:has-text("final val acc")'


def pss_mib(pid: int) -> float:
    """Proportional set size of a process in MiB (shared pages, e.g. libtorch's, split among their users)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            return next((int(line.split()[1]) / 1024 for line in rollup if line.startswith("Pss:")), 0.0)
    except OSError:
        return memory_mib(pid).get("VmRSS", 0.0)


def tree_rss_mib(pid: int) -> float:
    """Memory of a process plus all its descendants (the worker pool's processes), in MiB: the sum of their
    PSS, so that libraries every worker maps (libtorch) count once, not once per process."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += pss_mib(current)
        todo += children.get(current, [])
    return total


class TreeSampler(threading.Thread):
    """Samples tree_rss_mib(pid) every 0.5 s; `peak` is the largest sample."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._stop_event = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss_mib(self.pid))
            self._stop_event.wait(0.5)

    def stop(self) -> float:
        self._stop_event.set()
        self.join(timeout=5)
        return self.peak


async def rerun(page, action, timeout_ms: int = 300_000) -> None:
    """Perform an action that triggers a rerun and wait until that rerun has finished."""
    await page.evaluate(ARM_RERUN)
    await action()
    await page.wait_for_function(RERUN_DONE, timeout=timeout_ms, polling=100)


async def open_page(browser, url: str):
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.set_default_timeout(300_000)  # 30 pages rendering at once on 2 cores: bounded, but not short
    await page.goto(url, timeout=300_000)
    await page.wait_for_function(TITLE_CHANGED, arg="", timeout=300_000, polling=100)
    return context, page


async def student(browser, url: str, seed: int, per_class: int, epochs: int) -> dict:
    """One session: open the Optimizers page, set a short comparison, run it; time and errors."""
    result = {"seed": seed, "seconds": float("nan"), "ok": False, "exceptions": 0, "errors": 0, "note": ""}
    context = None
    try:
        # the teacher's lesson link carries the exercise: no rerun per setting while the class arrives
        query = f"cnn_per_class={per_class}&cnn_epochs={epochs}&cnn_seed={seed}"
        context, page = await open_page(browser, f"{url}/Optimizers?{query}")
        for key, value in (("cnn_per_class", per_class), ("cnn_epochs", epochs), ("cnn_seed", seed)):
            # the first run may still show the page default; the link's value follows within a rerun
            await page.wait_for_function(f"""() => {{ const box = document.querySelector('.st-key-{key} input');
                                         return !!box && box.value === '{value}'; }}""", timeout=300_000, polling=200)
        start = time.perf_counter()
        await rerun(page, lambda: page.locator(".st-key-cnn_run button").click(), timeout_ms=600_000)
        # under load the rerun may start > 8 s after the click (RERUN_DONE's idle fallback): wait on the table
        await page.locator(RESULTS_TABLE).wait_for(state="visible", timeout=600_000)
        result["seconds"] = time.perf_counter() - start
        result["exceptions"] = await page.locator(EXCEPTION).count()
        result["errors"] = await page.locator(ERROR_ALERT).count()
        result["ok"] = result["exceptions"] == 0 and result["errors"] == 0
    except Exception as exc:  # a timeout or a closed page is a result to print, not a crash of the benchmark
        result["note"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    finally:
        if context is not None:
            await context.close()
    return result


async def protocol_student(url: str, seed: int, per_class: int, epochs: int, clicked: list | None = None) -> dict:
    """The same session as `student`, over Streamlit's websocket protocol instead of a Chromium tab.

    clicked: a list that gets one entry when this session presses Run (so a caller knows runs are queued).
    """
    from st_protocol import Session

    result = {"seed": seed, "seconds": float("nan"), "ok": False, "exceptions": 0, "errors": 0, "note": "",
              "open_s": float("nan")}
    try:
        async with Session(url) as session:
            query = f"cnn_per_class={per_class}&cnn_epochs={epochs}&cnn_seed={seed}"
            opened = time.perf_counter()
            page = await session.open("Optimizers", query, timeout_s=600)
            result["open_s"] = time.perf_counter() - opened
            wanted = {"cnn_per_class": per_class, "cnn_epochs": epochs, "cnn_seed": seed}
            shown = {key: page.numbers.get(key) for key in wanted}
            if shown != {key: float(value) for key, value in wanted.items()}:
                raise RuntimeError(f"the link's values are not shown: {shown}")
            start = time.perf_counter()
            if clicked is not None:
                clicked.append(seed)
            done = await session.click("cnn_run", page, timeout_s=600)
            result["seconds"] = time.perf_counter() - start
            result["exceptions"], result["errors"] = len(done.exceptions), len(done.errors)
            if not done.saw("final val acc"):
                result["note"] = "the run ended without its results table"
            result["ok"] = not (done.exceptions or done.errors or result["note"])
    except Exception as exc:  # a timeout or a closed socket is a result to print, not a crash of the benchmark
        result["note"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return result


async def crowd(browser, url: str, n: int, first_seed: int, per_class: int, epochs: int,
                client: str = "browser", clicked: list | None = None) -> tuple[list[dict], float]:
    """N students at once; (their results, seconds until the last one ended). `clicked` as in protocol_student
    (protocol clients only)."""
    start = time.perf_counter()
    if client == "protocol":
        jobs = [protocol_student(url, first_seed + i, per_class, epochs, clicked) for i in range(n)]
    else:
        jobs = [student(browser, url, first_seed + i, per_class, epochs) for i in range(n)]
    results = await asyncio.gather(*jobs)
    return list(results), time.perf_counter() - start


async def visit(browser, url: str) -> float:
    """Seconds from goto to the page idle with its title (a fresh session)."""
    start = time.perf_counter()
    context, _ = await open_page(browser, url)
    seconds = time.perf_counter() - start
    await context.close()
    return seconds


async def home_load(url: str, timeout_s: float = 300.0) -> float:
    """Seconds for a fresh websocket session to get the home page's script run to its end (the server's share
    of a page load: what a new tab waits for before it can draw anything)."""
    from st_protocol import Session

    start = time.perf_counter()
    async with Session(url) as session:
        page = await session.open("", "", timeout_s=timeout_s)
        if page.exceptions or page.errors:
            raise RuntimeError(f"the home page failed: {(page.exceptions + page.errors)[0][:160]}")
    return time.perf_counter() - start


async def crowd_with_home_loads(browser, url: str, n: int, first_seed: int, per_class: int, epochs: int,
                                client: str, samples: int = 5) -> tuple[list[dict], float, list[float]]:
    """`crowd`, and meanwhile fresh sessions loading the home page one after another once every session of the
    crowd has pressed Run (each one's run queued, running or drawing its results), counting only loads that ended
    before the crowd did."""
    clicked: list = []
    task = asyncio.create_task(crowd(browser, url, n, first_seed, per_class, epochs, client, clicked))
    busy: list[float] = []
    while not task.done() and len(clicked) < n:
        await asyncio.sleep(0.1)
    while not task.done() and len(busy) < samples:
        seconds = await home_load(url)
        if not task.done():
            busy.append(seconds)
        await asyncio.sleep(0.05)
    results, wall = await task
    return results, wall, busy


async def freeze_check(browser, url: str, train_epochs: int, samples: int = 3) -> dict:
    """Home-page load time while idle vs while another session trains on the Train page."""
    idle = [await visit(browser, url) for _ in range(samples)]
    context, trainer = await open_page(browser, f"{url}/Train")
    thumb = trainer.locator('.st-key-tr_epochs input[type="range"]')  # streamlit 1.67: react-aria slider
    await thumb.focus()
    current = int(await thumb.input_value())
    for _ in range(max(0, min(train_epochs, 50) - current)):  # the Epochs slider, one step per key press
        await thumb.press("ArrowRight")
    await trainer.wait_for_function(f"""() => document.querySelector('.st-key-tr_epochs input[type="range"]')
        .value == '{train_epochs}' && !!document.querySelector('{IDLE}')""", timeout=120_000)
    await trainer.wait_for_timeout(1000)  # let the slider's last rerun start and end
    await trainer.wait_for_selector(IDLE, state="attached", timeout=120_000)
    started = time.perf_counter()
    await trainer.locator(".st-key-tr_train button").first.click()
    done = f"""() => !!document.querySelector('{IDLE}') && Array.from(document.querySelectorAll(
        '[data-testid="stMetric"]')).some(m => m.innerText.includes('Epochs trained')
        && m.querySelector('[data-testid="stMetricValue"]').innerText.trim() == '{train_epochs}')"""
    training = asyncio.create_task(trainer.wait_for_function(done, timeout=900_000, polling=200))
    await trainer.locator('[data-testid="stProgress"]').first.wait_for(timeout=120_000)  # training has started
    busy = []
    for _ in range(samples):
        if training.done():
            break
        seconds = await visit(browser, url)
        if not training.done():  # count only loads that finished while the training still ran
            busy.append(seconds)
    await training
    train_s = time.perf_counter() - started
    await context.close()
    return {"idle": idle, "busy": busy, "train_s": train_s, "epochs": train_epochs}


async def main_async(args) -> None:
    from playwright.async_api import async_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no chromium found (apt-get install -y chromium, or set CHROMIUM_PATH)")
    print(f"machine: {machine()}")
    with running_server() as server:
        memory = {"after start": memory_mib(server.pid)}
        tree = TreeSampler(server.pid)
        tree.start()
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                for path in ("/Layer_Visualization", "/Basic_Layers"):  # loads EfficientNet-Lite0 and LeNet-5
                    await visit(browser, server.url + path)
                memory["default models loaded"] = memory_mib(server.pid)
                warm = await student(browser, server.url, 999, args.per_class, args.epochs)
                print(f"  warm-up session in Chromium (not timed): {warm['seconds']:.1f} s {warm['note']}", flush=True)
                await home_load(server.url)  # the home page's first run imports what it needs: not timed
                home_idle = [await home_load(server.url) for _ in range(args.home_samples)]
                print(f"  home page load, idle server: {', '.join(f'{t:.2f}' for t in home_idle)} s", flush=True)
                rows, baseline, seed, home_busy = [], None, 1000, []
                for n in args.sessions:
                    with MemorySampler(server.pid) as sampler:
                        if n == max(args.sessions) and args.client == "protocol":
                            results, wall, home_busy = await crowd_with_home_loads(
                                browser, server.url, n, seed, args.per_class, args.epochs, args.client,
                                args.home_samples)
                        else:
                            results, wall = await crowd(browser, server.url, n, seed, args.per_class, args.epochs,
                                                        args.client)
                        seed += n
                        for _ in range(args.alone_repeats - 1 if n == 1 else 0):  # one at a time, each alone
                            more, _ = await crowd(browser, server.url, 1, seed, args.per_class, args.epochs,
                                                  args.client)
                            results, seed = results + more, seed + 1
                    times = [r["seconds"] for r in results if r["ok"]]
                    if n == 1 and times:
                        baseline = median(times)
                        print(f"  one session alone, {len(times)} times one after another: "
                              f"{', '.join(f'{t:.2f}' for t in times)} s (median {baseline:.2f} s)", flush=True)
                    rows.append((n, results, wall, sampler.peak))
                    print(f"  N={n:2d}: {sum(r['ok'] for r in results)}/{len(results)} complete in {wall:.1f} s", flush=True)
                    for r in results:
                        if r["note"] or not r["ok"]:
                            print(f"    session seed {r['seed']}: exceptions={r['exceptions']} errors={r['errors']} "
                                  f"{r['note']}")
                memory[f"after {max(args.sessions)} sessions"] = memory_mib(server.pid)
                freeze = None if args.skip_freeze else await freeze_check(browser, server.url, args.train_epochs)
            finally:
                await browser.close()
                tree_peak = tree.stop()

    print()
    clients = {"browser": "one Chromium, one context per session",
               "protocol": "one Streamlit websocket session per student (st_protocol.py, no rendering)"}
    print(f"load test: Optimizers page, SGD vs Adam, {args.per_class} images/class, {args.epochs} epoch(s), "
          f"{clients[args.client]}")
    print(f"  (N=1: {args.alone_repeats} sessions one after another, each alone; x alone = median / their median;"
          " open: the page's first load from the lesson link, before Run, protocol clients)")
    print(f"  {'N':>3s} {'complete':>9s} {'errors':>7s} {'median s':>9s} {'max s':>7s} {'wall s':>7s} "
          f"{'x alone':>8s} {'peak RSS':>9s} {'open median / max s':>20s} {'open+run median / max s':>24s}")
    for n, results, wall, peak in rows:
        times = [r["seconds"] for r in results if r["ok"]]
        opens = [r["open_s"] for r in results if r.get("open_s", float("nan")) == r.get("open_s")]  # not NaN
        # what a student waits in all, from opening the lesson link to the results (the open's wait counts too)
        totals = [r["open_s"] + r["seconds"] for r in results if r["ok"] and r.get("open_s") == r.get("open_s")]
        errors = sum(r["exceptions"] + r["errors"] + bool(r["note"]) for r in results)
        ratio = median(times) / baseline if baseline and times else float("nan")
        print(f"  {n:3d} {sum(r['ok'] for r in results):5d}/{len(results):<3d} {errors:7d} {median(times):9.2f} "
              f"{max(times, default=float('nan')):7.2f} {wall:7.1f} {ratio:8.2f} {peak:6.0f} MiB "
              f"{median(opens):10.2f} / {max(opens, default=float('nan')):6.2f} "
              f"{median(totals):14.2f} / {max(totals, default=float('nan')):6.2f}")
    if baseline and rows:
        n, results, _, _ = rows[-1]
        times = [r["seconds"] for r in results if r["ok"]]
        print(f"ratio median N={n} / N=1 = {median(times) / baseline:.2f} (goal <= 15 on 2 cores); "
              f"all {n} complete: {sum(r['ok'] for r in results) == n}")
    print(f"server peak memory with its worker processes (sum of PSS) = {tree_peak:.0f} MiB "
          f"(goal <= 2560 MiB = 2.5 GiB)")
    if home_busy:
        ratio = median(home_busy) / median(home_idle)
        print(f"home page load while {max(args.sessions)} sessions wait: median {median(home_busy):.2f} s vs idle "
              f"{median(home_idle):.2f} s = {ratio:.2f} x (goal <= 2; loads: "
              f"{', '.join(f'{t:.2f}' for t in home_busy)} s)")
    elif args.client == "protocol":
        print(f"home page load while {max(args.sessions)} sessions wait: no load ended before the crowd did")
    print(f"after the runs: {machine()}")
    print()
    print("server memory (VmRSS now / VmHWM peak so far):")
    for label, values in memory.items():
        print(f"  {label:24s} {values.get('VmRSS', float('nan')):6.0f} MiB / {values.get('VmHWM', float('nan')):6.0f} MiB")
    if freeze:
        print()
        print("long runs never freeze other sessions: home page load (fresh session, goto -> idle with title)")
        print(f"  idle server:               median {median(freeze['idle']):5.2f} s  "
              f"({', '.join(f'{v:.2f}' for v in freeze['idle'])})")
        print(f"  while a session trains:    median {median(freeze['busy']):5.2f} s  "
              f"({', '.join(f'{v:.2f}' for v in freeze['busy'])}; Train page, LeNet-5, {freeze['epochs']} epochs, "
              f"{freeze['train_s']:.1f} s)")
        if freeze["busy"]:
            print(f"  ratio busy / idle: {median(freeze['busy']) / median(freeze['idle']):.2f}")
        else:
            print("  (the training ended before a page load finished: raise --train-epochs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 10], help="N values (1 first = baseline)")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--alone-repeats", type=int, default=3,
                        help="N=1 runs this many sessions one after another; its median is 'one session alone'")
    parser.add_argument("--home-samples", type=int, default=5,
                        help="home page loads timed when idle and while the biggest N's sessions wait (protocol)")
    parser.add_argument("--train-epochs", type=int, default=10, help="epochs of the Train page run (1..50)")
    parser.add_argument("--client", choices=["protocol", "browser"], default="protocol",
                        help="students as Streamlit websocket sessions (default: the server's load alone) or as "
                             "Chromium tabs (their rendering shares the server's cores)")
    parser.add_argument("--skip-freeze", action="store_true",
                        help="skip the 'long runs never freeze other sessions' check (Train page default run)")
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
