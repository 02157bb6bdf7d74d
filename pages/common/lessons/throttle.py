"""At most a few checks per second per session: a sliding window of recent check times."""
from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

CHECKS = "lesson_checks"  # session state: monotonic times of this session's recent checks
MAX_CHECKS = 3
WINDOW_S = 2.0


def allow_check(state: MutableMapping[str, Any], now: float | None = None) -> float:
    """0 when a check may run now (and counts it), else the seconds to wait."""
    now = time.monotonic() if now is None else now
    recent = [t for t in state.get(CHECKS, []) if now - t < WINDOW_S]
    if len(recent) >= MAX_CHECKS:
        state[CHECKS] = recent
        return WINDOW_S - (now - recent[0])
    state[CHECKS] = recent + [now]
    return 0.0
