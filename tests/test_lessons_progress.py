"""The lesson progress store on a real database: SQLite always, PostgreSQL when CNN_PLAYGROUND_TEST_PG_URL is set."""
from __future__ import annotations

import csv
import io
import statistics
import threading
import uuid
from collections import Counter, defaultdict

import pytest
from sqlalchemy import create_engine, text

from cnn_core.classroom.progress import NewAttempt, ProgressError, ProgressStore, progress_engine
from tests.helpers import pg_test_url

STUDENTS = 30



@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A fresh store on each backend (the PostgreSQL one in its own schema, dropped afterwards)."""
    if request.param == "sqlite":
        engine = progress_engine(f"sqlite:///{tmp_path / 'progress.sqlite3'}")
        yield ProgressStore(engine)
        engine.dispose()
        return
    base = pg_test_url()
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    engine = progress_engine(f"{base}{sep}options=-csearch_path%3D{schema}")
    try:
        yield ProgressStore(engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def attempt(student_id: int, exercise: str = "conv-params", correct: bool = True, **changes) -> NewAttempt:
    values = dict(student_id=student_id, exercise_id=exercise, seed=7, answer="456", correct=correct,
                  misconception=None, seconds=10.0, token=uuid.uuid4().hex)
    values.update(changes)
    return NewAttempt(**values)


def submit_at_once(store: ProgressStore, attempts: list[NewAttempt]) -> tuple[list[int], list[Exception]]:
    """Every attempt from its own thread, released at the same moment by a barrier."""
    barrier, ids, errors, lock = threading.Barrier(len(attempts)), [], [], threading.Lock()

    def work(a: NewAttempt) -> None:
        barrier.wait()
        try:
            new_id = store.record_attempt(a)
            with lock:
                ids.append(new_id)
        except Exception as exc:  # noqa: BLE001 (collected and asserted empty)
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids, errors


def test_thirty_students_submitting_at_once_are_each_stored_once(store):
    students = [store.register(f"student{i}") for i in range(STUDENTS)]
    attempts = [attempt(s.id) for s in students]
    ids, errors = submit_at_once(store, attempts)
    assert errors == [] and len(ids) == len(set(ids)) == STUDENTS
    assert len(store.attempts()) == STUDENTS
    # the same submissions again, and each twice at once (a double click): still one row per token
    again, errors = submit_at_once(store, attempts + attempts)
    assert errors == [] and sorted(set(again)) == sorted(ids)
    assert len(store.attempts()) == STUDENTS
    assert sorted(a.student_id for a in store.attempts()) == sorted(s.id for s in students)


def test_students_resume_with_their_code(store):
    ada = store.register("ada")
    assert len(ada.resume_code) == 8 and ada.resume_code.isalnum()
    assert store.resume(ada.resume_code.lower()) == ada
    assert store.resume(f" {ada.resume_code[:4]}-{ada.resume_code[4:]} ") == ada
    assert store.resume("NOPE1234") is None and store.resume("") is None
    with pytest.raises(ProgressError, match="taken"):
        store.register("ada")
    for bad in ("", "   ", "x" * 33):
        with pytest.raises(ProgressError):
            store.register(bad)
    assert store.register("grace").resume_code != ada.resume_code
    assert [s.nickname for s in store.students()] == ["ada", "grace"]


def test_dashboard_aggregates_equal_hand_counts(store):
    students = [store.register(f"s{i}") for i in range(6)]
    plan = []  # (student index, exercise, correct, misconception, answer, seconds), in submission order
    for i in range(6):
        plan.append((i, "conv-params", i % 2 == 0, None if i % 2 == 0 else "forgot the biases",
                     "456" if i % 2 == 0 else "450", 10.0 + i))
        if i % 2:
            plan.append((i, "conv-params", True, None, "456", 5.0))
        plan.append((i, "loss-initial", i < 2, None if i < 2 else ("used log base 10" if i < 5 else None),
                     "2.30" if i < 2 else ("1" if i < 5 else "7"), float(20 + i)))
    plan.append((0, "loss-initial", False, None, "0", None))  # a later wrong try: not a first try
    for i, exercise, correct, label, answer, seconds in plan:
        store.record_attempt(attempt(students[i].id, exercise, correct, misconception=label, answer=answer,
                                     seconds=seconds))
    table = store.dashboard().set_index("exercise_id")
    for exercise in ("conv-params", "loss-initial"):
        rows = [p for p in plan if p[1] == exercise]
        first = {}
        for p in rows:
            first.setdefault(p[0], p[2])
        assert table.loc[exercise, "attempts"] == len(rows)
        assert table.loc[exercise, "students"] == len({p[0] for p in rows})
        assert table.loc[exercise, "first_try_right"] == pytest.approx(sum(first.values()) / len(first))
        assert table.loc[exercise, "median_seconds"] == statistics.median(p[5] for p in rows if p[5] is not None)
    wrong = store.wrong_answers()
    hand = defaultdict(Counter)
    for _, exercise, correct, label, answer, _ in plan:
        if not correct:
            hand[(exercise, label or "(unrecognized)")][answer] += 1
    assert len(wrong) == len(hand)
    for row in wrong.itertuples():
        counts = hand[(row.exercise_id, row.misconception)]
        assert row.wrong == sum(counts.values())
        listed = [item.rsplit(" (", 1) for item in row.answers.split(", ")]
        assert {answer: int(n.rstrip(")")) for answer, n in listed} == dict(counts)
        assert [int(n.rstrip(")")) for _, n in listed] == sorted(counts.values(), reverse=True)  # most common first


def test_csv_export_holds_every_attempt(store):
    ada = store.register("ada")
    store.record_attempt(attempt(ada.id, answer="=HYPERLINK(1)", correct=False, misconception="gave, a comma"))
    store.record_attempt(attempt(ada.id, answer="-3"))
    rows = list(csv.DictReader(io.StringIO(store.export_csv())))
    assert [r["nickname"] for r in rows] == ["ada", "ada"]
    assert rows[0]["answer"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, never runs it
    assert rows[0]["misconception"] == "gave, a comma" and rows[1]["answer"] == "-3"
    assert rows[1]["correct"] == "True"


def test_lessons_and_the_pinned_lesson(store):
    items = [{"exercise": "conv-params"}, {"task": "Draw LeNet-5 on paper."}, {"exercise": "loss-initial"}]
    lesson = store.save_lesson("Week 3", items)
    assert store.pinned() is None
    store.pin_lesson(lesson)
    pinned = store.pinned()
    assert pinned.title == "Week 3" and list(pinned.items) == items
    store.save_lesson("Week 3 (v2)", items[::-1], lesson_id=lesson)
    assert store.pinned().items[0] == {"exercise": "loss-initial"}
    other = store.save_lesson("Week 4", [])
    assert [x.id for x in store.lessons()] == [lesson, other]
    assert store.delete_lesson(lesson) and store.pinned() is None
    store.pin_lesson(None)
    for bad in ([{"exercise": "Bad Id!"}], [{"task": "x" * 3000}], [{"other": 1}], "not a list"):
        with pytest.raises(ProgressError):
            store.save_lesson("bad", bad)
    with pytest.raises(ProgressError, match="no lesson"):
        store.pin_lesson(12345)


def test_attempt_values_are_checked_and_bounded(store):
    ada = store.register("ada")
    with pytest.raises(ProgressError, match="token"):
        store.record_attempt(attempt(ada.id, token="x"))
    with pytest.raises(ProgressError, match="exercise"):
        store.record_attempt(attempt(ada.id, exercise="../etc"))
    with pytest.raises(ProgressError, match="no known student"):
        store.record_attempt(attempt(99_999))
    store.record_attempt(attempt(ada.id, answer="7" * 10_000, seconds=float("nan")))
    stored = store.attempts(student_id=ada.id)[-1]
    assert len(stored.answer) == 200 and stored.seconds is None
    assert store.solved(ada.id) == {"conv-params"}


def test_unreachable_database_is_a_message():
    engine = progress_engine("postgresql+psycopg://u:secret@127.0.0.1:1/nothing")
    with pytest.raises(ProgressError, match="cannot be opened"):
        ProgressStore(engine)
