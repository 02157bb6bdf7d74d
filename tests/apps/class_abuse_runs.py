"""One admitted run per page view that holds its slot for CLASS_ABUSE_HOLD_S seconds, then prints the peak number
of runs that held a slot at once (tests/test_class_abuse_protocol.py, benchmarks/class_abuse.py)."""
import os
import time

import streamlit as st

from pages.common.live import admitted
from tests import class_abuse_probe


@st.cache_data
def cached_square(x: int) -> int:
    """A data cache a client's clear may empty (it costs a recomputation, nothing more)."""
    return x * x


st.write(f"square {cached_square(7)}")
with admitted("probe run"):
    class_abuse_probe.enter()
    try:
        time.sleep(float(os.environ.get("CLASS_ABUSE_HOLD_S", "3")))
    finally:
        peak = class_abuse_probe.leave()
st.write(f"peak runs at once: {peak}")
