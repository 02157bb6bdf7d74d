"""Lessons: the lecture's exercises section by section, the student's progress, and the teacher's dashboard.

Each exercise opens on its topic page (the "🎯 Exercise" panel there); predict, run, check.
"""
import streamlit as st

from pages.common.lessons.store import my_attempts, status_by_exercise
from pages.common.links.router import ensure_router
from pages.lessons.dashboard import teacher_dashboard
from pages.lessons.overview import lecture_overview, pinned_lesson
from pages.lessons.student import student_box


def main() -> None:
    """The teacher's dashboard (with the token), the student's progress, the lecture's exercises."""
    st.set_page_config(page_title="Lessons", page_icon="📝", layout="wide")
    ensure_router()  # a deep link on a fresh server: run through playground.py's navigation

    st.title("📝 Lessons: predict, run, check")
    st.caption("Every section of the lecture has exercises on its topic page: work a number out, commit a prediction "
               "and run it, reach a target, or find the bug. **open** takes you there with the exercise's setup.")
    teacher_dashboard()  # first for a teacher who gave the token; nothing at all for everybody else
    student_box()
    status = status_by_exercise(my_attempts())
    pinned_lesson(status)
    lecture_overview(status)


main()
