"""Teacher controls behind a token: pin a lesson link + message on the home page, hide / delete entries,
remove every entry of one nickname, reset an exercise. With no CNN_PLAYGROUND_TEACHER_TOKEN set there are no
teacher controls at all. Wrong tokens make the next guess wait longer (per session and per server), and each
one is logged."""
from __future__ import annotations

import hmac
import logging
import math
import os
from urllib.parse import parse_qsl

import streamlit as st

from cnn_core.classroom import GalleryError, GalleryStore, escape_markdown
from cnn_core.classroom.guesses import GuessGuard
from pages.common.topics import available_topics

TOKEN_ENV = "CNN_PLAYGROUND_TEACHER_TOKEN"
IS_TEACHER = "teacher_ok"  # session-state: this session gave the right token
TOKEN_GUESSES = GuessGuard()  # one per process: the counts must outlive a session's state (a client may clear it)
_LOG = logging.getLogger("cnn_playground.teacher")


def _session() -> str:
    """The server's id of this browser session ('local' outside a server)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else "local"


def check_token(given: str) -> tuple[bool, str]:
    """(right token?, message for a refusal): a guess is checked only once its wait is over, and logged if wrong."""
    session = _session()
    wait = TOKEN_GUESSES.wait_s(session)
    if wait > 0:
        return False, f"Too many wrong tokens: try again in {math.ceil(wait)} s."
    if token_matches(given):
        TOKEN_GUESSES.succeeded(session)
        return True, ""
    mine, server = TOKEN_GUESSES.failed(session)
    _LOG.warning("Wrong teacher token from session %s (%d wrong in this session, %d on the server in the last "
                 "%.0f min).", session[:8], mine, server, TOKEN_GUESSES.window_s / 60)
    return False, "Wrong token."


def teacher_token() -> str | None:
    """The configured token, or None (no teacher controls)."""
    token = os.environ.get(TOKEN_ENV, "")
    return token if token.strip() else None


def token_matches(given: str, expected: str | None = None) -> bool:
    """Constant-time comparison with the configured token; False when none is configured."""
    expected = teacher_token() if expected is None else expected
    if not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def teacher_login() -> bool:
    """The sidebar's token box; True once this session has given the right token."""
    if teacher_token() is None:
        st.session_state.pop(IS_TEACHER, None)
        return False
    if st.session_state.get(IS_TEACHER):
        return True
    with st.sidebar.expander("🧑‍🏫 Teacher"):
        with st.form("teacher_login", border=False):
            given = st.text_input("Teacher token", type="password", max_chars=256)
            sent = st.form_submit_button("Unlock")
        if sent:
            ok, message = check_token(given)
            if ok:
                st.session_state[IS_TEACHER] = True
                st.rerun()
            st.error(message)
    return False


def page_link_to(page: str, query: str, label: str) -> None:
    """A link to a page of the playground with a lesson link's query string."""
    params = dict(parse_qsl(query, keep_blank_values=False)[:64])
    try:
        st.page_link(f"pages/{page}", label=label, icon="🔗", query_params=params or None)
    except Exception:  # the page is not in this app's navigation (a page run on its own): plain text
        st.caption(f"{label}: pages/{page}?{query}")


def show_pinned_note(store: GalleryStore | None) -> None:
    """The teacher's pinned message and lesson link, for the top of the home page (nothing when none)."""
    if store is None:
        return
    try:
        pin = store.pin()
    except GalleryError:
        return
    if pin is None:
        return
    with st.container(border=True):
        st.markdown(f"📌 **From your teacher:** {escape_markdown(pin.message)}")
        page_link_to(pin.page, pin.query, "Open the exercise")


def _pin_form(store: GalleryStore) -> None:
    files = [t.file for t in available_topics()]
    with st.form("teacher_pin"):
        st.markdown("**Pin a lesson link on the home page**")
        message = st.text_area("Message", max_chars=500, height=80)
        page = st.selectbox("Page", files)
        query = st.text_input("Link settings (the part after ? of a Copy-link address)", max_chars=2000,
                              placeholder="lr=0.01&lock=lr")
        if st.form_submit_button("Pin"):
            try:
                store.set_pin(message, page, query.split("?", 1)[-1])
                st.success("Pinned: every session sees it on the home page.")
            except GalleryError as exc:
                st.error(str(exc))
    if store.pin() is not None and st.button("Remove the pin", key="teacher_unpin"):
        store.clear_pin()
        st.success("The pin is removed.")


def _entry_actions(store: GalleryStore) -> None:
    st.markdown("**An entry**")
    left, right = st.columns([1, 2])
    entry_id = int(left.number_input("Entry id", min_value=1, max_value=2**31 - 1, step=1, key="teacher_entry"))
    hide, show, remove = right.columns(3)
    if hide.button("Hide", key="teacher_hide"):
        st.toast("Hidden." if store.set_hidden(entry_id, True) else f"No entry #{entry_id}.")
    if show.button("Show", key="teacher_show"):
        st.toast("Shown again." if store.set_hidden(entry_id, False) else f"No entry #{entry_id}.")
    if remove.button("Delete", key="teacher_delete"):
        st.toast("Deleted." if store.delete(entry_id) else f"No entry #{entry_id}.")


def _remove_nickname(store: GalleryStore, exercises: list[str]) -> None:
    st.markdown("**Remove a student's entries** (every entry of one nickname)")
    names = store.nicknames()
    if not names:
        st.caption("No entries yet.")
        return
    left, right = st.columns([2, 1])
    name = left.selectbox("Nickname", names, key="teacher_nickname")
    scope = right.selectbox("In", ["every exercise"] + exercises, key="teacher_nickname_scope")
    if st.button("Remove", key="teacher_remove_nickname"):
        removed = store.delete_nickname(name, None if scope == "every exercise" else scope)
        st.toast(f"Removed {removed} {'entry' if removed == 1 else 'entries'} of {name}.")


def _reset_exercise(store: GalleryStore, exercises: list[str]) -> None:
    st.markdown("**Reset an exercise** (deletes all of its entries)")
    if not exercises:
        st.caption("No entries yet.")
        return
    exercise = st.selectbox("Exercise", exercises, key="teacher_reset_exercise")
    sure = st.checkbox(f"Yes, delete every entry of {exercise}", key="teacher_reset_sure")
    if st.button("Reset", key="teacher_reset", disabled=not sure):
        st.success(f"Deleted {store.reset_exercise(exercise)} entries of {exercise}.")


def teacher_panel(store: GalleryStore, exercises: list[str]) -> None:
    """The teacher's controls (call only after teacher_login() returned True)."""
    with st.expander("🧑‍🏫 Teacher controls", expanded=True):
        try:
            _pin_form(store)
            st.divider()
            _entry_actions(store)
            st.divider()
            _remove_nickname(store, exercises)
            st.divider()
            _reset_exercise(store, exercises)
        except GalleryError as exc:
            st.error(str(exc))
        if st.button("Lock teacher controls", key="teacher_logout"):
            st.session_state.pop(IS_TEACHER, None)
            st.rerun()


def show_pin_on_home() -> None:
    """The pinned note at the top of the home page; silent when the gallery cannot be opened."""
    from pages.common.classroom.publish import gallery_store

    try:
        store = gallery_store()
    except GalleryError:
        return
    show_pinned_note(store)
