"""What one student's client can do to a class server, through Streamlit's own websocket protocol.

A real `streamlit run` server per test (benchmarks/class_abuse.py starts it with its own temp folders) and the
protocol client of benchmarks/st_protocol.py, which sends what a tab sends and what no honest tab sends: a
clear_cache message (the menu's "Clear caches", open to any client) and a forged page address.
"""
from __future__ import annotations

import pytest

from benchmarks import class_abuse

pytestmark = pytest.mark.slow


def test_clear_cache_does_not_lift_the_run_limit(tmp_path):
    # 2 runs hold both slots; a client sends clear_cache 3 times, each followed by 2 new runs. The queue must
    # survive the clears: never more than CNN_PLAYGROUND_MAX_JOBS runs hold a slot at once.
    peak = class_abuse.runs_at_once(tmp_path, clears=3, max_jobs=2, hold_s=2.0)
    assert 1 <= peak <= 2


def test_a_forged_localhost_address_starts_no_tensorboard(tmp_path):
    started, could_press = class_abuse.tensorboard_started(tmp_path, sessions=3, mode="")
    assert (started, could_press) == (0, 0)


def test_with_the_setting_on_the_server_runs_one_tensorboard_at_most(tmp_path):
    started, pressed = class_abuse.tensorboard_started(tmp_path, sessions=3, mode="embed")
    assert pressed == 3 and started == 1


def test_local_mode_reads_the_connections_peer_address(tmp_path):
    # these sessions really connect from 127.0.0.1, the peer address the server sees: "local" lets them start
    # the server's one TensorBoard (a remote peer would get no Start button, whatever address it claims)
    started, pressed = class_abuse.tensorboard_started(tmp_path, sessions=2, mode="local")
    assert pressed == 2 and started == 1


def test_one_client_publishing_in_a_loop_stops_at_its_quota_and_others_still_publish(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_GALLERY_INTERVAL_S", "0")  # the quota, not the rate, is under test here
    attempts, stored, other_ok = class_abuse.gallery_flood(tmp_path, seconds=4.0, quota=3)
    assert attempts > 3 and stored == 3 and other_ok
