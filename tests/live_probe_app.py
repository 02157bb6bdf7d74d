"""A tiny Streamlit app for tests/test_live_driver.py: one live run through pages.common.live.run_live.

The test steers it through `tests.live_probe_state.PROBE`: `mode` picks how the records end, `ctx` is
set to the script run's context so the test can send what a browser sends (a rerun: Stop or a widget
change; a stop: the tab closed) while the run waits in the queue or trains.
"""
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from pages.common.live import run_live
from tests.live_probe_state import PROBE


def records(mode: str):
    """Ten records; mode 'raise' raises at the third, 'slow' never ends (a run the test interrupts)."""
    for i in range(10):
        if mode == "raise" and i == 2:
            raise ValueError("boom in the middle of the run")
        time.sleep(0.02 if mode != "slow" else 0.2)
        yield i
    while mode == "slow":
        time.sleep(0.2)
        yield -1


def main() -> None:
    """One live run; the rerun after an interrupted run only draws the page."""
    probe = PROBE
    probe.ctx = get_script_run_ctx()
    probe.runs += 1
    mode = probe.mode
    if mode == "idle":
        st.write("idle")
        return
    if probe.runs > 1 and mode != "finish":
        probe.mode = "idle"  # the rerun after an interruption: draw the page, train nothing
        st.write("rerun")
        return
    outcome = run_live(records(mode), "probe", on_item=probe.seen.append,
                       progress=lambda i: (min(i, 9) / 9, f"item {i}"), every=0.0,
                       draw=lambda i, box: box.write(f"drawn {i}"), draw_every=0.0)
    st.write(f"done {outcome.items}")


main()
