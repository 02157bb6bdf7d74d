"""The teacher's dashboard (behind CNN_PLAYGROUND_TEACHER_TOKEN): the class's aggregates, live during class;
compose and pin a lesson, reset it, export every attempt as CSV. Students' answers appear only here."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnn_core.classroom import escape_markdown
from cnn_core.classroom.progress import ProgressError
from cnn_core.lessons import EXERCISES, exercise
from pages.common.classroom.teacher import IS_TEACHER, teacher_login
from pages.common.lessons.store import lesson_exercises, pinned_lesson, progress_store

REFRESH_S = 5
TITLES = {e.id: e.title for e in EXERCISES}
LECTURE_ORDER = {e.id: i for i, e in enumerate(EXERCISES)}


def class_summary(attempts: pd.DataFrame) -> pd.DataFrame:
    """Per exercise (lecture order): the store's numbers and its wrong answers grouped by misconception."""
    store = progress_store()
    table = store.dashboard(attempts)
    wrong = store.wrong_answers(attempts, top=3)
    grouped = {exercise_id: "; ".join(f"{m} ({n}): {a}" for m, n, a in zip(rows["misconception"], rows["wrong"],
                                                                           rows["answers"]))
               for exercise_id, rows in wrong.groupby("exercise_id")}
    table.insert(0, "title", table["exercise_id"].map(lambda i: TITLES.get(i, i)))
    table["wrong_answers"] = table["exercise_id"].map(lambda i: grouped.get(i, ""))
    return table.sort_values("exercise_id", key=lambda s: s.map(lambda i: LECTURE_ORDER.get(i, len(TITLES))))


def class_table() -> None:
    """Attempts, students, share right at the first try, median time and wrong answers, per exercise."""
    try:  # a fragment reruns alone: it catches its own errors
        attempts = progress_store().attempts_frame()
    except ProgressError as exc:
        st.error(f"The class's progress cannot be read: {exc}")
        return
    a, b, c = st.columns(3)
    a.metric("Students", attempts["student_id"].nunique())
    b.metric("Attempts", len(attempts))
    c.metric("Exercises tried", attempts["exercise_id"].nunique())
    if attempts.empty:
        st.info("No attempts yet: they appear here within seconds of a student's **Check**.")
        return
    st.dataframe(class_summary(attempts), hide_index=True, width="stretch",
                 column_order=["title", "attempts", "students", "first_try_right", "median_seconds", "wrong_answers"],
                 column_config={
                     "title": st.column_config.TextColumn("Exercise", width="medium"),
                     "attempts": st.column_config.NumberColumn("Tries", width=60),
                     "students": st.column_config.NumberColumn("Students", width=70),
                     "first_try_right": st.column_config.ProgressColumn(
                         "✓ 1st try", min_value=0.0, max_value=1.0, format="percent", width=110),
                     "median_seconds": st.column_config.NumberColumn(
                         "Median s", format="%.0f", width=80, help="Median seconds from seeing it to each answer"),
                     "wrong_answers": st.column_config.TextColumn("Wrong answers by misconception", width="large")})


def _compose() -> None:
    store = progress_store()
    pinned = pinned_lesson()
    st.markdown("**Compose a lesson** (the exercises in the order you pick them) and pin it for the class")
    with st.form("teacher_lesson_form", border=False):
        title = st.text_input("Lesson name", max_chars=80, key="teacher_lesson_name",
                              value=pinned.title if pinned else "")
        chosen = st.multiselect("Exercises", [e.id for e in EXERCISES], key="teacher_lesson_exercises",
                                default=lesson_exercises(pinned) or None,
                                format_func=lambda i: f"{exercise(i).section} · {exercise(i).title}")
        if st.form_submit_button("📌 Pin for the class", type="primary"):
            if not chosen or not title.strip():
                st.error("Give the lesson a name and pick at least one exercise.")
            else:
                lesson_id = store.save_lesson(title.strip(), [{"exercise": i} for i in chosen],
                                              pinned.id if pinned else None)
                store.pin_lesson(lesson_id)
                st.success(f"Pinned: every student sees **{escape_markdown(title.strip())}** at the top of Lessons.")
    if pinned is None:
        return
    st.caption(f"Pinned now: **{escape_markdown(pinned.title)}** ({len(lesson_exercises(pinned))} exercises).")
    left, right = st.columns(2)
    if left.button("Unpin (keep it for later)", key="teacher_lesson_unpin"):
        store.pin_lesson(None)
        st.rerun()
    if right.button("Reset: delete this lesson", key="teacher_lesson_reset"):
        store.delete_lesson(pinned.id)
        st.rerun()


def _export() -> None:
    st.download_button("⬇️ Every attempt (CSV)", progress_store().export_csv().encode("utf-8"),
                       file_name="lesson_attempts.csv", mime="text/csv", key="teacher_lesson_csv")


def teacher_dashboard() -> None:
    """The dashboard for a session that gave the teacher token (nothing, not even a heading, for others)."""
    if not teacher_login():
        return
    st.header("🧑‍🏫 Class dashboard")
    live = st.toggle(f"Refresh every {REFRESH_S} s", value=True, key="teacher_lesson_live")
    try:
        st.fragment(class_table, run_every=REFRESH_S if live else None)()
        with st.expander("Compose, pin, reset, export", expanded=False):
            _compose()
            st.divider()
            _export()
    except ProgressError as exc:
        st.error(f"The class's progress cannot be read: {exc}")
    if st.button("Lock teacher controls", key="teacher_lesson_logout"):
        st.session_state.pop(IS_TEACHER, None)
        st.rerun()
    st.divider()
