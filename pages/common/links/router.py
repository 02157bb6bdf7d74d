"""Deep links go through playground.py's router (``st.navigation``), not Streamlit's pages-directory mode.

Why: Streamlit decides once per server process, before any script has run, whether an app is a "pages
directory" app: a folder ``pages/`` next to the main script makes it one (``PagesManager.uses_pages_directory``)
until a script calls ``st.navigation``. So when the first visitor of a fresh server opens a page's own address
(``/Segmentation``, a lesson link), Streamlit runs that page file directly in the old mode: playground.py never
runs, and the sidebar shows the raw file list ("playground", "Basic Layers", ...) instead of the sectioned
navigation; it stays so for every deep link until someone opens ``/``. The layout ``pages/`` is fixed, so a page
calls :func:`ensure_router` first (``links.start_page`` does): in a run of that mode it switches the process to
``st.navigation`` and reruns, which runs playground.py and then the same page (same URL path, same query).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

_RERUN_KEY = "_router_rerun_done"  # session state: at most one such rerun per session (never a loop)


def _pages_directory_run() -> bool:
    """True when this run is Streamlit's pages-directory mode running a page file instead of playground.py."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return False
    try:
        manager = ctx.pages_manager
        main = Path(manager.main_script_path).resolve()
        pages = manager.get_pages()
        current = pages.get(ctx.page_script_hash, {})
        running_a_page_file = bool(current.get("script_path")) and Path(current["script_path"]).resolve() != main
        # the old mode registers the main script itself as a page; playground.py's home page is a function
        main_is_a_page = any(info.get("script_path") and Path(info["script_path"]).resolve() == main
                             for info in pages.values())
        return running_a_page_file and main_is_a_page
    except Exception:  # a Streamlit without these internals: trust its own flag
        return bool(PagesManager.uses_pages_directory)


def ensure_router() -> None:
    """Rerun through playground.py's ``st.navigation`` when Streamlit ran this page in pages-directory mode."""
    from streamlit.runtime.pages_manager import PagesManager

    if not _pages_directory_run() or st.session_state.get(_RERUN_KEY):
        return
    PagesManager.uses_pages_directory = False  # process-wide, what st.navigation itself sets
    st.session_state[_RERUN_KEY] = True
    st.rerun()
