"""Counts, inside a Streamlit server, how many admitted runs hold a slot at once (tests/apps/class_abuse_runs.py).

Imported once per server process, so every session's script thread sees the same counters; the admission
control itself is not asked (the point is to check it from outside).
"""
import threading

_LOCK = threading.Lock()
COUNTS = {"now": 0, "peak": 0, "runs": 0}


def enter() -> None:
    """A run got its slot."""
    with _LOCK:
        COUNTS["now"] += 1
        COUNTS["runs"] += 1
        COUNTS["peak"] = max(COUNTS["peak"], COUNTS["now"])


def leave() -> int:
    """A run gave its slot back; returns the peak so far."""
    with _LOCK:
        COUNTS["now"] -= 1
        return COUNTS["peak"]
