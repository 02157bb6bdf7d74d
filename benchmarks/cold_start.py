"""Cold start and page-switch times of the playground in a real browser (Chromium via Playwright).

    python benchmarks/cold_start.py [--repeats 3] [--rounds 3] [--no-hello] [--no-switches]

Cold start: seconds from starting `python -m streamlit run playground.py` (a fresh process each
time) until Chromium shows the home page rendered (script idle, title visible); the health-check
time is printed beside it. Median of --repeats fresh servers. The same is measured for
`streamlit hello` (started the same way: `streamlit run` of streamlit's own hello app, which is
what `streamlit hello` does), alternating with the playground, and the ratio of the medians is
printed: `cold start ratio playground/hello = X` (goal <= 1.1).

Page switch: on the last server, click every sidebar link in turn and time click -> new page idle
with its title. The first round is each page's first visit in this server process (models and
datasets load then); the next --rounds rounds are warm, and their median is printed.
Chromium is launched once, before the clock starts. Loopback only.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from browser_bench import (ARM_RERUN, CHROMIUM_ARGS, EXCEPTION, TITLE_CHANGED, VIEWPORT, Server, find_chromium, machine,
                           median)


def hello_script() -> str:
    """The script `streamlit hello` runs (streamlit/hello/streamlit_app.py)."""
    from streamlit.hello import streamlit_app

    return str(Path(streamlit_app.__file__).resolve())


def cold_start(browser, repeats: int, hello: bool = False) -> tuple[list[tuple[float, float]], Server, object]:
    """(health s, rendered s) per fresh server of the playground (or of `streamlit hello`); the last
    server and its open page are kept."""
    results, server, page = [], None, None
    name = "streamlit hello" if hello else "playground"
    for i in range(repeats):
        if server is not None:
            page.context.close()
            server.stop()
        server = Server(hello_script()) if hello else Server()
        health = server.wait_healthy()
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.goto(server.url, timeout=180_000)
        page.wait_for_function(TITLE_CHANGED, arg="", timeout=180_000, polling=50)
        results.append((health, time.perf_counter() - server.started))
        print(f"  {name} cold start {i + 1}/{repeats}: healthy {health:5.2f} s, rendered {results[-1][1]:5.2f} s", flush=True)
    return results, server, page


def page_switches(page, rounds: int) -> dict[str, list[float]]:
    """Seconds per sidebar link: [first visit, warm visit 1, ...]."""
    links = page.locator('[data-testid="stSidebarNavLink"]')
    names = [links.nth(i).inner_text().strip() for i in range(links.count())]
    # The page starts on the home page (link 0): visit the topics in order, then home, so every
    # click lands on another page.
    order = list(range(1, len(names))) + [0]
    times: dict[str, list[float]] = {names[i]: [] for i in order}
    exceptions: dict[str, int] = {}
    for round_ in range(rounds + 1):
        for i in order:
            name = names[i]
            old = page.locator('[data-testid="stMain"] h1').first.inner_text()
            page.evaluate(ARM_RERUN)
            start = time.perf_counter()
            links.nth(i).click()
            page.wait_for_function(TITLE_CHANGED, arg=old, timeout=180_000, polling=50)
            times[name].append(time.perf_counter() - start)
            if page.locator(EXCEPTION).count():
                exceptions[name] = exceptions.get(name, 0) + 1
        print(f"  page-switch round {round_ + 1}/{rounds + 1} done", flush=True)
    for name, count in exceptions.items():
        print(f"  WARNING: {name} showed an exception in {count} visit(s)")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="fresh servers for the cold start (median)")
    parser.add_argument("--rounds", type=int, default=3, help="warm rounds over the sidebar links (median)")
    parser.add_argument("--no-hello", action="store_true", help="skip the `streamlit hello` reference")
    parser.add_argument("--no-switches", action="store_true", help="skip the page-switch rounds")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no chromium found (apt-get install -y chromium, or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    print(f"machine: {machine()}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        server, hello_cold, switches = None, [], {}
        try:
            cold = []
            for _ in range(args.repeats):  # alternate the two apps, so a busy moment hits both alike
                if not args.no_hello:
                    reference, hello_server, hello_page = cold_start(browser, 1, hello=True)
                    hello_cold += reference
                    hello_page.context.close()
                    hello_server.stop()
                if server is not None:
                    page.context.close()
                    server.stop()
                runs, server, page = cold_start(browser, 1)
                cold += runs
            if not args.no_switches:
                switches = page_switches(page, args.rounds)
        finally:
            if server is not None:
                server.stop()
            browser.close()
    print()
    print(f"cold start: `streamlit run` -> home page rendered in Chromium (median of {len(cold)})")
    print(f"  server healthy  {median([h for h, _ in cold]):6.2f} s   (runs: {', '.join(f'{h:.2f}' for h, _ in cold)})")
    print(f"  page rendered   {median([r for _, r in cold]):6.2f} s   (runs: {', '.join(f'{r:.2f}' for _, r in cold)})")
    if hello_cold:
        print(f"streamlit hello: same measure (median of {len(hello_cold)})")
        print(f"  server healthy  {median([h for h, _ in hello_cold]):6.2f} s")
        print(f"  page rendered   {median([r for _, r in hello_cold]):6.2f} s   "
              f"(runs: {', '.join(f'{r:.2f}' for _, r in hello_cold)})")
        ratio = median([r for _, r in cold]) / median([r for _, r in hello_cold])
        print(f"cold start ratio playground/hello = {ratio:.2f} (goal <= 1.1)")
    if not switches:
        return
    print()
    print(f"page switch: click a sidebar link -> page idle with its title (warm = median of {args.rounds})")
    print(f"  {'page':28s} {'first visit':>12s} {'warm':>8s}")
    for name, values in switches.items():
        print(f"  {name:28s} {values[0]:10.2f} s {median(values[1:]):6.2f} s")


if __name__ == "__main__":
    main()
