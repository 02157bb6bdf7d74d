"""Typed errors whose messages are written for the person using the playground."""
from __future__ import annotations


class PlaygroundError(Exception):
    """Base class: every error a page should show as a message, never as a traceback."""


class DatasetUnavailable(PlaygroundError):
    """A dataset could not be loaded (offline, files missing); the message says what was tried."""


class InvalidConfig(PlaygroundError):
    """A configuration that cannot run (a value out of range, an unknown registry key)."""


class ArchitectureError(PlaygroundError):
    """A layer list that cannot be built; `layer_index` names the offending layer."""

    def __init__(self, message: str, layer_index: int | None = None) -> None:
        super().__init__(message)
        self.layer_index = layer_index


class CheckpointError(PlaygroundError):
    """A checkpoint that cannot be loaded: corrupt, unsafe, or for another architecture."""


class ImageError(PlaygroundError):
    """An image that cannot be decoded or is too large."""
