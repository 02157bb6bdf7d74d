"""The answer input of an exercise, one per answer kind; every key starts with ``lesson_`` (never in a link).

Each function draws its input and returns ``(answer, ready)``: what ``check`` receives, and whether there is
something to check yet (a predict exercise is ready only after its prediction was committed).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from cnn_core.lessons import Variant
from pages.common.lessons.runs import current_setting, describe, page_runs

COMMITTED = "lesson_committed"  # session state: {exercise id + seed: the committed prediction}
PLACEHOLDERS = {"number": "a number, e.g. 2406", "shape": "C x H x W, e.g. 6 x 28 x 28"}


def _key(kind: str, variant: Variant) -> str:
    return f"lesson_{kind}_{variant.id}_{variant.seed}"


def typed_answer(variant: Variant) -> tuple[Any, bool]:
    """A number or shape typed as text."""
    unit = f" ({variant.exercise.unit})" if variant.exercise.unit else ""
    text = st.text_input(f"Your answer{unit}", key=_key("text", variant), max_chars=200,
                         placeholder=PLACEHOLDERS.get(variant.answer_kind, ""))
    return text, True


def choice_answer(variant: Variant) -> tuple[Any, bool]:
    """One of the variant's choices; a predict exercise commits it before the run."""
    committed = st.session_state.setdefault(COMMITTED, {})
    slot = f"{variant.id}:{variant.seed}"
    is_predict = variant.exercise.kind == "predict"
    choice = st.radio("Your prediction" if is_predict else "Your answer", list(variant.choices), index=None,
                      key=_key("choice", variant), disabled=is_predict and slot in committed)
    if not is_predict:
        return choice, True
    if slot in committed:
        st.caption(f"🔒 Committed: **{committed[slot]}**. Now run it on this page (**Open the setup**), "
                   "look at what happens, then press **Check**.")
        return committed[slot], True
    if st.button("Commit my prediction", key=_key("commit", variant), disabled=choice is None):
        committed[slot] = choice
        st.rerun()
    st.caption("Predict first: commit your choice, then run the experiment and check it.")
    return None, False


def order_answer(variant: Variant) -> tuple[Any, bool]:
    """Every item, picked in the order asked for."""
    picked = st.multiselect("Pick them in order (first to last)", list(variant.choices), key=_key("order", variant))
    return picked, len(picked) == len(variant.choices)


def target_answer(variant: Variant) -> tuple[Any, bool]:
    """The student's own run on this page (a comparison: the run they choose)."""
    runs = page_runs(variant.page)
    names = [k for k, _ in (*variant.target.at_least, *variant.target.at_most)] if variant.target else []
    if variant.target is not None:
        st.caption(f"Target: **{variant.target.describe()}**")
    if not runs:
        st.info("Run the experiment on this page first: **Check** reads your last run.", icon="▶️")
        return None, False
    label = next(iter(runs))
    if len(runs) > 1:
        label = st.selectbox("Which run", list(runs), key=_key("run", variant))
    st.caption(f"{label}: {describe(runs[label], names)}")
    return runs[label], True


def fix_answer(variant: Variant) -> tuple[Any, bool]:
    """The page's current setting of the exercise's widgets (change them on the page, then check)."""
    setting = current_setting(list(variant.link))
    if setting:
        st.caption("🛠️ Your setting now: " + ", ".join(f"`{k}` = `{v}`" for k, v in setting.items()))
    else:
        st.caption("🛠️ **Open the setup**, change what you think is wrong on the page, then press **Check**.")
    return setting, True


def answer_input(variant: Variant) -> tuple[Any, bool]:
    """The input for this variant's answer kind."""
    drawers = {"number": typed_answer, "shape": typed_answer, "choice": choice_answer, "order": order_answer,
               "target": target_answer, "fix": fix_answer}
    return drawers[variant.answer_kind](variant)


def answer_text(answer: Any) -> str:
    """An answer as the progress store keeps it (a run: its metrics; a setting: key=value pairs)."""
    if isinstance(answer, dict):
        return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in answer.items())
    if isinstance(answer, (list, tuple)):
        return " → ".join(map(str, answer))
    return "" if answer is None else str(answer)
