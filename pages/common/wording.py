"""Words that depend on a number shown to a student: "1 box", "2 boxes"."""
from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """The count with the noun that fits it: plural(1, "box", "boxes") -> "1 box", plural(0, "run") -> "0 runs"."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"
