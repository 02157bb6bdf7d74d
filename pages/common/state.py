"""Shared, read-only resources (cached once per process) and per-session state.

Data that can be loaded again (a dataset) may sit in st.cache_resource, which a client's clear empties;
what costs training to rebuild (finished runs) is a ProcessSingleton that no client can reset.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st
import torch

from cnn_core import Dataset, load_dataset
from pages.common.live.singleton import ProcessSingleton, guard_client_cache_clear

RECORD_BYTES = 400  # about what one frozen Record costs in memory (a dataclass of 13 fields)


@st.cache_resource(max_entries=8, show_spinner="Loading dataset...")
def get_dataset(name: str, per_class: int | None = None) -> Dataset:
    """A dataset shared by all sessions; its tensors are never modified (training copies batches)."""
    return load_dataset(name, per_class=per_class)


def entry_bytes(value: object) -> int:
    """Rough memory of a cached run: its tensors' bytes plus RECORD_BYTES per record."""
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, dict):
        return sum(entry_bytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(entry_bytes(v) for v in value)
    return RECORD_BYTES


class FinishedRuns:
    """A thread-safe LRU of finished runs (tuples of frozen Records, weights: read-only), bounded by
    entries and by bytes."""

    def __init__(self, max_entries: int = 128, max_bytes: int = 256 * 2**20) -> None:
        self._items: OrderedDict = OrderedDict()
        self._sizes: dict = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self._max_bytes = max_bytes

    def get(self, key: object) -> tuple | None:
        """The records of a finished run, or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: object, records: tuple) -> None:
        """Store a finished run's records (evicting the oldest beyond the bound)."""
        size = entry_bytes(records)
        with self._lock:
            self._items[key] = records
            self._sizes[key] = size
            self._items.move_to_end(key)
            while len(self._items) > 1 and (len(self._items) > self._max
                                            or sum(self._sizes.values()) > self._max_bytes):
                old, _ = self._items.popitem(last=False)
                self._sizes.pop(old, None)


def _new_finished_runs() -> FinishedRuns:
    """The process-wide cache of finished runs: identical configs are never trained twice."""
    return FinishedRuns()


finished_runs = ProcessSingleton(_new_finished_runs)  # finished_runs() -> the one FinishedRuns of this process
guard_client_cache_clear()
