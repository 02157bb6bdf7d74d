"""Turns at drawing a heavy page: at most CNN_PLAYGROUND_PAGE_TURNS of its script runs draw at once, the rest wait.

A page run is pure Python on the server's one interpreter (the GIL). When a lecture hall of 100 tabs reruns the
same heavy page at once, the interpreter shares itself among all of them, so every tab's run ends near the end of
the whole burst, and a home page loaded meanwhile gets 1/100 of it. In turns (one at a time, in order) the same
work ends for half of the tabs in half the time, and any page outside the turns (the home page, a lesson) shares
the interpreter with one drawing run only. While a run waits for its turn it holds no interpreter time.

Who goes first among the waiting runs: a run that comes back from its own training (its results), then a
session's rerun of a page it already shows (a click), then a first load. A student who pressed a button waits for
that press; a tab still opening waits anyway. Within one kind, first come first served.

A run gives its turn back while it waits in the admission queue and while its job computes
(`turn_given_back`, used by `pages.common.live.admitted`), and takes one again, first in line, for its results.
A turn is waited for at most TURN_WAIT_SECONDS: past that the run draws anyway, so nothing ever hangs on a turn.

Turns take at most CNN_PLAYGROUND_TURN_SHARE of the interpreter while runs wait for one (default 0.5): a turn that
was held d seconds is handed on after a pause of d * (1 - share) / share, in which anything outside the turns (a
home page, another page, the event loop sending the last run's messages) has the interpreter to itself. With one
drawing run always beside it, a page load outside the turns takes twice its idle time; with the pauses, less. A
lone run never pauses (nobody waits), so one student alone sees no difference.
Pure Python (no Streamlit); one gate per process, in a ProcessSingleton.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from typing import Iterator

from cnn_core.settings import env_number
from pages.common.live.singleton import ProcessSingleton

TURNS_ENV = "CNN_PLAYGROUND_PAGE_TURNS"
DEFAULT_TURNS = 1          # the interpreter is one core's worth however many cores the server has
SHARE_ENV = "CNN_PLAYGROUND_TURN_SHARE"
DEFAULT_SHARE = 0.5        # of the interpreter, while runs wait for a turn (1 = no pauses)
MAX_PAUSE_SECONDS = 2.0    # a pause never longer than this, whatever one turn took
TURN_WAIT_SECONDS = 60.0   # a run waits at most this long for a turn, then draws anyway
RESULTS, RERUN, FIRST_LOAD = 0, 1, 2  # who goes first: lower first


class TurnGate:
    """`width` turns; waiting runs are served by (priority, arrival), each hand-over after a pause that keeps the
    turns to `share` of the time. Thread-safe; each waiter sleeps on its own event, so a handed-over turn wakes
    exactly one thread (100 waiters woken per hand-over would cost the very interpreter time the turns save)."""

    def __init__(self, width: int = DEFAULT_TURNS, share: float = 1.0) -> None:
        self.width = max(1, int(width))
        self.share = min(max(float(share), 0.05), 1.0)
        self._lock = threading.Lock()
        self._holders = 0
        # a heap of [priority, arrival, event, start]; arrivals are unique, so events are never compared
        self._waiting: list[list] = []
        self._arrivals = itertools.count()

    def acquire(self, priority: int = RERUN, timeout: float = TURN_WAIT_SECONDS) -> bool:
        """Take a turn, waiting at most `timeout` seconds; False when it timed out (the caller holds no turn)."""
        with self._lock:
            if self._holders < self.width and not self._waiting:
                self._holders += 1
                return True
            # [priority, arrival, event, when it may start drawing (set by the hand-over)]
            entry = [priority, next(self._arrivals), threading.Event(), 0.0]
            heapq.heappush(self._waiting, entry)
        if not entry[2].wait(timeout):
            with self._lock:
                if not entry[2].is_set():
                    self._waiting.remove(entry)
                    heapq.heapify(self._waiting)
                    return False
        # handed over (perhaps just as the wait timed out: it is ours); the pause is this thread's own sleep
        time.sleep(max(entry[3] - time.monotonic(), 0.0))
        return True

    def pause_after(self, held_seconds: float) -> float:
        """The pause before a turn held `held_seconds` passes on to a waiting run (see the module's docstring)."""
        return min(max(held_seconds, 0.0) * (1.0 - self.share) / self.share, MAX_PAUSE_SECONDS)

    def release(self, held_seconds: float = 0.0) -> None:
        """Give back a turn held `held_seconds`: to the first waiting run, if any, after pause_after()."""
        with self._lock:
            if self._waiting:
                entry = heapq.heappop(self._waiting)
                entry[3] = time.monotonic() + self.pause_after(held_seconds)
                entry[2].set()  # the turn passes on: the holder count stays
            else:
                self._holders = max(self._holders - 1, 0)

    def counts(self) -> tuple[int, int]:
        """(runs holding a turn, runs waiting for one)."""
        with self._lock:
            return self._holders, len(self._waiting)


gate = ProcessSingleton(lambda: TurnGate(int(env_number(TURNS_ENV, DEFAULT_TURNS, 1)),
                                         min(env_number(SHARE_ENV, DEFAULT_SHARE), 1.0)))
_held = threading.local()  # per script thread: does this run hold a turn now (turn), since when (since)


def holds_turn() -> bool:
    """True while the calling thread holds a turn."""
    return bool(getattr(_held, "turn", False))


@contextlib.contextmanager
def page_turn(priority: int = RERUN) -> Iterator[None]:
    """Draw the body in a turn (nested calls hold the one turn already taken)."""
    if holds_turn():
        yield
        return
    control = gate()
    _take(control, priority)
    try:
        yield
    finally:
        if holds_turn():
            _give_back(control)


@contextlib.contextmanager
def turn_given_back() -> Iterator[None]:
    """Hold no turn during the body (a queued or computing job); take one back, first in line, when it ends
    normally. When it ends by an exception (Stop, a rerun, a closed tab) no turn is taken: the run is ending."""
    if not holds_turn():
        yield
        return
    control = gate()
    _give_back(control)
    finished = False
    try:
        yield
        finished = True
    finally:
        if finished:
            _take(control, RESULTS)


def _take(control: TurnGate, priority: int) -> None:
    _held.turn = control.acquire(priority)
    _held.since = time.monotonic()


def _give_back(control: TurnGate) -> None:
    _held.turn = False
    control.release(time.monotonic() - getattr(_held, "since", time.monotonic()))
