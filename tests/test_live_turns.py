"""Turns at drawing a heavy page (pages/common/live/turns.py): order, hand-over, bounded waits, and the turn given
back while a job is queued or computes."""
from __future__ import annotations

import threading

import pytest

from pages.common.live import turns
from pages.common.live.turns import FIRST_LOAD, RERUN, RESULTS, TurnGate


def _waiter(gate: TurnGate, priority: int, name: str, order: list[str], started: threading.Event) -> threading.Thread:
    """A thread that queues for a turn, notes its name when it gets one, and gives it back at once."""
    def run() -> None:
        started.set()
        assert gate.acquire(priority, timeout=10)
        order.append(name)
        gate.release()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _queue(gate: TurnGate, priority: int, name: str, order: list[str]) -> threading.Thread:
    """Start a waiter and return once it is in the gate's queue (so arrivals have a known order)."""
    before = gate.counts()[1]
    started = threading.Event()
    thread = _waiter(gate, priority, name, order, started)
    started.wait(5)
    for _ in range(500):
        if gate.counts()[1] > before:
            break
        threading.Event().wait(0.01)
    assert gate.counts()[1] == before + 1
    return thread


def test_a_free_turn_is_taken_at_once_and_the_width_bounds_the_holders():
    gate = TurnGate(width=2)
    assert gate.acquire(FIRST_LOAD, timeout=0) and gate.acquire(FIRST_LOAD, timeout=0)
    assert gate.counts() == (2, 0)
    assert not gate.acquire(RESULTS, timeout=0.05)  # both turns held: a bounded wait ends without one
    assert gate.counts() == (2, 0)  # ... and leaves nothing queued behind
    gate.release(), gate.release()
    assert gate.counts() == (0, 0)


def test_waiting_runs_go_by_priority_then_arrival():
    gate = TurnGate(width=1)
    assert gate.acquire(RERUN, timeout=0)
    order: list[str] = []
    threads = [_queue(gate, FIRST_LOAD, "load 1", order), _queue(gate, RERUN, "click 1", order),
               _queue(gate, FIRST_LOAD, "load 2", order), _queue(gate, RESULTS, "results", order),
               _queue(gate, RERUN, "click 2", order)]
    gate.release()  # the turn passes on, one waiter at a time
    for thread in threads:
        thread.join(10)
    assert order == ["results", "click 1", "click 2", "load 1", "load 2"]
    assert gate.counts() == (0, 0)


def test_a_release_hands_the_turn_to_exactly_one_waiter():
    gate = TurnGate(width=1)
    assert gate.acquire(RERUN, timeout=0)
    got = threading.Event()
    holder = threading.Thread(target=lambda: gate.acquire(RERUN, timeout=10) and got.set(), daemon=True)
    holder.start()
    for _ in range(500):
        if gate.counts()[1] == 1:
            break
        threading.Event().wait(0.01)
    gate.release()
    assert got.wait(5)
    assert gate.counts() == (1, 0)  # the waiter holds it now; the count never dipped to let a third in
    assert not gate.acquire(FIRST_LOAD, timeout=0.05)
    gate.release()
    assert gate.counts() == (0, 0)


def test_page_turn_is_held_for_its_body_once_even_nested_and_given_back_on_an_exception(monkeypatch):
    gate = TurnGate(width=1)
    monkeypatch.setattr(turns.gate, "_value", gate)
    monkeypatch.setattr(turns.gate, "_built", True)
    with turns.page_turn(FIRST_LOAD):
        assert turns.holds_turn() and gate.counts() == (1, 0)
        with turns.page_turn(RERUN):  # nested: the same turn
            assert gate.counts() == (1, 0)
        assert turns.holds_turn()
    assert not turns.holds_turn() and gate.counts() == (0, 0)
    with pytest.raises(RuntimeError):
        with turns.page_turn(RERUN):
            raise RuntimeError("a widget's rerun request, a closed tab")
    assert not turns.holds_turn() and gate.counts() == (0, 0)


def test_the_turn_is_given_back_while_a_job_waits_and_taken_again_for_its_results(monkeypatch):
    gate = TurnGate(width=1)
    monkeypatch.setattr(turns.gate, "_value", gate)
    monkeypatch.setattr(turns.gate, "_built", True)
    with turns.page_turn(RERUN):
        with turns.turn_given_back():
            assert not turns.holds_turn() and gate.counts() == (0, 0)  # another tab may draw meanwhile
            assert gate.acquire(FIRST_LOAD, timeout=0)
            gate.release()
        assert turns.holds_turn() and gate.counts() == (1, 0)
    assert gate.counts() == (0, 0)
    with pytest.raises(RuntimeError):  # a run that ends by an exception does not queue for a turn to unwind
        with turns.page_turn(RERUN):
            with turns.turn_given_back():
                raise RuntimeError("Stop")
    assert not turns.holds_turn() and gate.counts() == (0, 0)
    with turns.turn_given_back():  # outside a turn (every other page): nothing to give back, nothing taken
        assert gate.counts() == (0, 0)
    assert not turns.holds_turn() and gate.counts() == (0, 0)


def test_turns_pause_between_hand_overs_to_leave_the_interpreter_a_share_for_everything_else():
    half = TurnGate(width=1, share=0.5)
    assert half.pause_after(0.3) == pytest.approx(0.3)  # held 0.3 s: outside runs get the next 0.3 s alone
    assert half.pause_after(60.0) == turns.MAX_PAUSE_SECONDS
    assert TurnGate(width=1, share=1.0).pause_after(5.0) == 0.0  # share 1: no pauses
    assert half.acquire(RERUN, timeout=0)
    order: list[str] = []
    waiter = _queue(half, RERUN, "next", order)
    half.release(held_seconds=60.0)  # handed on, after the longest pause
    assert half.counts() == (1, 0)  # the paused waiter holds the turn: nobody slips in during the pause
    assert not half.acquire(RESULTS, timeout=0)
    waiter.join(10)
    assert order == ["next"] and half.counts() == (0, 0)
    assert half.acquire(FIRST_LOAD, timeout=0)  # nobody waited at this hand-over: no pause at all
    half.release(held_seconds=60.0)
    assert half.counts() == (0, 0)
