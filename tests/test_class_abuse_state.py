"""Server-wide state that a client's "clear caches" must not reset, and the guard on that message.

Streamlit's handler of `BackMsg(clear_cache=True)` calls `st.cache_data.clear()` and `st.cache_resource.clear()`
for the whole process; these tests call the same two functions (and the handler itself) and check that the
admission queue, the finished runs and the gallery store are the same objects afterwards, with their state.
"""
from __future__ import annotations

import streamlit as st

from pages.common import live
from pages.common.live.singleton import (ClearThrottle, ProcessSingleton, clear_policy, guard_client_cache_clear,
                                         throttled)


def test_a_cache_clear_keeps_the_admission_queue_and_its_running_jobs():
    live.admission.clear()
    control = live.admission()
    held = [control.join(f"student-{i}") for i in range(control.capacity)]
    try:
        st.cache_data.clear()
        st.cache_resource.clear()  # what a client's clear_cache makes Streamlit do
        assert live.admission() is control
        newcomer = control.join("newcomer")
        assert newcomer.started is None  # the slots are still held: the newcomer queues
        control.release(newcomer)
    finally:
        for ticket in held:
            control.release(ticket)
    live.admission.clear()


def test_a_cache_clear_keeps_finished_runs_and_the_gallery_store(tmp_path, monkeypatch):
    from pages.common.classroom.publish import gallery_store
    from pages.common.state import finished_runs

    monkeypatch.setenv("CNN_PLAYGROUND_DB", f"sqlite:///{tmp_path / 'g.sqlite3'}")
    gallery_store.clear()
    runs, store = finished_runs(), gallery_store()
    runs.put(("probe",), ("record",))
    st.cache_resource.clear()
    assert finished_runs() is runs and runs.get(("probe",)) == ("record",)
    assert gallery_store() is store
    gallery_store.clear()


def test_process_singleton_builds_once_even_from_many_threads():
    import threading

    built = []
    single = ProcessSingleton(lambda: built.append(1) or object())
    results = []
    threads = [threading.Thread(target=lambda: results.append(single())) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and len({id(r) for r in results}) == 1
    single.clear()
    assert single() is not results[0] and len(built) == 2


def test_the_guarded_handler_lets_one_clear_through_per_interval(caplog):
    from types import SimpleNamespace

    from streamlit.runtime.app_session import AppSession

    assert guard_client_cache_clear() is not None
    streamlit_handler = AppSession._handle_clear_cache_request.__wrapped__  # installed once per process
    computed = []

    @st.cache_data
    def square(x: int) -> int:
        computed.append(x)
        return x * x

    handler = throttled(streamlit_handler, ClearThrottle(60.0))
    session = SimpleNamespace(_session_state={})  # what Streamlit's handler also clears
    square(3)
    handler(session)  # the first clear goes through: the data cache is recomputed once
    square(3)
    handler(session)  # within the interval: refused, logged, nothing recomputed
    handler(session)
    square(3)
    assert computed == [3, 3]
    assert sum("refused" in r.message for r in caplog.records) == 2


def test_the_throttle_counts_by_its_clock():
    fresh = ClearThrottle(60.0)
    assert fresh.allow(now=0.0) and not fresh.allow(now=1.0) and not fresh.allow(now=59.0) and fresh.allow(now=61.0)
    assert (fresh.allowed, fresh.refused) == (2, 2)


def test_clear_policy_from_the_environment(monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_CLIENT_CLEAR", "off")
    assert clear_policy() == ("off", float("inf"))
    monkeypatch.setenv("CNN_PLAYGROUND_CLIENT_CLEAR", "allow")
    assert clear_policy() == ("allow", 0.0)
    monkeypatch.setenv("CNN_PLAYGROUND_CLIENT_CLEAR", "nonsense")
    monkeypatch.setenv("CNN_PLAYGROUND_CLEAR_INTERVAL_S", "-3")
    assert clear_policy() == ("limit", 60.0)
