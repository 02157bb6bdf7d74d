"""Shared state between tests/test_live_driver.py and the app it drives (tests/live_probe_app.py).

Imported once per process, so the test and the AppTest script thread see the same object.
"""
import types

PROBE = types.SimpleNamespace(mode="finish", ctx=None, seen=[], runs=0)


def reset(mode: str) -> types.SimpleNamespace:
    """Start a test: the app's next run uses `mode`."""
    PROBE.mode, PROBE.ctx, PROBE.seen, PROBE.runs = mode, None, [], 0
    return PROBE
