"""Turn every failure on a page into one clear message, never a traceback."""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import streamlit as st

from cnn_core.errors import PlaygroundError

log = logging.getLogger("cnn_playground")


@contextlib.contextmanager
def friendly_errors(what: str = "This step") -> Iterator[None]:
    """Show PlaygroundErrors as st.error with their message; anything else as a short error, logged."""
    try:
        yield
    except PlaygroundError as exc:
        st.error(str(exc))
    except (MemoryError, RuntimeError, ValueError, OSError) as exc:
        log.exception("%s failed", what)
        st.error(f"{what} failed: {type(exc).__name__}: {str(exc)[:300]}")
