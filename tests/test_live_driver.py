"""The live driver (pages/common/live/__init__.py): the admission queue, and slots that no way of ending a run can leak.

Unit tests drive `Admission` directly. AppTest tests run tests/live_probe_app.py (one `run_live`) and end
its run the ways a browser does: Stop / a widget change (Streamlit's rerun request, the same call the
server makes when a click arrives), a closed tab (a stop request), an exception; each while the run
trains and while it is queued, and once exactly when the slot frees (a found race). After
each, every slot is free again.
"""
from __future__ import annotations

import threading
import time

import pytest
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

from pages.common import live
from tests import live_probe_state
from tests.helpers import REPO_ROOT, make_app_test

APP = "tests/live_probe_app.py"


# ------------------------------------------------------------------------------ Admission (no Streamlit)

def test_a_queued_run_sleeps_until_its_next_redraw_of_its_place():
    assert live.queue_wait_seconds(float("inf")) == 0.05  # never drawn: look (and draw) at once
    assert live.queue_wait_seconds(0.0) == live.QUEUE_REDRAW_SECONDS  # just drawn: sleep until the next redraw
    assert live.queue_wait_seconds(live.QUEUE_REDRAW_SECONDS - 0.5) == pytest.approx(0.5)
    assert live.queue_wait_seconds(10 * live.QUEUE_REDRAW_SECONDS) == 0.05  # overdue: at once, not a busy loop


def test_admission_is_first_come_first_served_within_capacity():
    control = live.Admission(capacity=2)
    a, b, c, d = (control.join(s) for s in ("a", "b", "c", "d"))
    assert a.started and b.started and not c.started and not d.started
    assert control.position(c) == (1, 2) and control.position(d) == (2, 2) and control.position(a) == (0, 2)
    control.release(b)
    assert c.started and not d.started  # the oldest waiting job takes the freed slot
    control.release(d)  # leaving the queue frees nothing and loses nothing
    assert control.counts() == (2, 0)
    control.release(a), control.release(c)
    assert control.free() == 2 and control.counts() == (0, 0)


def test_release_is_idempotent_and_a_released_ticket_cannot_wait():
    control = live.Admission(capacity=1)
    a = control.join("a")
    control.release(a)
    control.release(a)
    assert control.free() == 1
    with pytest.raises(RuntimeError):
        control.wait(a, timeout=0)


def test_one_running_job_per_session_lets_other_sessions_pass():
    control = live.Admission(capacity=2, per_session=1)
    first = control.join("alice")
    second = control.join("alice")  # a second tab of the same session
    other = control.join("bob")
    assert first.started and not second.started and other.started
    control.release(first)
    assert second.started


def test_queue_entries_of_vanished_sessions_are_dropped():
    alive = {"a", "b", "c"}
    control = live.Admission(capacity=1, is_alive=lambda s: s in alive)
    a, b, c = control.join("a"), control.join("b"), control.join("c")
    alive.discard("b")  # b's tab closed while it waited
    control.release(a)
    assert c.started and not b.started and control.counts() == (1, 0)


def test_polling_waiters_neither_wake_each_other_nor_ask_about_every_session_each_time():
    asked = []
    control = live.Admission(capacity=1, is_alive=lambda s: asked.append(s) or True)
    holder = control.join("holder")
    waiters = [control.join(f"w{i}") for i in range(20)]
    wakeups = []
    control._changed.notify_all = lambda: wakeups.append(1)  # under the lock, as the real one is called
    asked.clear()
    for _ in range(5):  # five poll rounds of 20 waiting tabs, nothing changes
        for waiter in waiters:
            assert not control.wait(waiter, timeout=0)
    assert wakeups == []  # nobody started: nobody is woken
    assert len(asked) <= 2 * 20  # at most one sweep of the 20 per SWEEP_SECONDS, not 100 x 20 questions
    control.release(holder)
    assert waiters[0].started and wakeups == [1]  # a start wakes the waiters once


def test_a_closed_tab_never_takes_a_slot_even_between_sweeps():
    alive = {"a", "b", "c"}
    control = live.Admission(capacity=1, is_alive=lambda s: s in alive)
    a, b, c = control.join("a"), control.join("b"), control.join("c")
    control.wait(c, timeout=0)  # a poll: the sweep has just run
    alive.discard("b")
    a_started = a.started
    control.release(a)
    assert a_started and c.started and not b.started and control.counts() == (1, 0)


def test_wait_returns_once_the_slot_frees_in_another_thread():
    control = live.Admission(capacity=1)
    holder, waiter = control.join("a"), control.join("b")
    releaser = threading.Timer(0.2, control.release, args=(holder,))
    releaser.start()
    waits = 0
    while not control.wait(waiter, timeout=0.05):
        waits += 1
        assert waits < 400, "the waiter never started"
    releaser.join()
    assert waiter.started and control.counts() == (1, 0)


def test_expected_wait_counts_the_jobs_ahead():
    control = live.Admission(capacity=1)
    control._typical = 10.0
    running = control.join("a")
    first, second = control.join("b"), control.join("c")
    assert 8.0 <= control.expected_wait(first) <= 10.0          # the running job's remaining time
    assert 18.0 <= control.expected_wait(second) <= 20.0        # ... plus one typical job
    assert control.expected_wait(running) == 0.0
    running.progress = 0.5  # half done: it needs about as long again as it has run
    assert control.expected_wait(first) < 2.0


def test_overdue_after_the_time_budget_and_never_while_queued():
    control = live.Admission(capacity=1, max_seconds=3600)
    ticket = control.join("a")
    assert not control.overdue(ticket)
    late = live.Admission(capacity=1, max_seconds=-1)
    running, queued = late.join("b"), late.join("c")
    assert late.overdue(running) and not late.overdue(queued)


def test_live_redraws_thin_out_while_other_runs_wait():
    alone, crowded = (lambda: False), (lambda: True)
    assert live.redraw_due(0.0, True, 0.7, alone)          # alone, an epoch's end draws at once
    assert not live.redraw_due(0.3, False, 0.7, alone) and live.redraw_due(0.8, False, 0.7, alone)
    assert not live.redraw_due(0.3, True, 0.7, crowded)    # others wait: even an epoch's end waits draw_every
    assert live.redraw_due(0.8, True, 0.7, crowded)
    assert not live.redraw_due(0.8, False, 0.7, crowded)   # ... and a step waits BUSY_DRAW_SECONDS
    assert live.redraw_due(live.BUSY_DRAW_SECONDS, False, 0.7, crowded)
    asked = []
    live.redraw_due(0.1, False, 0.7, lambda: asked.append(1) or True)
    assert asked == []  # the queue's lock is not taken for an item that cannot redraw anyway


def test_the_word_queued_is_written_in_the_driver_only():
    hits = [p for p in (REPO_ROOT / "pages").rglob("*.py") if "Queued" in p.read_text()]
    hits += [p for p in (REPO_ROOT / "cnn_core").rglob("*.py") if "Queued" in p.read_text()]
    assert hits == [REPO_ROOT / "pages" / "common" / "live" / "__init__.py"]


# ------------------------------------------------------------------------------ AppTest: no slot leaks

@pytest.fixture
def control(monkeypatch):
    """The process-wide Admission the app uses, fresh, with 2 slots; every test must leave them free."""
    live.admission.clear()
    monkeypatch.setenv("CNN_PLAYGROUND_MAX_JOBS", "2")
    control = live.admission()
    yield control
    live.admission.clear()


def occupy(control: live.Admission, n: int) -> list[live.Ticket]:
    """n running jobs of other sessions."""
    tickets = [control.join(f"other-{i}") for i in range(n)]
    assert all(t.started for t in tickets)
    return tickets


def interrupt_later(request, when: callable, timeout: float = 30.0) -> threading.Thread:
    """A thread that waits until `when()` holds, then sends `request(ctx)` to the app's script run."""
    def go():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = live_probe_state.PROBE
            if probe.ctx is not None and when():
                request(probe.ctx)
                return
            time.sleep(0.01)
    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def rerun(ctx) -> None:
    """What the server does when a click (Stop) or a widget change arrives during a run."""
    assert ctx.script_requests.request_rerun(RerunData())


def stop(ctx) -> None:
    """What the server does when the tab closes (the session disconnects)."""
    ctx.script_requests.request_stop()


def test_a_finished_run_gives_its_slot_back(control):
    live_probe_state.reset("finish")
    at = make_app_test(APP, default_timeout=30).run()
    assert not at.exception
    assert live_probe_state.PROBE.seen == list(range(10)) and any(m.value == "done 10" for m in at.markdown)
    assert control.free() == 2 and control.counts() == (0, 0)


def test_an_exception_while_running_gives_the_slot_back(control):
    live_probe_state.reset("raise")
    at = make_app_test(APP, default_timeout=30).run()
    assert at.exception and live_probe_state.PROBE.seen == [0, 1]  # the error came at the third record
    assert control.free() == 2 and control.counts() == (0, 0)


def test_stop_or_a_widget_change_while_running_gives_the_slot_back(control):
    live_probe_state.reset("slow")
    thread = interrupt_later(rerun, lambda: len(live_probe_state.PROBE.seen) >= 3)
    at = make_app_test(APP, default_timeout=30).run()
    thread.join()
    assert not at.exception and any(m.value == "rerun" for m in at.markdown)  # the page ran again, training nothing
    assert 3 <= len(live_probe_state.PROBE.seen) < 40
    assert control.free() == 2 and control.counts() == (0, 0)


def test_a_closed_tab_while_running_gives_the_slot_back(control):
    live_probe_state.reset("slow")
    thread = interrupt_later(stop, lambda: len(live_probe_state.PROBE.seen) >= 3)
    make_app_test(APP, default_timeout=30).run()
    thread.join()
    assert control.free() == 2 and control.counts() == (0, 0)


@pytest.mark.parametrize("request_", [rerun, stop], ids=["stop-or-widget", "closed-tab"])
def test_leaving_the_queue_gives_the_place_back(control, request_):
    others = occupy(control, 2)
    live_probe_state.reset("finish")
    thread = interrupt_later(request_, lambda: control.counts() == (2, 1))  # our run is queued
    at = make_app_test(APP, default_timeout=30)
    if request_ is rerun:
        live_probe_state.PROBE.mode = "slow"  # so that the rerun after leaving the queue trains nothing
    at.run()
    thread.join()
    assert live_probe_state.PROBE.seen == []  # it never trained
    assert control.counts() == (2, 0)  # the other sessions keep their slots; our queue entry is gone
    for ticket in others:
        control.release(ticket)
    assert control.free() == 2


def test_an_exception_while_queued_gives_the_place_back(control, monkeypatch):
    others = occupy(control, 2)
    live_probe_state.reset("finish")

    def broken(ticket):
        raise MemoryError("while showing the queue")
    monkeypatch.setattr(control, "expected_wait", broken)
    at = make_app_test(APP, default_timeout=30).run()
    assert at.exception and live_probe_state.PROBE.seen == []
    assert control.counts() == (2, 0)
    for ticket in others:
        control.release(ticket)
    assert control.free() == 2


@pytest.mark.parametrize("request_", [rerun, stop], ids=["stop-or-widget", "closed-tab"])
def test_interrupted_exactly_when_the_slot_frees_loses_no_slot(control, monkeypatch, request_):
    """A found race: the run is promoted from the queue and interrupted before it starts."""
    others = occupy(control, 2)
    live_probe_state.reset("slow")
    wait = control.wait
    state = {"calls": 0}

    def wait_then_free_and_interrupt(ticket, timeout=live.POLL_SECONDS):
        state["calls"] += 1
        if state["calls"] == 2:  # queued once (the message was shown); now a slot frees ...
            control.release(others[0])
            started = wait(ticket, 0)
            assert started
            request_(live_probe_state.PROBE.ctx)  # ... and Stop / a closed tab lands in the same instant
            return started
        return wait(ticket, timeout)

    monkeypatch.setattr(control, "wait", wait_then_free_and_interrupt)
    make_app_test(APP, default_timeout=30).run()
    assert state["calls"] >= 2
    assert live_probe_state.PROBE.seen == []  # interrupted before the first record
    assert control.counts() == (1, 0)  # only the other session's remaining job holds a slot
    control.release(others[1])
    assert control.free() == 2


def test_a_run_past_the_time_budget_is_stopped_with_a_message(control):
    control.max_seconds = -1.0  # every run is past its budget at its first record
    live_probe_state.reset("slow")
    at = make_app_test(APP, default_timeout=30).run()
    assert not at.exception
    assert live_probe_state.PROBE.seen == [0]
    assert any("CNN_PLAYGROUND_MAX_RUN_SECONDS" in w.value for w in at.warning)
    assert control.free() == 2

