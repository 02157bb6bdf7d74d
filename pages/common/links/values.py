"""What a lesson link's value may be for a widget, and how a widget value is written in a link (no streamlit).

`check_value` mirrors the bounds Streamlit's own widgets apply (so a value is refused *before* the widget reads
it, with a reason the page can show); `to_param` writes a value the way a bound widget writes it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

MAX_VALUE_CHARS = 200  # a longer value is "oversized"
MAX_LIST_ITEMS = 64
MAX_NUMBER = 1e15  # number inputs without their own bounds


def _as_number(text: str, integer: bool, low: float, high: float) -> tuple[float | None, str]:
    try:
        value = float(text)
    except ValueError:
        return None, "is not a number"
    if not math.isfinite(value):
        return None, "is not a finite number"
    if integer and value != int(value):
        return None, "is not a whole number"
    if value < low or value > high:
        return None, f"is outside {low:g} to {high:g}"
    return value, ""


def check_value(widget: str, raw: str | list[str], args: dict[str, Any]) -> str:
    """Why a link value cannot be used by this widget ('' when it can); args are the widget's arguments."""
    values = raw if isinstance(raw, list) else [raw]
    if len(values) > MAX_LIST_ITEMS or any(len(v) > MAX_VALUE_CHARS for v in values):
        return "is too long"
    if widget in ("slider", "number_input"):
        default = args.get("value", args.get("min_value"))
        is_range = isinstance(default, (list, tuple))
        if len(values) != (2 if is_range else 1):
            return "has the wrong number of values"
        sample = [args.get("min_value"), args.get("max_value"), *(default if is_range else [default]),
                  args.get("step")]
        integer = all(isinstance(v, int) and not isinstance(v, bool) for v in sample if v is not None)
        low = args.get("min_value")
        high = args.get("max_value")
        if widget == "slider":  # Streamlit's slider defaults: 0..100 (ints) or 0..1 (floats)
            low = 0 if low is None else low
            high = (100 if integer else 1.0) if high is None else high
        low = -MAX_NUMBER if low is None else low
        high = MAX_NUMBER if high is None else high
        for text in values:
            _, why = _as_number(text, integer, float(low), float(high))
            if why:
                return why
        return ""
    if widget in ("checkbox", "toggle"):
        return "" if len(values) == 1 and values[0].lower() in ("true", "false") else "is not true or false"
    if widget in ("selectbox", "radio", "select_slider", "multiselect", "pills", "segmented_control"):
        options = list(args.get("options") or [])
        fmt: Callable[[Any], str] = args.get("format_func") or str
        labels = {fmt(o) for o in options}  # Streamlit reads an option from the address by its shown label
        if widget == "select_slider":
            default = args.get("value")
            expected = 2 if isinstance(default, (list, tuple)) else 1
            if len(values) != expected:
                return "has the wrong number of values"
        elif widget not in ("multiselect",) and len(values) != 1:
            return "has more than one value"
        unknown = [v for v in values if v not in labels]
        if unknown:
            return "is not one of the choices"
        max_selections = args.get("max_selections")
        if widget == "multiselect" and max_selections is not None and len(values) > max_selections:
            return f"selects more than {max_selections}"
        return ""
    if widget in ("text_input", "text_area"):
        limit = args.get("max_chars") or MAX_VALUE_CHARS
        return "is too long" if len(values) != 1 or len(values[0]) > limit else ""
    return "cannot be set from a link"


def to_param(widget: str, value: Any, args: dict[str, Any]) -> str | list[str]:
    """How a widget value is written in the address (Streamlit's own format for bound widgets)."""
    fmt: Callable[[Any], str] = args.get("format_func") or str
    if isinstance(value, bool):
        return str(value).lower()
    if widget in ("selectbox", "radio", "select_slider", "multiselect", "pills", "segmented_control"):
        return [fmt(v) for v in value] if isinstance(value, (list, tuple)) else fmt(value)

    def number(v: Any) -> str:
        return str(int(v)) if isinstance(v, float) and math.isfinite(v) and v == int(v) else str(v)

    return [number(v) for v in value] if isinstance(value, (list, tuple)) else number(value)


def default_value(widget: str, args: dict[str, Any]) -> Any:
    """The value a widget shows when nothing set it (from its arguments)."""
    if widget in ("selectbox", "radio"):
        options = list(args.get("options") or [])
        index = args.get("index", 0)
        return options[index] if options and index is not None else None
    if widget in ("multiselect",):
        return list(args.get("default") or [])
    if widget == "select_slider":
        options = list(args.get("options") or [])
        return args.get("value", options[0] if options else None)
    if widget in ("checkbox", "toggle"):
        return bool(args.get("value", False))
    if widget == "number_input" and args.get("value", "min") == "min":
        return args.get("min_value", 0.0)
    return args.get("value", args.get("min_value"))


# the argument that declares a widget's default (what Streamlit compares a link value with)
DEFAULT_ARGUMENT = {"number_input": "value", "slider": "value", "select_slider": "value", "checkbox": "value",
                    "toggle": "value", "text_input": "value", "selectbox": "index", "radio": "index",
                    "multiselect": "default", "pills": "default", "segmented_control": "default"}


def _same_number_type(value: Any, args: dict[str, Any]) -> Any:
    """`value` as the bounds' type (Streamlit refuses an int value between float bounds and vice versa)."""
    bounds = [v for v in (args.get("min_value"), args.get("max_value")) if v is not None]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not bounds:
        return value
    if all(isinstance(b, float) for b in bounds):
        return float(value)
    if all(isinstance(b, int) and not isinstance(b, bool) for b in bounds) and float(value).is_integer():
        return int(value)
    return value


def default_argument(widget: str, args: dict[str, Any], preset: Any) -> tuple[str, Any] | None:
    """The argument that makes `preset` (the page's own starting value, put in session state before the widget)
    the widget's declared default, or None when the widget declares its own or already agrees.

    Streamlit keeps a link value out of the widget when it equals the widget's *declared* default, and drops a
    widget value equal to it from the address: a page that starts a widget from session state at another value
    would otherwise lose every link value equal to the declared one (Optimizers: epochs 1, batch 8, ...).
    """
    name = DEFAULT_ARGUMENT.get(widget)
    if name is None or name in args or preset is None:
        return None
    try:
        if preset == default_value(widget, args):
            return None
        if widget in ("selectbox", "radio"):
            options = list(args.get("options") or [])
            return (name, options.index(preset)) if preset in options else None
        if widget in ("multiselect", "pills", "segmented_control"):
            options = list(args.get("options") or [])
            chosen = list(preset) if isinstance(preset, (list, tuple)) else [preset]
            return (name, chosen) if all(v in options for v in chosen) else None
        if widget in ("number_input", "slider"):
            value = tuple(preset) if isinstance(preset, list) else preset
            low, high = args.get("min_value"), args.get("max_value")
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                        or (low is not None and v < low) or (high is not None and v > high):
                    return None
            if isinstance(value, tuple):
                return name, tuple(_same_number_type(v, args) for v in value)
            return name, _same_number_type(value, args)
        if widget == "select_slider":
            options = list(args.get("options") or [])
            chosen = preset if isinstance(preset, (list, tuple)) else [preset]
            return (name, preset) if all(v in options for v in chosen) else None
    except (TypeError, ValueError):  # an odd preset: leave the widget as it is
        return None
    return name, preset


def link_default(widget: str, raw: str | list[str], args: dict[str, Any]) -> tuple[str, Any] | None:
    """The declaring argument (name, value) that makes a checked link value the widget's starting value.

    Streamlit draws a widget at its declared default first and applies a seeded value one render later (up to a
    second on a busy page, time enough to press Run on the old value): declaring the link's value as the default
    of the first run shows it from the first frame. None when the value cannot be told here.
    """
    values = raw if isinstance(raw, list) else [raw]
    name = DEFAULT_ARGUMENT.get(widget)
    try:
        if widget in ("slider", "number_input"):
            numbers = [_same_number_type(float(v), args) for v in values]
            default = args.get("value", args.get("min_value"))
            return name, tuple(numbers) if isinstance(default, (list, tuple)) else numbers[0]
        if widget in ("checkbox", "toggle"):
            return name, values[0].lower() == "true"
        if widget == "text_input":
            return name, values[0]
        options = list(args.get("options") or [])
        fmt: Callable[[Any], str] = args.get("format_func") or str
        by_label = {fmt(o): o for o in options}
        chosen = [by_label[v] for v in values]
        if widget in ("selectbox", "radio"):
            return name, options.index(chosen[0])
        if widget == "multiselect":
            return name, chosen
        if widget == "select_slider":
            return name, tuple(chosen) if isinstance(args.get("value"), (list, tuple)) else chosen[0]
        if widget in ("pills", "segmented_control"):
            return name, chosen if args.get("selection_mode") == "multi" else chosen[0]
    except (KeyError, ValueError, IndexError, TypeError):
        return None
    return None
