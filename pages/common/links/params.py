"""The address a page was opened with, through Streamlit's query-parameter state (what bound widgets seed from).

Streamlit's public ``st.query_params`` shows the address *now*; a bound widget seeds from the address the page
was *opened* with, kept in an internal of the session state. Lesson links read and clean that one (with the
public API as the fallback on a Streamlit without it).
"""
from __future__ import annotations

import streamlit as st


def initial(key: str) -> str | list[str] | None:
    """The value the address had for `key` when the page was opened (what the widget would seed from)."""
    from streamlit.runtime.state import get_session_state

    try:
        with get_session_state().query_params() as qp:
            return qp.get_initial_value(key)
    except Exception:  # a Streamlit without this internal: fall back to the public view
        values = st.query_params.get_all(key)
        return None if not values else values[0] if len(values) == 1 else values


def initial_keys() -> list[str]:
    """Every parameter name of the address the page was opened with."""
    from streamlit.runtime.state import get_session_state

    try:
        with get_session_state().query_params() as qp:
            return list(qp._initial_query_params)
    except Exception:
        return list(st.query_params.keys())


def drop(key: str) -> None:
    """Forget a rejected link value: neither the widget nor the address keeps it."""
    from streamlit.runtime.state import get_session_state

    try:
        with get_session_state().query_params() as qp:
            qp._initial_query_params.pop(key, None)  # what bound widgets seed from on first load
            qp.remove_param(key)  # the address bar (also for a bound key)
    except Exception:  # the public API still removes an unbound parameter
        st.query_params.pop(key, None)


def forget_seed(key: str) -> None:
    """Take `key` out of what bound widgets seed from, leaving the address as it is."""
    from streamlit.runtime.state import get_session_state

    try:
        with get_session_state().query_params() as qp:
            qp._initial_query_params.pop(key, None)
    except Exception:  # a Streamlit without this internal: the widget seeds itself (one render late)
        pass
