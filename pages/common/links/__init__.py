"""Lesson links: a page's settings live in the address bar (Streamlit's ``bind="query-params"``).

A page opts in with three calls; each linked widget keeps its usual arguments and its stable key (the key is
the query parameter's name, so keep keys short and readable)::

    links.start_page()                                    # first thing after st.set_page_config
    lr = links.linked(st.sidebar.slider, "Learning rate", 0.0001, 1.0, 0.01, key="lr")
    links.finish_page()                                   # last thing: notes + "Copy link to this setup"

Only values that differ from the defaults appear in the address. A value from a link is checked against the
widget's own bounds / options *before* the widget reads it: an out-of-range, non-finite, unknown, malformed or
oversized value is dropped with a visible note (never a traceback, never past a bound). A teacher adds
``lock=lr,epochs`` (those controls are shown but disabled) and ``hide=seed`` (not shown; the link's value,
or the default, is used) to a link, so students see only the controls of the exercise.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode, urlparse

import streamlit as st

from pages.common.links.params import drop as _drop
from pages.common.links.first_render import from_link as _from_link
from pages.common.links.first_render import start_at_link_value
from pages.common.links.params import initial as _initial
from pages.common.links.params import initial_keys
from pages.common.links.values import (MAX_LIST_ITEMS, check_value, default_argument, default_value,  # noqa: F401
                                      to_param)
from pages.common.links.router import ensure_router
from pages.common.links.unlinked import UNLINKED, is_unlinked  # noqa: F401 (the named exceptions)

LOCK, HIDE = "lock", "hide"  # the teacher's lists: comma-separated widget keys
RESERVED = frozenset({LOCK, HIDE, "embed", "embed_options"})
_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_STATE = "_lesson_links"  # session-state: per-run registry + keys already checked on this session
_HIDE_PREFIX = "lnkhide-"


# ---------------------------------------------------------------------------------------- link values


def _printable(text: str, limit: int = 40) -> str:
    """A link value safe inside a markdown code span: no backticks or control characters, shortened."""
    text = re.sub(r"[`\x00-\x1f\x7f]", "?", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _list_param(name: str) -> frozenset[str]:
    raw = st.query_params.get_all(name)
    keys = {k.strip() for part in raw[:MAX_LIST_ITEMS] for k in part[:2000].split(",")}
    return frozenset(k for k in keys if _KEY_RE.match(k))


def locked_keys() -> frozenset[str]:
    """Keys the link asks to show disabled (``lock=a,b``)."""
    return _list_param(LOCK)


def hidden_keys() -> frozenset[str]:
    """Keys the link asks not to show (``hide=a,b``)."""
    return _list_param(HIDE)


# ------------------------------------------------------------------------------------------- the page


def _state() -> dict[str, Any]:
    return st.session_state.setdefault(_STATE, {"checked": set(), "run": {}, "notes": [], "slots": None})


def start_page() -> None:
    """Call first on a page: reserves the place of the link notes and of the Copy-link button."""
    ensure_router()  # a deep link on a fresh server: rerun through playground.py's sectioned navigation
    state = _state()
    state["run"], state["notes"] = {}, []
    state["slots"] = (st.container(), st.sidebar.container())
    st.html(f'<style>[class*="st-key-{_HIDE_PREFIX}"] {{ display: none; }}</style>')


def linked(widget_fn: Callable[..., Any], *args: Any, key: str, **kwargs: Any) -> Any:
    """Draw `widget_fn(*args, key=key, **kwargs)` bound to the address bar; returns the widget's value.

    The link's value is checked first (a bad one is dropped with a note); ``lock`` disables the widget,
    ``hide`` draws it in an invisible container (it still reads the link, within its bounds).
    """
    name = getattr(widget_fn, "__name__", "")
    try:
        bound = inspect.signature(widget_fn).bind_partial(*args, key=key, **kwargs).arguments
    except TypeError:
        bound = {"key": key, **kwargs}
    bound.update(bound.pop("kwargs", {}) if isinstance(bound.get("kwargs"), dict) else {})
    state = _state()
    # a page that starts this widget from session state: that value is its default (for Streamlit and the link)
    presets = state.setdefault("presets", {})
    if key not in presets:  # first sight in this session, before the widget (or a link) has set it
        presets[key] = st.session_state[key] if key in st.session_state else None
    declared = default_argument(name, bound, presets[key])
    if declared is not None:
        kwargs[declared[0]] = bound[declared[0]] = declared[1]
    raw = _initial(key)
    if raw is not None and key not in state["checked"]:
        why = check_value(name, raw, bound)
        if why:
            shown = _printable(raw if isinstance(raw, str) else ",".join(raw))
            state["notes"].append(f"`{key}` = `{shown}` {why} for **{bound.get('label', key)}**")
            _drop(key)
        else:
            args = start_at_link_value(widget_fn, key, name, raw, bound, args, kwargs, _state())
    state["checked"].add(key)
    state["run"][key] = (name, bound)  # the page's own default: the copied link compares with it
    if key in locked_keys():
        kwargs["disabled"] = True
    parent = getattr(widget_fn, "__self__", None)
    if key in hidden_keys() and parent is not None:
        holder = parent.container(key=f"{_HIDE_PREFIX}{key}")
        return getattr(holder, name)(*args, key=key, bind="query-params", **kwargs)
    return widget_fn(*args, key=key, bind="query-params", **kwargs)


# text_area is left out: its values (JSON setups, code) are too long for an address
LINKABLE = frozenset({"slider", "select_slider", "number_input", "selectbox", "radio", "multiselect", "checkbox",
                      "toggle", "text_input", "pills", "segmented_control"})
_CONTAINERS = frozenset({"container", "expander", "popover", "form", "empty"})


class bound:  # noqa: N801 (used like a function: ``sb = links.bound(st.sidebar)``)
    """A view of a DeltaGenerator (``st``, ``st.sidebar``, a column...) whose keyed input widgets are linked.

    ``sb = links.bound(st.sidebar)`` then ``sb.slider("Epochs", 1, 50, 3, key="tr_epochs")`` is
    ``linked(st.sidebar.slider, ...)``; containers it makes (columns, expanders, tabs...) are bound too.
    A module draws its linked widgets through ``ui = links.bound(st)`` (``ui.sidebar.slider(..., key=...)``,
    ``ui.columns(2)``...), so a reader sees which calls join the link; ``st`` itself is never rebound. Widgets
    without a key (or with their own ``bind``), buttons, uploaders and text areas are passed through unchanged.
    """

    def __init__(self, target: Any) -> None:
        self._target = target._target if isinstance(target, bound) else target  # binding twice = once

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if name in LINKABLE:
            def widget(*args: Any, **kwargs: Any) -> Any:
                key = kwargs.get("key")
                if not isinstance(key, str) or not _KEY_RE.match(key) or "bind" in kwargs:
                    return attr(*args, **kwargs)
                return linked(attr, *args, **kwargs)
            return widget
        if name == "sidebar":
            return bound(attr)
        if name in _CONTAINERS:
            return lambda *args, **kwargs: bound(attr(*args, **kwargs))
        if name in ("columns", "tabs"):
            return lambda *args, **kwargs: [bound(part) for part in attr(*args, **kwargs)]
        return attr

    def __enter__(self) -> "bound":
        self._target.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        return self._target.__exit__(*exc)


def current_query(extra: dict[str, str] | None = None) -> str:
    """The query string of this page's linked widgets that differ from their defaults (plus `extra`)."""
    state = _state()
    params: dict[str, str | list[str]] = {}
    for key, (name, args) in state["run"].items():
        if key not in st.session_state:
            continue
        value = st.session_state[key]
        default = default_value(name, args)
        if value is None or value == default or (isinstance(default, tuple) and tuple(value) == default):
            continue
        params[key] = to_param(name, value, args)
    params.update(extra or {})
    return urlencode(params, doseq=True)


def _unknown_keys() -> list[str]:
    """Link parameters this page has no control for (checked once per session and page)."""
    known = set(_state()["run"])
    return [k for k in initial_keys() if k not in known and k not in RESERVED][:MAX_LIST_ITEMS]


def finish_page(page_url: str | None = None) -> None:
    """Call last on a page: shows the link notes (if any) and the "Copy link to this setup" button."""
    state = _state()
    top, side = state["slots"] or (st.container(), st.sidebar.container())
    page_key = f"unknown-checked:{st.context.url}"
    if page_key not in state["checked"]:
        state["checked"].add(page_key)
        for key in _unknown_keys():
            state["notes"].append(f"`{_printable(key)}` is not a setting of this page")
            _drop(key)
    if state["notes"]:
        top.warning("Some settings in this link could not be used and were ignored (the defaults are used "
                    "instead):\n\n" + "\n".join(f"- {note}" for note in state["notes"]), icon="🔗")
    with side.popover("🔗 Copy link to this setup", width="stretch"):
        copy_link_panel(page_url)


def link_for(query: str, page_url: str | None = None) -> str:
    """The absolute address of this page (or `page_url`) with `query`."""
    base = page_url or (st.context.url or "")
    if base and not urlparse(base).path:
        base += "/"  # http://host:port/?a=1, not http://host:port?a=1
    return f"{base}?{query}" if query else base


def copy_link_panel(page_url: str | None = None) -> None:
    """The link to this page's current setup (code block with a copy button) and the teacher's lock / hide."""
    keys = sorted(_state()["run"])
    st.caption("Anyone who opens this link sees this page with your settings.")
    extra: dict[str, str] = {}
    if keys:
        lock = st.multiselect("Lock (shown, not changeable)", keys, key="_lnk_lock",
                              default=sorted(locked_keys() & set(keys)))
        hide = st.multiselect("Hide", keys, key="_lnk_hide", default=sorted(hidden_keys() & set(keys)))
        if lock:
            extra[LOCK] = ",".join(lock)
        if hide:
            extra[HIDE] = ",".join(hide)
    st.code(link_for(current_query(extra), page_url), language=None, wrap_lines=True)


def from_link(key: str) -> bool:
    """Whether this session's widget `key` started at a value from the link the page was opened with."""
    return _from_link(_state(), key)


def linked_keys() -> Sequence[str]:
    """The keys of this run's linked widgets (for tests and the gallery's "open this setup")."""
    return tuple(_state()["run"])
