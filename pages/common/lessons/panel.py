"""The "🎯 Exercise" panel at the top of a topic page: this student's variant, its setup, answer, check, next.

A page adds one call right after its title: ``exercise_panel("3_Basic_Layers.py")``.
"""
from __future__ import annotations

import time

import streamlit as st

from cnn_core.lessons import EXERCISES, Exercise, Result, Variant, check, exercise
from pages.common.lessons import setup
from pages.common.lessons.answer import answer_input, answer_text
from pages.common.lessons.store import (ProgressError, current_student, lesson_exercises, my_attempts,
                                       pinned_lesson, save_attempt, status_by_exercise)
from pages.common.lessons.throttle import allow_check

SELECTED = "lesson_selected"   # session state: {page file: exercise id} (set by the Lessons page and Next)
FEEDBACK = "lesson_feedback"   # session state: {exercise id:seed: {"tries": n, "result": Result}}
SHOWN = "lesson_shown"         # session state: {exercise id:seed: time.time() it was first shown}
KIND_LABELS = {"compute": "🧮 Work it out", "predict": "🔮 Predict, then run", "target": "🎯 Reach the target",
               "bug": "🐞 Find the bug"}
STATUS_ICONS = {"done": "✅", "tried": "🟠", "": "⚪"}


def page_exercises(page: str) -> list[Exercise]:
    """The exercises of one page, in the lecture's order."""
    return [e for e in EXERCISES if e.page == page]


def lesson_order() -> list[str]:
    """The exercise ids in the order a student goes through them: the pinned lesson's, else the lecture's."""
    return lesson_exercises(pinned_lesson()) or [e.id for e in EXERCISES]


def next_exercise(current: str) -> Exercise | None:
    """The exercise after `current` (in the pinned lesson when it is part of it), or None at the end."""
    order = lesson_order()
    if current not in order:
        order = [e.id for e in EXERCISES]
    i = order.index(current)
    return exercise(order[i + 1]) if i + 1 < len(order) else None


def select(exercise_id: str) -> None:
    """Make an exercise the current one of its page (the panel opens expanded there)."""
    st.session_state.setdefault(SELECTED, {})[exercise(exercise_id).page] = exercise_id


def go_to(target: Exercise) -> None:
    """Select an exercise and show it: rerun on this page, or open its page with its setup."""
    select(target.id)
    variant = target.variant(current_student().seed)
    setup.open_elsewhere(variant.page, variant.link)


def _current(page: str, exercises: list[Exercise], status: dict[str, str]) -> Exercise:
    chosen = (st.session_state.get(SELECTED) or {}).get(page)
    if chosen in {e.id for e in exercises}:
        return exercise(chosen)
    return next((e for e in exercises if status.get(e.id) != "done"), exercises[0])


def _picker(page: str, exercises: list[Exercise], current: Exercise, status: dict[str, str]) -> Exercise:
    key = f"lesson_pick_{page.split('_', 1)[0]}"
    ids = [e.id for e in exercises]
    if st.session_state.get(key) != current.id:
        st.session_state[key] = current.id  # before the widget: Next and the Lessons page choose for it
    labels = {e.id: f"{STATUS_ICONS[status.get(e.id, '')]} {i + 1}/{len(ids)} · {e.title}"
              for i, e in enumerate(exercises)}
    # the student's pick (a callback runs before the script) stays the page's current exercise
    picked = st.selectbox("Exercise", ids, key=key, format_func=labels.get, label_visibility="collapsed",
                          on_change=lambda: select(st.session_state[key]))
    return exercise(picked)


def _check(variant: Variant, answer: object) -> None:
    if answer is None or (isinstance(answer, (str, list, dict)) and not answer):
        st.warning("Give an answer first.", icon="✏️")  # nothing typed is no attempt
        return
    wait = allow_check(st.session_state)
    if wait > 0:
        st.warning(f"Slow down: at most a few checks per second. Try again in {wait:.1f} s.", icon="⏳")
        return
    slot = f"{variant.id}:{variant.seed}"
    with st.spinner("Checking..."):
        result = check(variant, answer)
    shown = st.session_state.setdefault(SHOWN, {}).get(slot, time.time())
    saved = True
    try:
        save_attempt(variant.id, variant.seed, answer_text(answer), result.correct, result.misconception,
                     time.time() - shown)
    except ProgressError as exc:
        saved = False
        st.warning(f"Your answer was checked but not saved: {exc}", icon="💾")
    entry = st.session_state.setdefault(FEEDBACK, {}).setdefault(slot, {"tries": 0, "result": None})
    entry["tries"] += 1
    entry["result"] = result
    select(variant.id)  # the panel stays open on this exercise
    if saved:
        st.rerun()  # the feedback is in session state; the rerun also updates the progress shown above it


def _feedback(variant: Variant, page: str) -> None:
    entry = (st.session_state.get(FEEDBACK) or {}).get(f"{variant.id}:{variant.seed}")
    if not entry or entry["result"] is None:
        return
    result: Result = entry["result"]
    ex = variant.exercise
    if result.correct:
        st.success(result.message, icon="✅")
        st.markdown(f"**Why:** {ex.explanation}")
        following = next_exercise(ex.id)
        if following is None:
            st.caption("🎉 That was the last exercise of the lesson.")
        elif st.button(f"Next: {following.title} ▶", key=f"lesson_next_{ex.id}", type="primary"):
            if following.page == page:
                select(following.id)
                st.rerun()
            go_to(following)
        return
    st.error(result.message, icon="❌")
    if result.misconception:
        st.markdown(f"🧩 **Common mistake:** you probably *{result.misconception}*.")
    hint = ex.hints[min(entry["tries"], len(ex.hints)) - 1] if ex.hints else ""
    if hint and hint not in result.message:
        st.markdown(f"💡 **Hint:** {hint}")


def _open_setup(variant: Variant, page: str) -> None:
    if not variant.link:
        return
    if st.button("🔧 Open the setup", key=f"lesson_setup_{variant.id}", help="Sets this page's controls to the "
                 "exercise's setup"):
        setup.request_setup(page, variant.link)
        select(variant.id)
        st.rerun()


def exercise_panel(page_file: str) -> None:
    """The current exercise of this page for this session's student (nothing when the page has none)."""
    exercises = page_exercises(page_file)
    registry = setup.previous_registry()
    refused = setup.apply_pending(page_file, registry)
    if not exercises:
        return
    status = status_by_exercise(my_attempts())
    current = _current(page_file, exercises, status)
    opened = page_file in (st.session_state.get(SELECTED) or {})
    done = sum(status.get(e.id) == "done" for e in exercises)
    with st.expander(f"🎯 Exercise · {done} of {len(exercises)} done on this page", expanded=opened):
        if refused:
            st.warning("This page could not take the setup's " + ", ".join(f"`{k}`" for k in refused) + ".")
        top, right = st.columns([3, 1], vertical_alignment="center")
        with top:
            current = _picker(page_file, exercises, current, status)
        variant = current.variant(current_student().seed)
        st.session_state.setdefault(SHOWN, {}).setdefault(f"{variant.id}:{variant.seed}", time.time())
        with right:
            _open_setup(variant, page_file)
        st.caption(f"{KIND_LABELS.get(current.kind, current.kind)} · lecture: *{current.section}*")
        st.markdown(variant.question)
        field, button = st.columns([4, 1], vertical_alignment="bottom")
        with field:
            answer, ready = answer_input(variant)
        if button.button("Check", key=f"lesson_check_{variant.id}", disabled=not ready, width="stretch"):
            _check(variant, answer)
        _feedback(variant, page_file)
