"""Typed errors whose messages are written for the person using the playground."""
from __future__ import annotations


class PlaygroundError(Exception):
    """Base class: every error a page should show as a message, never as a traceback."""


class DatasetUnavailable(PlaygroundError):
    """A dataset could not be loaded (offline, files missing); the message says what was tried."""


class InvalidConfig(PlaygroundError):
    """A configuration that cannot run (a value out of range, an unknown registry key)."""


class BudgetExceeded(InvalidConfig):
    """Work whose estimated memory or time is beyond the per-run budget; the message says what to change."""


class ArchitectureError(PlaygroundError):
    """A layer list that cannot be built; `layer_index` names the offending layer."""

    def __init__(self, message: str, layer_index: int | None = None) -> None:
        super().__init__(message)
        self.layer_index = layer_index


class DesignTooLarge(ArchitectureError, BudgetExceeded):
    """A layer list beyond the playground's size limits (an ArchitectureError naming the layer, and over budget)."""


class CheckpointError(PlaygroundError):
    """A checkpoint that cannot be loaded: corrupt, unsafe, or for another architecture."""


class ImageError(PlaygroundError):
    """An image that cannot be decoded or is too large."""


def short(text: object, limit: int = 60) -> str:
    """`text` (any object, as str) cut to `limit` characters, with how long it was: safe to echo in a message."""
    if not isinstance(text, str):
        try:
            text = repr(text)
        except ValueError:  # an int with more digits than Python will print
            return "a number too large to show"
    if len(text) <= limit:
        return text
    return f"{text[:max(limit - 1, 1)]}… ({len(text):,} characters)"


def short_repr(value: object, limit: int = 60) -> str:
    """repr() of a value for a message ('fast', 12, [1, 2]), a long one cut to `limit` characters."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    return repr(value) if isinstance(value, str) else short(value, limit)
