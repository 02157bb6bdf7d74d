"""Lesson progress on a real database (SQLAlchemy 2.x): students, attempts, teacher lessons, the pinned lesson.

No accounts: a student picks a nickname and gets a random resume code to come back with. Every attempt
carries a client token (idempotency key, unique in the table), so a double click, a rerun or a retry
stores it once, however many threads submit at the same moment. The store takes an Engine, so it shares
whatever database the app uses (SQLite by default, PostgreSQL via URL)::

    store = ProgressStore(progress_engine("sqlite:///progress.sqlite3"))
    ada = store.register("ada")                       # Student(id, nickname, resume_code)
    store.record_attempt(NewAttempt(ada.id, "conv-params", seed=7, answer="456", correct=True,
                                    misconception=None, seconds=12.5, token=uuid4().hex))
    store.dashboard()                                  # one row per exercise: attempts, first-try share, ...
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import (Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, create_engine, delete,
                        event, select)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from cnn_core.errors import PlaygroundError

MAX_NICKNAME = 32
MAX_ANSWER = 200        # characters kept of an answer (the checker reads no more)
MAX_MISCONCEPTION = 120
MAX_TITLE = 120
MAX_TASK = 2_000        # characters of a teacher's own task
MAX_LESSON_ITEMS = 100
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L: read aloud and typed without mistakes
CODE_LENGTH = 8
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

T = TypeVar("T")


class ProgressError(PlaygroundError):
    """A value the store refuses (a bad nickname, an unknown code) or a database it cannot reach."""


class _Base(DeclarativeBase):
    pass


class _StudentRow(_Base):
    __tablename__ = "lesson_students"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nickname: Mapped[str] = mapped_column(String(MAX_NICKNAME), unique=True)
    resume_code: Mapped[str] = mapped_column(String(16), unique=True)
    created: Mapped[float] = mapped_column(Float)


class _AttemptRow(_Base):
    __tablename__ = "lesson_attempts"
    __table_args__ = (UniqueConstraint("token", name="uq_lesson_attempts_token"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64))  # the client's idempotency key
    student_id: Mapped[int] = mapped_column(ForeignKey("lesson_students.id", ondelete="CASCADE"), index=True)
    exercise_id: Mapped[str] = mapped_column(String(64), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str] = mapped_column(String(MAX_ANSWER + 1))
    correct: Mapped[bool] = mapped_column(Boolean)
    misconception: Mapped[str | None] = mapped_column(String(MAX_MISCONCEPTION), nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)  # time taken on the exercise
    created: Mapped[float] = mapped_column(Float)  # unix time of the submission


class _LessonRow(_Base):
    __tablename__ = "lesson_lessons"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    items_json: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float)


class _PinRow(_Base):
    __tablename__ = "lesson_pin"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1: one pinned lesson per class
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lesson_lessons.id", ondelete="SET NULL"),
                                                  nullable=True)


@dataclass(frozen=True)
class Student:
    """A student: nickname and the code that resumes their progress on another device or day."""

    id: int
    nickname: str
    resume_code: str


@dataclass(frozen=True)
class NewAttempt:
    """One checked answer, as the UI submits it (token: a random id made once per submission)."""

    student_id: int
    exercise_id: str
    seed: int
    answer: str
    correct: bool
    misconception: str | None
    seconds: float | None
    token: str


@dataclass(frozen=True)
class Attempt:
    """A stored attempt."""

    id: int
    student_id: int
    exercise_id: str
    seed: int
    answer: str
    correct: bool
    misconception: str | None
    seconds: float | None
    created: float


@dataclass(frozen=True)
class Lesson:
    """A teacher's lesson: a title and ordered items, each {'exercise': id} or {'task': markdown}."""

    id: int
    title: str
    items: tuple[dict[str, str], ...]


def progress_engine(url: str) -> Engine:
    """An Engine for the store: SQLite in WAL mode with a 30 s busy timeout (writers queue), or any other URL."""
    try:
        if not url.startswith("sqlite"):
            return create_engine(url, pool_size=8, max_overflow=32, pool_timeout=60, pool_pre_ping=True)
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=8, max_overflow=32, pool_timeout=60)
    except Exception as exc:  # a malformed URL or a missing driver: a message, not a traceback
        raise ProgressError(f"The progress database URL cannot be used ({type(exc).__name__}).") from exc

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: no corruption on a crash, far fewer fsyncs
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _clean(value: object, limit: int, what: str, allow_empty: bool = False) -> str:
    text = _CONTROL_RE.sub("", str(value if value is not None else "")).strip()
    if not text and not allow_empty:
        raise ProgressError(f"The {what} is empty.")
    if len(text) > limit:
        raise ProgressError(f"The {what} is longer than {limit} characters.")
    return text


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _attempt(row: _AttemptRow) -> Attempt:
    return Attempt(row.id, row.student_id, row.exercise_id, row.seed, row.answer, row.correct, row.misconception,
                   row.seconds, row.created)


def _clean_items(items: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise ProgressError("A lesson is a list of items.")
    if len(items) > MAX_LESSON_ITEMS:
        raise ProgressError(f"A lesson holds at most {MAX_LESSON_ITEMS} items.")
    cleaned = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"exercise"} and _ID_RE.match(str(item["exercise"])):
            cleaned.append({"exercise": str(item["exercise"])})
        elif isinstance(item, dict) and set(item) == {"task"}:
            cleaned.append({"task": _clean(item["task"], MAX_TASK, "task")})
        else:
            raise ProgressError("Each lesson item is {'exercise': id} or {'task': text}.")
    return cleaned


class ProgressStore:
    """Students, attempts, lessons and the pinned lesson on one database (thread-safe: short transactions)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        try:
            _Base.metadata.create_all(engine)
        except Exception as exc:  # an unreachable server or a wrong URL: a message, not a traceback
            raise ProgressError(f"The progress database cannot be opened ({type(exc).__name__}).") from exc
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def _run(self, work: Callable[[Session], T]) -> T:
        """work(session) in one transaction; a rare SQLite lock timeout is retried a few times."""
        for attempt in range(5):
            try:
                with self._sessions.begin() as session:
                    return work(session)
            except OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == 4:
                    raise ProgressError("The progress database is busy or unreachable; try again.") from exc
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------------------------- students

    def register(self, nickname: str) -> Student:
        """A new student with a fresh resume code; ProgressError if the nickname is taken or unusable."""
        name = _clean(nickname, MAX_NICKNAME, "nickname")
        for _ in range(5):  # a resume-code collision (30^8 codes) is retried with a new code
            code = _new_code()
            try:
                row = self._run(lambda s: self._add(s, _StudentRow(nickname=name, resume_code=code,
                                                                   created=time.time())))
                return Student(row.id, row.nickname, row.resume_code)
            except IntegrityError:
                if self._run(lambda s: s.scalar(select(_StudentRow.id).where(_StudentRow.nickname == name))):
                    raise ProgressError(f"The nickname '{name}' is taken: pick another, or resume with "
                                        "your code.") from None
        raise ProgressError("Could not make a resume code; try again.")

    @staticmethod
    def _add(session: Session, row: Any) -> Any:
        session.add(row)
        session.flush()
        return row

    def resume(self, code: str) -> Student | None:
        """The student with this resume code (case and spaces ignored), or None."""
        cleaned = re.sub(r"[\s-]", "", str(code or "")).upper()[:16]
        row = self._run(lambda s: s.scalar(select(_StudentRow).where(_StudentRow.resume_code == cleaned)))
        return Student(row.id, row.nickname, row.resume_code) if row else None

    def students(self) -> list[Student]:
        """Every student, by nickname."""
        rows = self._run(lambda s: s.scalars(select(_StudentRow).order_by(_StudentRow.nickname)).all())
        return [Student(r.id, r.nickname, r.resume_code) for r in rows]

    # ------------------------------------------------------------------------------------------- attempts

    def record_attempt(self, attempt: NewAttempt) -> int:
        """Store an attempt once per token and return its id (the same id for a repeated token)."""
        if not _TOKEN_RE.match(str(attempt.token)):
            raise ProgressError("An attempt needs a token of 8-64 letters, digits, '-' or '_'.")
        if not _ID_RE.match(str(attempt.exercise_id)):
            raise ProgressError("Unknown exercise id.")
        answer = _CONTROL_RE.sub(" ", str(attempt.answer if attempt.answer is not None else ""))
        answer = answer if len(answer) <= MAX_ANSWER else answer[:MAX_ANSWER - 1] + "…"
        seconds = attempt.seconds
        seconds = float(seconds) if isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0 \
            else None
        misconception = (_clean(attempt.misconception, MAX_MISCONCEPTION, "misconception", allow_empty=True)
                         or None) if attempt.misconception is not None else None
        row = _AttemptRow(token=attempt.token, student_id=int(attempt.student_id),
                          exercise_id=attempt.exercise_id, seed=int(attempt.seed) & 0x7FFF_FFFF, answer=answer,
                          correct=bool(attempt.correct), misconception=misconception, seconds=seconds,
                          created=time.time())

        def existing(session: Session) -> int | None:
            return session.scalar(select(_AttemptRow.id).where(_AttemptRow.token == attempt.token))

        try:  # insert first: a repeated token is the rare case, and the unique constraint decides it
            return self._run(lambda s: self._add(s, row).id)
        except IntegrityError as exc:  # the same token committed by another thread a moment ago
            found = self._run(existing)
            if found is None:
                raise ProgressError("That attempt belongs to no known student.") from exc
            return found

    def attempts(self, student_id: int | None = None, exercise_id: str | None = None) -> list[Attempt]:
        """Stored attempts, oldest first, optionally of one student and/or one exercise."""
        query = select(_AttemptRow).order_by(_AttemptRow.created, _AttemptRow.id)
        if student_id is not None:
            query = query.where(_AttemptRow.student_id == student_id)
        if exercise_id is not None:
            query = query.where(_AttemptRow.exercise_id == exercise_id)
        return [_attempt(r) for r in self._run(lambda s: s.scalars(query).all())]

    def solved(self, student_id: int) -> set[str]:
        """The exercise ids this student has answered correctly at least once."""
        query = select(_AttemptRow.exercise_id).where(_AttemptRow.student_id == student_id,
                                                      _AttemptRow.correct.is_(True)).distinct()
        return set(self._run(lambda s: s.scalars(query).all()))

    # -------------------------------------------------------------------------------------------- lessons

    def save_lesson(self, title: str, items: Sequence[dict[str, Any]], lesson_id: int | None = None) -> int:
        """Create (or, with lesson_id, replace) a lesson; returns its id."""
        clean_title = _clean(title, MAX_TITLE, "lesson title")
        payload = json.dumps(_clean_items(items))

        def work(session: Session) -> int:
            if lesson_id is None:
                return self._add(session, _LessonRow(title=clean_title, items_json=payload, created=time.time())).id
            row = session.get(_LessonRow, lesson_id)
            if row is None:
                raise ProgressError(f"There is no lesson {lesson_id}.")
            row.title, row.items_json = clean_title, payload
            return row.id
        return self._run(work)

    def lessons(self) -> list[Lesson]:
        """Every lesson, oldest first."""
        rows = self._run(lambda s: s.scalars(select(_LessonRow).order_by(_LessonRow.id)).all())
        return [Lesson(r.id, r.title, tuple(json.loads(r.items_json))) for r in rows]

    def delete_lesson(self, lesson_id: int) -> bool:
        """Delete a lesson (unpinning it); True if it existed."""
        def work(session: Session) -> bool:
            pin = session.get(_PinRow, 1)
            if pin is not None and pin.lesson_id == lesson_id:
                pin.lesson_id = None
            return session.execute(delete(_LessonRow).where(_LessonRow.id == lesson_id)).rowcount > 0
        return self._run(work)

    def pin_lesson(self, lesson_id: int | None) -> None:
        """Pin a lesson for the whole class (None unpins)."""
        def work(session: Session) -> None:
            if lesson_id is not None and session.get(_LessonRow, lesson_id) is None:
                raise ProgressError(f"There is no lesson {lesson_id}.")
            pin = session.get(_PinRow, 1)
            if pin is None:
                session.add(_PinRow(id=1, lesson_id=lesson_id))
            else:
                pin.lesson_id = lesson_id
        self._run(work)

    def pinned(self) -> Lesson | None:
        """The pinned lesson, or None."""
        pin = self._run(lambda s: s.get(_PinRow, 1))
        if pin is None or pin.lesson_id is None:
            return None
        return next((lesson for lesson in self.lessons() if lesson.id == pin.lesson_id), None)

    # ------------------------------------------------------------------------------------------ dashboard

    def attempts_frame(self) -> pd.DataFrame:
        """Every attempt as a frame: id, nickname, student_id, exercise_id, seed, answer, correct, misconception,
        seconds, created (oldest first)."""
        query = (select(_AttemptRow.id, _StudentRow.nickname, _AttemptRow.student_id, _AttemptRow.exercise_id,
                        _AttemptRow.seed, _AttemptRow.answer, _AttemptRow.correct, _AttemptRow.misconception,
                        _AttemptRow.seconds, _AttemptRow.created)
                 .join(_StudentRow, _StudentRow.id == _AttemptRow.student_id)
                 .order_by(_AttemptRow.created, _AttemptRow.id))
        rows = self._run(lambda s: s.execute(query).all())
        return pd.DataFrame(rows, columns=ATTEMPT_COLUMNS)

    def dashboard(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per exercise: attempts, students, first_try_right (share of students right at their first
        attempt), median_seconds (of all attempts with a time)."""
        return dashboard_table(self.attempts_frame() if frame is None else frame)

    def wrong_answers(self, frame: pd.DataFrame | None = None, top: int = 5) -> pd.DataFrame:
        """Per exercise and misconception: the wrong attempts and their most common answers."""
        return wrong_answer_table(self.attempts_frame() if frame is None else frame, top)

    def export_csv(self) -> str:
        """Every attempt as CSV text (one row per attempt, with the student's nickname)."""
        return attempts_csv(self.attempts_frame())


ATTEMPT_COLUMNS = ["id", "nickname", "student_id", "exercise_id", "seed", "answer", "correct", "misconception",
                   "seconds", "created"]


def dashboard_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The dashboard's per-exercise numbers from an attempts frame (see ProgressStore.attempts_frame)."""
    columns = ["exercise_id", "attempts", "students", "first_try_right", "median_seconds"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    ordered = frame.sort_values(["created", "id"])
    first = ordered.drop_duplicates(["student_id", "exercise_id"], keep="first")  # each student's first try
    grouped = ordered.groupby("exercise_id", sort=True)
    table = pd.DataFrame({
        "attempts": grouped.size(),
        "students": grouped["student_id"].nunique(),
        "first_try_right": first.groupby("exercise_id")["correct"].mean().astype(float),
        "median_seconds": grouped["seconds"].median(),
    })
    return table.reset_index()[columns]


def wrong_answer_table(frame: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """exercise_id, misconception ('(unrecognized)' when none matched), wrong (count) and answers
    ('answer (count), ...' most common first, at most `top`)."""
    columns = ["exercise_id", "misconception", "wrong", "answers"]
    wrong = frame[~frame["correct"].astype(bool)] if not frame.empty else frame
    if wrong.empty:
        return pd.DataFrame(columns=columns)
    wrong = wrong.assign(misconception=wrong["misconception"].fillna("(unrecognized)"),
                         answer=wrong["answer"].astype(str))
    keys = ["exercise_id", "misconception"]
    counts = wrong.groupby([*keys, "answer"]).size().rename("n").reset_index()
    # most common first; ties in alphabetical order, so the table is the same on every backend
    counts = counts.sort_values([*keys, "n", "answer"], ascending=[True, True, False, True])
    shown = counts[counts.groupby(keys).cumcount() < top]
    answers = (shown["answer"] + " (" + shown["n"].astype(str) + ")").groupby([shown[k] for k in keys]).agg(", ".join)
    table = pd.DataFrame({"wrong": counts.groupby(keys)["n"].sum(), "answers": answers}).reset_index()
    return table.sort_values(["exercise_id", "wrong"], ascending=[True, False]).reset_index(drop=True)[columns]


def _formula_like(value: object) -> bool:
    """Text a spreadsheet would evaluate (=, +, @, or '-' not followed by a plain number)."""
    if not isinstance(value, str) or not value:
        return False
    return value[0] in "=+@\t\r" or (value[0] == "-" and not re.fullmatch(r"-[\d.,eE ]+", value))


def attempts_csv(frame: pd.DataFrame) -> str:
    """CSV text of an attempts frame; text cells that a spreadsheet would run as a formula are quoted with '."""
    safe = frame.copy()
    for column in ("nickname", "answer", "misconception"):
        if column in safe:
            safe[column] = safe[column].map(lambda v: "'" + v if _formula_like(v) else v)
    buffer = io.StringIO()
    safe.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return buffer.getvalue()
