"""Guessing the teacher token gets slower with every wrong guess, per session and per server, and is logged."""
from __future__ import annotations

import logging

import pytest

from cnn_core.classroom.guesses import GuessGuard
from pages.common.classroom import teacher

PAGE = "pages/12_Gallery.py"
TOKEN = "s3cret-teacher-token"


def test_a_sessions_wait_doubles_with_its_wrong_guesses():
    guard = GuessGuard(base_s=1.0, max_wait_s=8.0, server_free=100)
    assert guard.wait_s("a", now=0.0) == 0.0
    waits = []
    for i in range(5):
        guard.failed("a", now=100.0 * i)
        waits.append(guard.wait_s("a", now=100.0 * i))
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped
    assert guard.wait_s("b", now=400.0) == 0.0  # another session is not slowed below the server's threshold
    guard.succeeded("a")
    assert guard.wait_s("a", now=400.0) == 0.0


def test_many_sessions_guessing_slow_down_the_whole_server():
    guard = GuessGuard(base_s=1.0, max_wait_s=60.0, server_free=3, window_s=600.0)
    for i in range(6):  # one wrong guess each from six fresh sessions (new tabs)
        guard.failed(f"tab-{i}", now=float(i))
    assert guard.wait_s("tab-new", now=6.0) == pytest.approx(5.0 + 2 ** 2 - 6.0)  # 3 over the free 3: 4 s after
    assert guard.wait_s("tab-new", now=700.0) == 0.0  # the window forgets old guesses


@pytest.fixture
def gallery(tmp_path, monkeypatch):
    from pages.common.classroom.publish import gallery_store

    monkeypatch.setenv("CNN_PLAYGROUND_DB", f"sqlite:///{tmp_path / 'g.sqlite3'}")
    monkeypatch.setenv("CNN_PLAYGROUND_TEACHER_TOKEN", TOKEN)
    monkeypatch.setattr(teacher, "TOKEN_GUESSES", GuessGuard(base_s=30.0))
    gallery_store.clear()
    yield
    gallery_store.clear()


def test_after_a_wrong_token_even_the_right_one_waits_and_the_guess_is_logged(app_test, gallery, monkeypatch, caplog):
    compared = []
    real = teacher.token_matches
    monkeypatch.setattr(teacher, "token_matches", lambda given, expected=None: compared.append(given) or
                        real(given, expected))
    at = app_test(PAGE).run()
    with caplog.at_level(logging.WARNING, logger="cnn_playground.teacher"):
        at.sidebar.text_input[0].input("guess-1")
        at.sidebar.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong token."]
    assert any("Wrong teacher token" in r.getMessage() for r in caplog.records)
    at.sidebar.text_input[0].input(TOKEN)
    at.sidebar.button[0].click().run()
    assert [e.value for e in at.error] == ["Too many wrong tokens: try again in 30 s."]
    assert compared == ["guess-1"]  # during the wait no guess is even compared
    assert not any(b.key == "teacher_delete" for b in at.button)
