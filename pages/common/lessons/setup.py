"""The panel's "Open the setup": put an exercise's lesson link into the page's widgets.

From another page it is a lesson link (``st.switch_page`` with the link as query parameters: Streamlit seeds the
bound widgets). On the same page the widgets are already bound to the address (Streamlit refuses to overwrite
their parameters), so each value is typed the way the widget reads it and written to its session state before
the widget is drawn. A widget the page draws only after another setting changed (a section picked by the link)
is set one rerun later: a short-lived fragment asks for that rerun.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from pages.common.links.values import check_value

LINKS_STATE = "_lesson_links"       # the links module's session state (its "run" registry: key -> (widget, args))
REGISTRY = "lesson_last_registry"   # session state: every linked widget seen so far (key -> (widget, args))
CURRENT = "lesson_run_registry"     # session state: this run's registry (the links module fills it)
PENDING = "lesson_pending_setup"    # session state: {page file: {key: link value}} still to set
MAX_PASSES = 3                      # reruns spent on widgets that appear only after an earlier value


def _number(text: str, integer: bool) -> int | float:
    value = float(text)
    return int(value) if integer else value


def typed_value(widget: str, args: dict[str, Any], raw: str | list[str]) -> Any:
    """The widget value a link value stands for (None when the widget cannot take it)."""
    if check_value(widget, raw, args):
        return None
    values = raw if isinstance(raw, list) else [raw]
    if widget in ("slider", "number_input"):
        default = args.get("value", args.get("min_value"))
        sample = [args.get("min_value"), args.get("max_value"), args.get("step"),
                  *(default if isinstance(default, (list, tuple)) else [default])]
        integer = all(isinstance(v, int) and not isinstance(v, bool) for v in sample if v is not None)
        numbers = [_number(v, integer) for v in values]
        return tuple(numbers) if isinstance(default, (list, tuple)) else numbers[0]
    if widget in ("checkbox", "toggle"):
        return values[0].lower() == "true"
    if widget in ("selectbox", "radio", "select_slider", "multiselect", "pills", "segmented_control"):
        fmt = args.get("format_func") or str
        by_label = {fmt(o): o for o in list(args.get("options") or [])}
        chosen = [by_label[v] for v in values]
        if widget == "multiselect" or (widget in ("pills", "segmented_control") and args.get("selection_mode") ==
                                       "multi"):
            return chosen
        if widget == "select_slider" and isinstance(args.get("value"), (list, tuple)):
            return tuple(chosen)
        return chosen[0]
    return values[0]  # text_input


def previous_registry() -> dict[str, tuple[str, dict[str, Any]]]:
    """The linked widgets drawn in earlier runs (key -> (widget, arguments)), the latest description winning.

    The links module starts an empty registry each run and fills it while the page draws; this keeps a reference
    to this run's and merges the previous one (a run cut short by a rerun only adds what it drew)."""
    known = st.session_state.setdefault(REGISTRY, {})
    known.update(st.session_state.get(CURRENT) or {})
    links_state = st.session_state.get(LINKS_STATE)
    if isinstance(links_state, dict) and isinstance(links_state.get("run"), dict):
        st.session_state[CURRENT] = links_state["run"]
    return known


def request_setup(page: str, link: dict[str, Any]) -> None:
    """Ask for the link's values on this page (set from the next run on)."""
    st.session_state.setdefault(PENDING, {})[page] = {"values": dict(link), "passes": 0}


def apply_pending(page: str, registry: dict[str, tuple[str, dict[str, Any]]]) -> list[str]:
    """Set the pending values whose widgets the page drew last run; returns the keys it could not use."""
    pending = (st.session_state.get(PENDING) or {}).get(page)
    if not pending:
        return []
    left: dict[str, Any] = {}
    refused: list[str] = []
    for key, raw in pending["values"].items():
        if key not in registry:
            left[key] = raw
            continue
        value = typed_value(*registry[key], raw)
        if value is None:
            refused.append(key)
        else:
            st.session_state[key] = value
    pending["passes"] += 1
    if left and pending["passes"] <= MAX_PASSES:
        pending["values"] = left
        _rerun_soon()
    else:
        st.session_state[PENDING].pop(page, None)
        refused += list(left)
    return refused


@st.fragment(run_every=0.3)
def _rerun_after_the_page() -> None:
    """Runs once more after the page has drawn (its widgets are then known), then reruns the whole app."""
    if st.session_state.get("lesson_rerun_armed"):
        st.session_state["lesson_rerun_armed"] = False
        st.rerun(scope="app")
    st.session_state["lesson_rerun_armed"] = True


def _rerun_soon() -> None:
    st.session_state["lesson_rerun_armed"] = False
    _rerun_after_the_page()


def open_elsewhere(page: str, link: dict[str, Any]) -> None:
    """Go to another page with the exercise's lesson link (Streamlit seeds the page's bound widgets)."""
    st.switch_page(f"pages/{page}", query_params=link or None)
