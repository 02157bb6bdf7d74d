"""Reading what a student typed: numbers, shapes, choices, orders and settings, with clear messages.

Every parser raises AnswerError (a message for the student) on input it cannot read; nothing else.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from cnn_core.errors import PlaygroundError

MAX_ANSWER = 200  # characters: an answer is a number, a shape or a short list

_NUMBER = re.compile(
    r"^(?P<sign>[+\-\u2212]?)\s*(?P<int>\d[\d,_' \u00a0\u202f]*)?(?P<frac>\.\d+)?(?P<exp>[eE][+\-]?\d+)?"
    r"\s*(?P<rest>.*)$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:([,_' \u00a0\u202f])\d{3})?(?:\1\d{3})*$")
_UNIT = re.compile(r"^(%|[A-Za-z\u00b5\u00b0][A-Za-z\u00b5\u00b0\-/ .]{0,30})$")
_SHAPE_SPLIT = re.compile(r"\s*(?:[x\u00d7*,;]|\s)\s*", re.IGNORECASE)
_ORDER_SPLIT = re.compile(r"\s*(?:->|\u2192|=>|>|<|,|;|\n|\bthen\b)\s*", re.IGNORECASE)


class AnswerError(PlaygroundError, ValueError):
    """An answer that cannot be read; the message says what to type instead."""


def _text(raw: Any, what: str) -> str:
    """The answer as stripped text, refusing empty and overlong input."""
    if raw is None:
        raise AnswerError(f"Type {what} first.")
    text = str(raw).strip()
    if not text:
        raise AnswerError(f"Type {what} first.")
    if len(text) > MAX_ANSWER:
        raise AnswerError(f"That answer is {len(text):,} characters long; type just {what} "
                          f"(at most {MAX_ANSWER} characters).")
    return text


def parse_number(raw: Any) -> float:
    """'61,706' -> 61706.0, '28 px' -> 28.0, '2.30' -> 2.3, '98%' -> 0.98; AnswerError for anything else."""
    if isinstance(raw, bool):
        raise AnswerError("Type a number, not yes/no.")
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError as exc:  # an int beyond float range
            raise AnswerError("That number is too large: type an ordinary number.") from exc
    else:
        text = _text(raw, "a number").replace("\u2212", "-")
        text = re.sub(r"^(?:=|~|\u2248|about|approx\.?)\s*", "", text, flags=re.IGNORECASE)
        if re.fullmatch(r"[+\-]?\s*(nan|inf|infinity|\u221e)", text, flags=re.IGNORECASE):
            raise AnswerError(f"'{text}' is not a finite number: type an ordinary number such as 2.3 or 61,706.")
        match = _NUMBER.match(text)
        if not match or not (match["int"] or match["frac"]):
            raise AnswerError(f"'{_short(text)}' is not a number: type digits, e.g. 120 or 2.30.")
        whole = (match["int"] or "").strip()
        if whole and not whole.isdigit():
            if not _THOUSANDS.match(whole):
                raise AnswerError(f"'{_short(text)}': separators must group digits by three (61,706); "
                                  "use a point for decimals (2.5, not 2,5).")
            whole = re.sub(r"\D", "", whole)
        rest = match["rest"].strip()
        if rest and not _UNIT.match(rest):
            raise AnswerError(f"'{_short(text)}' holds more than one number: type a single number "
                              "(a unit such as 'px' is fine).")
        try:
            value = float(f"{match['sign'] or ''}{whole or '0'}{match['frac'] or ''}{match['exp'] or ''}")
        except (ValueError, OverflowError) as exc:
            raise AnswerError(f"'{_short(text)}' is not a number.") from exc
        if rest == "%":
            value /= 100
    if math.isnan(value) or math.isinf(value):
        raise AnswerError("That number is not finite (too large, infinite or NaN): type an ordinary number.")
    return value


def parse_shape(raw: Any) -> tuple[int, ...]:
    """'6x28x28', '(6, 28, 28)', '6 x 28 x 28', 'torch.Size([6, 28, 28])' -> (6, 28, 28)."""
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        items: list[Any] = list(raw)
        if not items or len(items) > 8:
            raise AnswerError("A shape has 1 to 8 sizes, e.g. 6 x 28 x 28.")
        text = "x".join(str(v) for v in items)
    else:
        text = _text(raw, "a shape such as 6 x 28 x 28")
    text = re.sub(r"^torch\.size", "", text.strip(), flags=re.IGNORECASE)
    text = text.strip().strip("()[]{} ").strip()
    parts = [p for p in _SHAPE_SPLIT.split(text) if p]
    if not parts:
        raise AnswerError("Type a shape such as 6 x 28 x 28.")
    if len(parts) > 8:
        raise AnswerError("A shape has at most 8 sizes; type it like 6 x 28 x 28.")
    sizes = []
    for part in parts:
        if not part.isdigit():
            raise AnswerError(f"'{_short(part, 20)}' is not a size: a shape is whole numbers separated by x "
                              "or commas, e.g. 6 x 28 x 28 or (6, 28, 28).")
        sizes.append(int(part))
    return tuple(sizes)


def _pick(text: str, options: Sequence[str]) -> str:
    """One option by its text (case-insensitive, a unique prefix is enough), its number (1-based) or letter."""
    token = text.strip().strip("()[].").strip()
    lowered = token.lower()
    exact = [o for o in options if o.lower() == lowered]
    if exact:
        return exact[0]
    if token.isdigit() and 1 <= int(token) <= len(options):
        return options[int(token) - 1]
    if len(token) == 1 and token.isalpha() and ord(lowered) - ord("a") < len(options):
        return options[ord(lowered) - ord("a")]
    prefix = [o for o in options if o.lower().startswith(lowered)] if lowered else []
    if len(prefix) == 1:
        return prefix[0]
    listed = ", ".join(f"'{o}'" for o in options)
    raise AnswerError(f"'{_short(token, 40)}' is not one of the options: {listed}.")


def parse_choice(raw: Any, options: Sequence[str]) -> str:
    """One of `options`, given as its text, a unique prefix, its number (1-based) or its letter (a, b, ...)."""
    return _pick(_text(raw, "one of the options"), options)


def parse_order(raw: Any, items: Sequence[str]) -> tuple[str, ...]:
    """All `items` in an order: a list, or text such as 'b, a, c', 'conv -> relu -> pool' or '2 > 1 > 3'."""
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        if len(raw) > 50:
            raise AnswerError("Too many items in that order.")
        parts = [str(p) for p in raw]
    else:
        parts = [p for p in _ORDER_SPLIT.split(_text(raw, "an order such as 'b, a, c'")) if p.strip()]
    order = tuple(_pick(p, items) for p in parts)
    missing = [i for i in items if i not in order]
    doubled = sorted({i for i in order if order.count(i) > 1})
    if doubled:
        raise AnswerError(f"{', '.join(doubled)} appear{'s' if len(doubled) == 1 else ''} more than once: "
                          "name every item exactly once.")
    if missing:
        raise AnswerError(f"Put every item in the order; missing: {', '.join(missing)}.")
    return order


def _setting_value(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        try:
            return parse_number(text)
        except AnswerError:
            return text
    return value


def parse_setting(raw: Any) -> dict[str, Any]:
    """Widget settings as {key: value}: a mapping, or a query string 'tr_lr_sgd=0.01&tr_init=default'."""
    if isinstance(raw, Mapping):
        items = list(raw.items())
    else:
        text = _text(raw, "the settings you changed, e.g. tr_lr_sgd=0.01")
        items = parse_qsl(text.lstrip("?").replace(",", "&").replace(" ", ""), keep_blank_values=False)
    if not items:
        raise AnswerError("Give the settings you changed, e.g. tr_lr_sgd=0.01.")
    if len(items) > 50:
        raise AnswerError("Too many settings in that answer.")
    return {str(k): _setting_value(v) for k, v in items}


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
