"""Frozen config dataclasses <-> JSON-able dicts, with clear errors for malformed input.

Untrusted JSON goes through `parse_json`: size and nesting depth are bounded before the parser
runs, and numbers that do not fit a float or an int64 are refused (never an OverflowError).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from typing import Any, TypeVar

from cnn_core.errors import InvalidConfig, short, short_repr

T = TypeVar("T")

MAX_JSON_BYTES = 256 * 1024   # exported settings and architectures are a few KB
MAX_JSON_DEPTH = 32           # exported files are at most ~6 levels deep
MAX_INT = 2**63 - 1           # an int64: larger integers are refused
MAX_STRING = 256              # characters in one config string (names, labels)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON text (brackets inside strings ignored), without parsing it."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or abs(int(text)) > MAX_INT:
        raise InvalidConfig(f"The number {short(text, 24)} is too large: whole numbers must be below 2**63")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)  # '1e400' -> inf
    if not math.isfinite(value):
        raise InvalidConfig(f"The number {short(text, 24)} is out of range for a float")
    return value


def _parse_constant(name: str) -> float:
    raise InvalidConfig(f"{name} is not a number this playground accepts: use a finite number")


def parse_json(text: str | bytes, what: str = "The text", max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH, allow_nan: bool = False) -> Any:
    """Parse untrusted JSON: InvalidConfig for too large, too deep, not UTF-8, malformed, or out-of-range numbers.

    `allow_nan` admits NaN / Infinity / -Infinity (json.dumps writes them for metrics such as an
    epoch without a validation loss); 1e400-style overflowing literals are refused either way.
    """
    if len(text) > max_bytes:
        raise InvalidConfig(f"{what} is too large ({len(text):,} bytes); the limit is {max_bytes // 1024} KiB")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidConfig(f"{what} is not UTF-8 text (is it really a .json file?)") from exc
    if not text.strip():
        raise InvalidConfig(f"{what} is empty")
    depth = json_depth(text)
    if depth > max_depth:
        raise InvalidConfig(f"{what} is nested {depth} levels deep; the limit is {max_depth}")
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=float if allow_nan else _parse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidConfig(f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except RecursionError:  # cannot happen below max_depth; kept as a last guard
        raise InvalidConfig(f"{what} is nested too deeply") from None


def to_jsonable(obj: Any) -> Any:
    """A dataclass (nested, with LayerSpecs and tuples) as plain dicts and lists."""
    if callable(getattr(obj, "to_dict", None)) and not isinstance(obj, type):
        return obj.to_dict()  # a type that owns its JSON form (LayerSpec)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_jsonable(v) for v in obj]
    return obj


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except InvalidConfig as exc:
                errors.append(str(exc))
        raise InvalidConfig(errors[0] if errors else f"{where}: unexpected value {short_repr(value)}")
    if hint is Any:
        return tuple(value) if isinstance(value, list) else value
    if isinstance(hint, type) and callable(getattr(hint, "from_dict", None)):
        try:
            return hint.from_dict(value)  # a type that owns its JSON form (LayerSpec)
        except Exception as exc:
            raise InvalidConfig(f"{where}: {short(str(exc), 200)}") from exc
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise InvalidConfig(f"{where}: expected an object, got {type(value).__name__}")
        return from_jsonable(hint, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InvalidConfig(f"{where}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise InvalidConfig(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidConfig(f"{where}: expected true or false, got {short_repr(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidConfig(f"{where}: expected an integer, got {short_repr(value)}")
        if abs(value) > MAX_INT:
            raise InvalidConfig(f"{where}: {short(value, 24)} is too large (whole numbers must be below 2**63)")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidConfig(f"{where}: expected a number, got {short_repr(value)}")
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise InvalidConfig(f"{where}: {short(value, 24)} is out of range for a number here")
        if not math.isfinite(value):
            raise InvalidConfig(f"{where}: expected a finite number, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise InvalidConfig(f"{where}: expected a string, got {short_repr(value)}")
        if len(value) > MAX_STRING:
            raise InvalidConfig(f"{where}: expected a short text (at most {MAX_STRING} characters), got "
                                f"{short(value, 40)}")
        return value
    return value


def from_jsonable(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Rebuild a config dataclass from a dict; unknown keys and wrong types raise InvalidConfig."""
    if not isinstance(data, dict):
        raise InvalidConfig(f"{where or cls.__name__}: expected an object")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        listed = ", ".join(short(str(k), 40) for k in sorted(unknown, key=str)[:5])
        raise InvalidConfig(f"{where or cls.__name__}: unknown field(s) {listed}")
    kwargs = {name: _coerce(value, hints[name], f"{where + '.' if where else ''}{name}") for name, value in data.items()}
    return cls(**kwargs)


def dumps(obj: Any) -> str:
    """JSON text of a config dataclass (or list of them)."""
    return json.dumps(to_jsonable(obj), indent=2)


def loads(cls: type[T], text: str | bytes) -> T:
    """Parse JSON text into a config dataclass; malformed input raises InvalidConfig."""
    return from_jsonable(cls, parse_json(text))
