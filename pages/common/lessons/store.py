"""The lessons UI's one door to the class's progress (cnn_core.classroom.progress) and this session's student.

The store is one object per server process on the app's database ($CNN_PLAYGROUND_DB, else the SQLite file
next to the class gallery's). A student is a nickname with a resume code; until they save one, their attempts
go to a guest student made for this browser session (the teacher sees it as ``guest-…``).
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import streamlit as st

from cnn_core.classroom import default_db_url
from cnn_core.classroom.progress import (Attempt, Lesson, NewAttempt, ProgressError, ProgressStore,
                                         progress_engine)
from cnn_core.lessons import seed_for
from pages.common.live.singleton import ProcessSingleton

STUDENT = "lesson_student"  # session state: {"id", "nickname", "code"} once saved or resumed
GUEST = "lesson_guest"      # session state: the id of this session's guest student (made at its first attempt)


def _new_store() -> ProgressStore:
    """The class's progress store on the app's database."""
    return ProgressStore(progress_engine(default_db_url()))


progress_store = ProcessSingleton(_new_store)  # progress_store() -> the one store of this process


def session_id() -> str:
    """The server's id of this browser session ('local' outside a server)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else "local"


@dataclass(frozen=True)
class Student:
    """Who is answering in this session: a saved nickname, or only this session."""

    nickname: str | None
    ids: tuple[int, ...]  # the store's students whose attempts are this session's: the guest, then the nickname
    seed: int             # the seed of this student's variants

    @property
    def anonymous(self) -> bool:
        """True before a nickname is saved."""
        return self.nickname is None


def current_student() -> Student:
    """This session's student: the saved nickname's seed, or the session's own."""
    saved = st.session_state.get(STUDENT) or {}
    guest = st.session_state.get(GUEST)
    ids = tuple(i for i in (guest, saved.get("id")) if i is not None)
    if saved.get("nickname"):
        return Student(saved["nickname"], ids, seed_for(saved["nickname"].strip().lower()))
    return Student(None, ids, seed_for(session_id()))


def register(nickname: str) -> str:
    """Save a new nickname for this session; returns its resume code (ProgressError when it is taken)."""
    student = progress_store().register(nickname)
    st.session_state[STUDENT] = {"id": student.id, "nickname": student.nickname, "code": student.resume_code}
    return student.resume_code


def resume(nickname: str, code: str) -> bool:
    """Continue as `nickname` when `code` is its resume code (both must match)."""
    student = progress_store().resume(code)
    if student is None or student.nickname.strip().lower() != nickname.strip().lower():
        return False
    st.session_state[STUDENT] = {"id": student.id, "nickname": student.nickname, "code": student.resume_code}
    return True


def sign_out() -> None:
    """Forget the nickname in this session (its attempts stay, to resume later)."""
    st.session_state.pop(STUDENT, None)


def _owner() -> int:
    saved = st.session_state.get(STUDENT) or {}
    if saved.get("id") is not None:
        return int(saved["id"])
    if st.session_state.get(GUEST) is None:
        tag = hashlib.sha256(session_id().encode("utf-8")).hexdigest()[:8]
        st.session_state[GUEST] = progress_store().register(f"guest-{tag}").id
    return int(st.session_state[GUEST])


# Attempts of one session kept per exercise: the dashboard needs the first tries, and a script pressing Check
# for an hour (the throttle still lets ~1.5 a second through) must not fill the class database.
MAX_SAVED_PER_EXERCISE = 50
_SAVED = "_lesson_saved_counts"


def save_attempt(exercise: str, seed: int, answer: str, correct: bool, misconception: str | None,
                 seconds: float) -> None:
    """Keep one checked answer of this session's student (a fresh token: stored once), at most
    MAX_SAVED_PER_EXERCISE per exercise and session (later checks are still answered, not stored)."""
    counts = st.session_state.setdefault(_SAVED, {})
    if counts.get(exercise, 0) >= MAX_SAVED_PER_EXERCISE:
        return
    counts[exercise] = counts.get(exercise, 0) + 1
    progress_store().record_attempt(NewAttempt(
        student_id=_owner(), exercise_id=exercise, seed=int(seed), answer=answer, correct=bool(correct),
        misconception=misconception, seconds=float(seconds), token=uuid.uuid4().hex))


def my_attempts() -> list[Attempt]:
    """This session's own attempts, oldest first (a student never sees another's); none when the store fails."""
    try:
        found = [a for i in current_student().ids for a in progress_store().attempts(student_id=i)]
    except ProgressError:
        return []
    return sorted(found, key=lambda a: (a.created, a.id))


def status_by_exercise(attempts: list[Attempt]) -> dict[str, str]:
    """'done' (right once) or 'tried' per exercise id."""
    status: dict[str, str] = {}
    for a in attempts:
        if a.correct:
            status[a.exercise_id] = "done"
        else:
            status.setdefault(a.exercise_id, "tried")
    return status


def pinned_lesson() -> Lesson | None:
    """The lesson the teacher pinned for the class, or None (also when the store cannot be read)."""
    try:
        return progress_store().pinned()
    except ProgressError:
        return None


def lesson_exercises(lesson: Lesson | None) -> list[str]:
    """The exercise ids of a lesson, in its order (its free-text tasks left out)."""
    return [item["exercise"] for item in (lesson.items if lesson else ()) if "exercise" in item]
