"""Admission control for the live driver: a process-wide fair FIFO of jobs over this server's cores.

Pure Python (no Streamlit): `pages.common.live` keeps one `Admission` per process in a ProcessSingleton
(never in st.cache_resource, which a client's clear_cache empties) and re-exports these names. See its
docstring for how slots, sessions and the queue behave.
"""
from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

DEFAULT_MAX_JOBS = 2            # 2 cores: more parallel runs only slow every one of them down
DEFAULT_RUN_SECONDS = 600.0     # a run's wall-clock budget once it holds a slot
DEFAULT_JOBS_PER_SESSION = 1
TYPICAL_RUN_SECONDS = 30.0      # the wait estimate's guess until runs have finished here
POLL_SECONDS = 0.5              # Admission.wait's default wait (a job that starts wakes every waiter)
SWEEP_SECONDS = 1.0             # how often a waiting run's poll drops the queue entries of closed tabs


@dataclass(eq=False)
class Ticket:
    """One job's place: queued (started is None), running, or released."""

    session: str
    label: str
    queued_at: float = field(default_factory=time.monotonic)
    started: float | None = None
    released: bool = False
    slots: int = 1         # cores of this server it computes on (0: it runs elsewhere, e.g. on Ray)
    progress: float = 0.0  # 0..1 as the driver last drew it (for the others' wait estimate)


class Admission:
    """A process-wide fair FIFO of jobs: `capacity` run at once, `per_session` per session.

    Thread-safe (one lock); knows nothing about Streamlit except the `is_alive(session)` callback
    that tells which sessions still exist. Every method may be called from any script thread.
    """

    def __init__(self, capacity: int = DEFAULT_MAX_JOBS, per_session: int = DEFAULT_JOBS_PER_SESSION,
                 max_seconds: float = DEFAULT_RUN_SECONDS, is_alive: Callable[[str], bool] | None = None) -> None:
        self.capacity = max(1, int(capacity))
        self.per_session = max(1, int(per_session))
        self.max_seconds = float(max_seconds)
        self._is_alive = is_alive or (lambda session: True)
        self._changed = threading.Condition(threading.Lock())
        self._waiting: list[Ticket] = []   # FIFO
        self._running: list[Ticket] = []
        self._typical = TYPICAL_RUN_SECONDS  # moving average of finished runs' durations
        self._swept = 0.0                    # when the queue last dropped vanished sessions

    # ---------------------------------------------------------------- under the lock
    def _promote(self, sweep: bool = True) -> None:
        # Drop the queue entries of vanished sessions (at most every SWEEP_SECONDS from a poll: asking Streamlit
        # about every waiting session on every poll of every waiting tab is quadratic in the class), then start
        # the oldest tickets that may run, and wake the waiters only when one started: a wake-up for nothing
        # made every one of 30 waiting tabs promote and notify again, a storm that held the interpreter.
        now = time.monotonic()
        if sweep or now - self._swept >= SWEEP_SECONDS:
            self._waiting = [t for t in self._waiting if self._alive(t.session)]
            self._swept = now
        started = False
        for ticket in list(self._waiting):
            if sum(t.session == ticket.session for t in self._running) >= self.per_session:
                continue  # this session is busy: the next session's job may go first
            if self._used() + ticket.slots > self.capacity:
                break  # first come, first served: nobody overtakes a job waiting for slots
            self._waiting.remove(ticket)
            if not self._alive(ticket.session):
                continue  # its tab closed since the last sweep: it must not take the slot
            ticket.started = now
            self._running.append(ticket)
            started = True
        if started:
            self._changed.notify_all()

    def _used(self) -> int:
        return sum(t.slots for t in self._running)

    def _alive(self, session: str) -> bool:
        try:
            return bool(self._is_alive(session))
        except Exception:  # a failing liveness check must not stop the queue
            return True

    # ---------------------------------------------------------------- public
    def join(self, session: str, label: str = "run", slots: int = 1) -> Ticket:
        """Queue a new job of `session` that needs `slots` cores (at most all of them); it may start at
        once (see `ticket.started`)."""
        ticket = Ticket(session, label, slots=min(max(int(slots), 0), self.capacity))
        with self._changed:
            self._waiting.append(ticket)
            self._promote()
        return ticket

    def wait(self, ticket: Ticket, timeout: float = POLL_SECONDS) -> bool:
        """Wait up to `timeout` seconds for the ticket to start; True once it runs."""
        with self._changed:
            if ticket.released:
                raise RuntimeError("This ticket was released; join the queue again")
            if ticket.started is None and ticket not in self._waiting:
                self._waiting.append(ticket)  # dropped as vanished, yet still asking: back of the queue
            self._promote(sweep=False)
            if ticket.started is None:
                self._changed.wait(timeout)
                self._promote(sweep=False)
            return ticket.started is not None

    def release(self, ticket: Ticket) -> None:
        """Give the ticket's place back, queued or running (idempotent)."""
        with self._changed:
            if ticket.released:
                return
            ticket.released = True
            if ticket in self._running:
                self._running.remove(ticket)
                self._typical = 0.7 * self._typical + 0.3 * (time.monotonic() - ticket.started)
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            self._promote()

    def position(self, ticket: Ticket) -> tuple[int, int]:
        """(1-based place among the waiting jobs, number waiting); (0, n) once it runs."""
        with self._changed:
            n = len(self._waiting)
            return (self._waiting.index(ticket) + 1 if ticket in self._waiting else 0), n

    def expected_wait(self, ticket: Ticket) -> float:
        """Seconds until the ticket starts, if every run takes the typical time of recent runs."""
        with self._changed:
            if ticket not in self._waiting:
                return 0.0
            now, typical = time.monotonic(), self._typical
            free_at = [self._remaining(t, now, typical) for t in self._running for _ in range(t.slots)]
            free_at += [0.0] * max(self.capacity - len(free_at), 0)
            heapq.heapify(free_at)
            for ahead in self._waiting[:self._waiting.index(ticket)]:  # each takes the next free slots
                start = max([heapq.heappop(free_at) for _ in range(ahead.slots)], default=0.0)
                for _ in range(ahead.slots):
                    heapq.heappush(free_at, start + typical)
            return max(heapq.nsmallest(max(ticket.slots, 1), free_at), default=0.0)

    @staticmethod
    def _remaining(ticket: Ticket, now: float, typical: float) -> float:
        # A running job's time left: from its progress when it reports one, else from the typical run.
        elapsed = now - ticket.started
        if ticket.progress >= 0.02:
            return max(elapsed * (1 - ticket.progress) / ticket.progress, 1.0)
        return max(typical - elapsed, 1.0)

    def overdue(self, ticket: Ticket) -> bool:
        """True when a running ticket has used up the run time budget."""
        return ticket.started is not None and time.monotonic() - ticket.started > self.max_seconds

    def counts(self) -> tuple[int, int]:
        """(running, waiting) jobs right now."""
        with self._changed:
            return len(self._running), len(self._waiting)

    def free(self) -> int:
        """Slots nobody holds."""
        with self._changed:
            return self.capacity - self._used()


# -------------------------------------------------------------------- Streamlit side
