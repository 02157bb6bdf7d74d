"""The nickname + resume-code box: no accounts; a code to continue on another device."""
from __future__ import annotations

import math
import re

import streamlit as st

from cnn_core.classroom import escape_markdown
from cnn_core.classroom.guesses import GuessGuard
from cnn_core.classroom.progress import ProgressError
from pages.common.lessons.store import STUDENT, current_student, register, resume, session_id, sign_out

NICKNAME_RE = re.compile(r"^[\w .\-]{2,30}$")
CODE_GUESSES = GuessGuard()  # one per process: wrong resume codes make the next try wait longer


def _save(nickname: str, code: str) -> None:
    nickname = nickname.strip()
    if not NICKNAME_RE.match(nickname) or nickname.lower().startswith("guest-"):
        st.error("A nickname has 2 to 30 letters, digits, spaces, dots, dashes or underscores (and does not "
                 "start with 'guest-').")
        return
    try:
        if not code.strip():
            register(nickname)
            st.rerun()
        wait = CODE_GUESSES.wait_s(session_id())
        if wait > 0:
            st.error(f"Too many wrong codes: try again in {math.ceil(wait)} s.")
            return
        if resume(nickname, code):
            CODE_GUESSES.succeeded(session_id())
            st.rerun()
    except ProgressError as exc:
        st.error(str(exc))
        return
    CODE_GUESSES.failed(session_id())
    st.error("That nickname and resume code do not match.")


def student_box() -> None:
    """Who is answering: a saved nickname with its resume code, or the form to save / continue."""
    student = current_student()
    with st.container(border=True):
        if not student.anonymous:
            saved = st.session_state.get(STUDENT) or {}
            left, right = st.columns([4, 1], vertical_alignment="center")
            left.markdown(f"👤 **{escape_markdown(student.nickname or '')}** · resume code "
                          f"`{saved.get('code', '')}`")
            left.caption("On another device, type this nickname and code on the Lessons page and press "
                         "**Save / continue**.")
            if right.button("Sign out", key="lesson_sign_out"):
                sign_out()
                st.rerun()
            return
        st.markdown("**Keep your progress**: no account, a nickname and a resume code. Until then your answers "
                    "belong to this browser tab only.")
        a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
        nickname = a.text_input("Nickname", key="lesson_nickname", max_chars=30, placeholder="e.g. ada")
        code = b.text_input("Resume code (to continue from another device)", key="lesson_code", max_chars=16,
                            placeholder="e.g. K7QM2XPA")
        if c.button("Save / continue", key="lesson_save", type="primary"):
            _save(nickname, code)
