"""Shared, read-only resources (cached once per process) and per-session state."""
from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from cnn_core import Dataset, load_dataset

MAX_CONCURRENT_TRAININGS = 2  # 2 cores: more parallel trainings only slow every one of them down


@st.cache_resource(max_entries=8, show_spinner="Loading dataset...")
def get_dataset(name: str, per_class: int | None = None) -> Dataset:
    """A dataset shared by all sessions; its tensors are never modified (training copies batches)."""
    return load_dataset(name, per_class=per_class)


@st.cache_resource
def training_slots() -> threading.BoundedSemaphore:
    """Process-wide limit on simultaneous trainings."""
    return threading.BoundedSemaphore(MAX_CONCURRENT_TRAININGS)


class FinishedRuns:
    """A bounded, thread-safe LRU of finished runs' records (tuples of frozen Records: read-only)."""

    def __init__(self, max_entries: int = 128) -> None:
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: object) -> tuple | None:
        """The records of a finished run, or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: object, records: tuple) -> None:
        """Store a finished run's records (evicting the oldest beyond the bound)."""
        with self._lock:
            self._items[key] = records
            self._items.move_to_end(key)
            while len(self._items) > self._max:
                self._items.popitem(last=False)


@st.cache_resource
def finished_runs() -> FinishedRuns:
    """The process-wide cache of finished runs: identical configs are never trained twice."""
    return FinishedRuns()
