"""Server-wide state that no client can reset: one object per process, and a guard on the client's cache clear.

Streamlit's "Clear caches" (the `BackMsg(clear_cache=True)` any websocket client may send, menu or not)
empties every `st.cache_data` AND every `st.cache_resource` of the process. State the whole class shares
(the admission queue, the gallery store, the finished-runs cache) therefore lives in a `ProcessSingleton`,
which Streamlit's caches do not know about::

    @ProcessSingleton
    def admission() -> Admission:
        return Admission(...)

    admission()        # built once per process, under a lock, then the same object for every session
    admission.clear()  # for tests only: the next call builds a fresh one

`guard_client_cache_clear()` wraps Streamlit's handler of that message so that on a class server a client's
clear empties the data caches at most once per CLEAR_INTERVAL_ENV seconds (default 60), or never
(CNN_PLAYGROUND_CLIENT_CLEAR=off), or as Streamlit does (=allow). Even when it goes through, a clear then
costs at most reloading data: nothing that the class shares is lost.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Generic, TypeVar

T = TypeVar("T")
_LOG = logging.getLogger("cnn_playground.class_server")

CLIENT_CLEAR_ENV = "CNN_PLAYGROUND_CLIENT_CLEAR"  # "limit" (default), "off" or "allow"
CLEAR_INTERVAL_ENV = "CNN_PLAYGROUND_CLEAR_INTERVAL_S"
DEFAULT_CLEAR_INTERVAL_S = 60.0


class ProcessSingleton(Generic[T]):
    """A factory called once per process (double-checked under a lock); `clear()` is for tests."""

    def __init__(self, factory: Callable[[], T], close: Callable[[T], None] | None = None) -> None:
        self._factory = factory
        self._close = close
        self._lock = threading.Lock()
        self._value: T | None = None
        self._built = False
        self.__doc__ = factory.__doc__
        self.__name__ = getattr(factory, "__name__", "singleton")

    def __call__(self) -> T:
        if self._built:
            return self._value  # type: ignore[return-value]
        with self._lock:
            if not self._built:
                self._value = self._factory()  # a factory that raises leaves nothing behind: the next call retries
                self._built = True
            return self._value  # type: ignore[return-value]

    def clear(self) -> None:
        """Drop the object (closing it when a close function was given): the next call builds a new one."""
        with self._lock:
            value, built = self._value, self._built
            self._value, self._built = None, False
        if built and self._close is not None and value is not None:
            self._close(value)


def process_singleton(close: Callable[[T], None] | None = None) -> Callable[[Callable[[], T]], ProcessSingleton[T]]:
    """Decorator form with a close function: `@process_singleton(close=Store.close)`."""
    return lambda factory: ProcessSingleton(factory, close)


# --------------------------------------------------------------------- the client's cache clear

class ClearThrottle:
    """Lets a client's cache clear through at most once per `interval` seconds (never when interval is inf)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last = -float("inf")
        self.allowed = 0
        self.refused = 0

    def allow(self, now: float | None = None) -> bool:
        """True when this clear may go through (and counts it)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if now - self._last >= self.interval:
                self._last = now
                self.allowed += 1
                return True
            self.refused += 1
            return False


def clear_policy() -> tuple[str, float]:
    """(mode, seconds between honoured clears) from the environment: limit/off/allow."""
    mode = os.environ.get(CLIENT_CLEAR_ENV, "limit").strip().lower()
    if mode not in ("limit", "off", "allow"):
        mode = "limit"
    try:
        interval = float(os.environ.get(CLEAR_INTERVAL_ENV, DEFAULT_CLEAR_INTERVAL_S))
    except ValueError:
        interval = DEFAULT_CLEAR_INTERVAL_S
    interval = interval if interval >= 0 else DEFAULT_CLEAR_INTERVAL_S
    return mode, {"off": float("inf"), "allow": 0.0}.get(mode, interval)


def throttled(handler: Callable[[object], None], throttle: ClearThrottle) -> Callable[[object], None]:
    """A clear_cache handler that calls `handler(session)` only when the throttle allows it (a log line if not)."""
    def guarded(session: object) -> None:
        if throttle.allow():
            handler(session)
        else:
            _LOG.warning("A client's cache clear was refused (at most one per %.0f s on a class server).",
                         throttle.interval)

    guarded.__wrapped__ = handler  # type: ignore[attr-defined]
    return guarded


_GUARD_LOCK = threading.Lock()
_THROTTLE: list[ClearThrottle] = []


def guard_client_cache_clear() -> ClearThrottle | None:
    """Wrap Streamlit's handler of a client's clear_cache message once per process (idempotent).

    Returns the throttle in use, or None where this Streamlit has no such handler (then the singletons
    above are what keeps the shared state safe).
    """
    with _GUARD_LOCK:
        if _THROTTLE:
            return _THROTTLE[0]
        try:
            from streamlit.runtime.app_session import AppSession
        except ImportError:
            return None
        original = getattr(AppSession, "_handle_clear_cache_request", None)
        if original is None:
            _LOG.warning("This Streamlit has no clear_cache handler to guard; shared state is safe in singletons.")
            return None
        _, interval = clear_policy()
        throttle = ClearThrottle(interval)
        AppSession._handle_clear_cache_request = throttled(original, throttle)  # type: ignore[method-assign]
        _THROTTLE.append(throttle)
        return throttle
