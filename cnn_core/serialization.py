"""Frozen config dataclasses <-> JSON-able dicts, with clear errors for malformed input."""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

from cnn_core.errors import InvalidConfig

T = TypeVar("T")


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
        raise InvalidConfig(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if hint is Any:
        return tuple(value) if isinstance(value, list) else value
    if isinstance(hint, type) and callable(getattr(hint, "from_dict", None)):
        try:
            return hint.from_dict(value)  # a type that owns its JSON form (LayerSpec)
        except Exception as exc:
            raise InvalidConfig(f"{where}: {exc}") from exc
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
            raise InvalidConfig(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidConfig(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidConfig(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise InvalidConfig(f"{where}: expected a string, got {value!r}")
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
        raise InvalidConfig(f"{where or cls.__name__}: unknown field(s) {', '.join(sorted(unknown))}")
    kwargs = {name: _coerce(value, hints[name], f"{where + '.' if where else ''}{name}") for name, value in data.items()}
    return cls(**kwargs)


def dumps(obj: Any) -> str:
    """JSON text of a config dataclass (or list of them)."""
    return json.dumps(to_jsonable(obj), indent=2)


def loads(cls: type[T], text: str | bytes) -> T:
    """Parse JSON text into a config dataclass; malformed input raises InvalidConfig."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidConfig(f"Not valid JSON: {exc}") from exc
    return from_jsonable(cls, data)
