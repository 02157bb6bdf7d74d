"""The lessons UI under AppTest: a student walks a lesson; the teacher's dashboard aggregates two students."""
from __future__ import annotations

import statistics
import time
import uuid

import pytest
import torch

from cnn_core.classroom.progress import NewAttempt
from cnn_core.lessons import exercise, seed_for
from pages.common.lessons.store import progress_store, status_by_exercise
from pages.common.lessons.throttle import MAX_CHECKS, WINDOW_S, allow_check

TOKEN = "lesson-teacher-token"


@pytest.fixture
def fresh_store(tmp_path, monkeypatch):
    """The class progress store on a new SQLite file (the store is one per process: rebuilt for the test)."""
    monkeypatch.setenv("CNN_PLAYGROUND_DB", f"sqlite:///{tmp_path / 'progress.sqlite3'}")
    progress_store.clear()
    yield progress_store()
    progress_store.clear()


def _texts(at) -> str:
    return "\n".join(str(el.value) for kind in ("markdown", "success", "error", "caption", "warning")
                     for el in at.get(kind))


def test_a_student_walks_a_lesson(app_test, fresh_store):
    nickname = f"ada{uuid.uuid4().hex[:6]}"
    ex = exercise("conv-output-shape")
    variant = ex.variant(seed_for(nickname))
    # the right answer, from torch's own layer (independent of the exercise's solver)
    p = variant.params
    conv = torch.nn.Conv2d(1, 1, p["k"], stride=p["s"], padding=p["p"])
    right = " x ".join(map(str, conv(torch.zeros(1, 1, 28, 28)).shape[1:]))
    wrong, label = next((w, lab) for w, lab in variant.misconceptions if w != tuple(int(x) for x in right.split(" x ")))

    at = app_test("playground.py", default_timeout=180).run()
    at.switch_page("pages/13_Lessons.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="lesson_nickname").set_value(nickname)
    at.button(key="lesson_save").click().run()
    assert nickname in _texts(at)
    assert fresh_store.resume(at.session_state["lesson_student"]["code"]).nickname == nickname
    at.selectbox(key="lesson_section").set_value("Convolution").run()
    at.button(key=f"lesson_open_{ex.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value.endswith("Basic layers")
    assert variant.question in _texts(at)
    assert at.session_state["conv_stride"] == p["s"] and at.session_state["conv_padding"] == p["p"]  # the setup
    at.switch_page("pages/3_Basic_Layers.py").run()  # AppTest reruns the page it was told, not the script's switch
    assert variant.question in _texts(at)

    answer_key = f"lesson_text_{ex.id}_{variant.seed}"
    at.text_input(key=answer_key).set_value(" x ".join(map(str, wrong)))
    at.button(key=f"lesson_check_{ex.id}").click().run()
    shown = _texts(at)
    assert label in shown and "Hint:" in shown and ex.explanation not in shown
    time.sleep(WINDOW_S)  # the next check is not throttled
    at.text_input(key=answer_key).set_value(right)
    at.button(key=f"lesson_check_{ex.id}").click().run()
    assert ex.explanation in _texts(at) and at.success

    me = at.session_state["lesson_student"]["id"]
    mine = fresh_store.attempts(student_id=me)
    assert [a.correct for a in mine] == [False, True] and mine[0].misconception == label
    at.button(key=f"lesson_next_{ex.id}").click().run()  # the next one in the lecture is on the same page
    assert not at.exception
    nxt = at.session_state["lesson_selected"]["3_Basic_Layers.py"]
    assert nxt != ex.id and exercise(nxt).variant(seed_for(nickname)).question in _texts(at)


def _attempt(student_id: int, correct: bool, seconds: float, answer: str, misconception: str | None) -> NewAttempt:
    return NewAttempt(student_id=student_id, exercise_id="conv-params", seed=1, answer=answer, correct=correct,
                      misconception=misconception, seconds=seconds, token=uuid.uuid4().hex)


def test_dashboard_shows_two_students_aggregates(app_test, fresh_store, monkeypatch):
    monkeypatch.setenv("CNN_PLAYGROUND_TEACHER_TOKEN", TOKEN)
    ada, bo = fresh_store.register("ada"), fresh_store.register("bo")
    attempts = [_attempt(ada.id, True, 12.0, "2406", None),
                _attempt(bo.id, False, 20.0, "2400", "forgot the biases"),
                _attempt(bo.id, True, 31.0, "2406", None)]
    for a in attempts:
        fresh_store.record_attempt(a)
    at = app_test("playground.py", default_timeout=120).run()
    at.switch_page("pages/13_Lessons.py").run()
    assert not any("Class dashboard" in h.value for h in at.header)  # no token given yet
    at.sidebar.text_input[0].set_value(TOKEN)
    at.sidebar.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Class dashboard" in h.value for h in at.header)
    table = at.dataframe[0].value
    row = table[table["exercise_id"] == "conv-params"].iloc[0]
    assert row["attempts"] == len(attempts) and row["students"] == 2
    assert row["first_try_right"] == pytest.approx(1 / 2)  # ada right at once, bo not
    assert row["median_seconds"] == pytest.approx(statistics.median(a.seconds for a in attempts))
    assert row["title"] == exercise("conv-params").title
    assert "forgot the biases (1): 2400 (1)" in row["wrong_answers"]
    assert {m.label: m.value for m in at.metric}["Students"] == "2"


def test_a_student_sees_only_their_own_attempts(fresh_store):
    ada, bo = fresh_store.register("ada"), fresh_store.register("bo")
    fresh_store.record_attempt(_attempt(ada.id, True, 1.0, "2406", None))
    fresh_store.record_attempt(_attempt(bo.id, False, 1.0, "2400", "forgot the biases"))
    assert [a.answer for a in fresh_store.attempts(student_id=ada.id)] == ["2406"]
    assert status_by_exercise(fresh_store.attempts(student_id=bo.id)) == {"conv-params": "tried"}


def test_checks_are_throttled_per_session():
    state: dict = {}
    allowed = [allow_check(state, now=100.0 + i * 0.1) == 0 for i in range(MAX_CHECKS + 1)]
    assert allowed == [True] * MAX_CHECKS + [False]
    assert allow_check(state, now=100.0 + WINDOW_S + 0.01) == 0  # the window moved on


def test_one_session_stores_a_bounded_number_of_attempts_per_exercise(monkeypatch):
    # A script pressing Check for an hour must not fill the class database: the store sees at most the cap.
    import streamlit as st
    from pages.common.lessons import store

    recorded = []
    monkeypatch.setattr(store, "progress_store", lambda: type("S", (), {"record_attempt": recorded.append})())
    monkeypatch.setattr(store, "_owner", lambda: 1)
    st.session_state.clear()
    for _ in range(store.MAX_SAVED_PER_EXERCISE + 20):
        store.save_attempt("conv-output-shape", 1, "13", False, None, 1.0)
    store.save_attempt("loss-initial", 1, "2.3", True, None, 1.0)
    assert len(recorded) == store.MAX_SAVED_PER_EXERCISE + 1
