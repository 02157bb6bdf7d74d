"""A growing wait after wrong guesses of a secret (the teacher token), per session and per server.

    guard = GuessGuard()
    wait = guard.wait_s(session)       # > 0: refuse to check a guess now, say how long to wait
    guard.failed(session)              # after a wrong guess: the next one waits longer
    guard.succeeded(session)           # the session's own count starts again

A session's wait doubles with each of its wrong guesses (1, 2, 4 ... s, at most `max_wait_s`); the server's
wait grows the same way with the wrong guesses of all sessions in the last `window_s` beyond `server_free`,
so that opening many tabs does not buy more guesses. Counts live in memory, in this process.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

MAX_SESSIONS = 10_000  # sessions remembered (oldest forgotten first)


class GuessGuard:
    """Wrong-guess counters per session and for the whole server, and the wait they impose (thread-safe)."""

    def __init__(self, base_s: float = 1.0, max_wait_s: float = 60.0, server_free: int = 10,
                 window_s: float = 600.0) -> None:
        self.base_s = base_s
        self.max_wait_s = max_wait_s
        self.server_free = server_free  # wrong guesses on the server (in the window) before it slows everyone
        self.window_s = window_s
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[int, float]] = OrderedDict()  # session -> (failures, last failure)
        self._server: deque[float] = deque()  # times of recent wrong guesses on the server

    def _delay(self, failures: int) -> float:
        return 0.0 if failures <= 0 else min(self.base_s * 2 ** (failures - 1), self.max_wait_s)

    def wait_s(self, session: str, now: float | None = None) -> float:
        """Seconds this session must wait before its next guess is checked (0: check it now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._server and now - self._server[0] > self.window_s:
                self._server.popleft()
            failures, last = self._sessions.get(session, (0, now))
            mine = last + self._delay(failures) - now
            server_last = self._server[-1] if self._server else now
            theirs = server_last + self._delay(len(self._server) - self.server_free) - now
            return max(mine, theirs, 0.0)

    def failed(self, session: str, now: float | None = None) -> tuple[int, int]:
        """Count a wrong guess; returns (this session's wrong guesses, the server's in the window)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            failures = self._sessions.pop(session, (0, now))[0] + 1
            self._sessions[session] = (failures, now)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
            self._server.append(now)
            return failures, len(self._server)

    def succeeded(self, session: str) -> None:
        """A right guess: this session's count starts again (the server's stays)."""
        with self._lock:
            self._sessions.pop(session, None)
