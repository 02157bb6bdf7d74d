"""A lesson link's value from a widget's FIRST render (Streamlit would show the page's default first).

Streamlit draws a widget at the default its element declares and applies a value seeded from the address one
render later: up to a second on a busy page, time enough for a student to press Run on the page's default. So
the first run of a widget with a link value declares that value as its default (the widget's identity is its
key, so the next runs declare the page's default again and keep the value), and only the seeding copy of the
parameter is taken out: Streamlit would drop a value equal to the declared default from the address.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import streamlit as st

from pages.common.links.params import forget_seed
from pages.common.links.values import link_default


def start_at_link_value(widget_fn: Callable[..., Any], key: str, widget: str, raw: str | list[str],
                        bound: dict[str, Any], args: tuple, kwargs: dict[str, Any], state: dict[str, Any]) -> tuple:
    """Make the checked link value `raw` this run's declared default of the widget; returns the new positionals.

    `kwargs` is updated in place; `state` (the page's link state) remembers that the key came from the link.
    """
    declared = link_default(widget, raw, bound)
    if declared is None:
        return args
    try:
        position = list(inspect.signature(widget_fn).parameters).index(declared[0])
    except (TypeError, ValueError):
        position = len(args)
    if position < len(args):  # the page gave its default positionally: replace it there
        args = (*args[:position], declared[1], *args[position + 1:])
    else:
        kwargs[declared[0]] = declared[1]
    if key in st.session_state:  # a page that starts the widget from session state: that would win
        st.session_state[key] = value_of(widget, declared[1], bound)
    forget_seed(key)
    state.setdefault("from_link", set()).add(key)
    return args


def value_of(widget: str, argument: Any, bound: dict[str, Any]) -> Any:
    """The widget value a declaring argument stands for (an index for selectbox and radio)."""
    if widget in ("selectbox", "radio"):
        return list(bound.get("options") or [])[argument]
    return list(argument) if widget == "multiselect" else argument


def from_link(state: dict[str, Any], key: str) -> bool:
    """Whether the widget `key` started at a value from the link (per the page's link state)."""
    return key in state.get("from_link", set())
