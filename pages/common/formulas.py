"""Formulas that wrap on a narrow screen: KaTeX math drawn inline (with display-size fractions).

``st.latex`` draws display math, which KaTeX never breaks: a wide formula becomes a scroll region that the
keyboard cannot reach and that a phone cuts off before its answer. Inline math may break after a relation
or an operator, so the answer (the part after the last "=") stays in view.
"""
from __future__ import annotations

from typing import Any

import streamlit as st


def formula(target: Any, tex: str) -> None:
    """Draw `tex` in `target` (st, a column, a container) as math that wraps where the line is too narrow."""
    target.markdown(f"$\\displaystyle {tex.strip()}$")


def show_formula(tex: str) -> None:
    """`formula` in the current container."""
    formula(st, tex)
