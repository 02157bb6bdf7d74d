"""The student's view of the lecture: progress per section, then the exercises of one section with "open"."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cnn_core.classroom import escape_markdown
from cnn_core.lessons import SECTIONS, Exercise, by_section, exercise
from pages.common.lessons.panel import KIND_LABELS, STATUS_ICONS, go_to
from pages.common.lessons.store import pinned_lesson as pinned
from pages.common.topics import TOPICS

TOPIC_OF = {t.file: t for t in TOPICS}


def section_progress(status: dict[str, str]) -> pd.DataFrame:
    """One row per lecture section: exercises done, tried (not yet right) and in total."""
    rows = []
    for section in SECTIONS:
        ids = [e.id for e in by_section(section)]
        done = sum(status.get(i) == "done" for i in ids)
        tried = sum(status.get(i) == "tried" for i in ids)
        rows.append({"section": section, "done": done, "tried": tried, "total": len(ids),
                     "progress": done / len(ids) if ids else 0.0})
    return pd.DataFrame(rows)


def exercise_row(ex: Exercise, status: dict[str, str], key_prefix: str = "lesson_open") -> None:
    """One exercise: status, title, kind, where; and a button that opens it on its page."""
    topic = TOPIC_OF.get(ex.page)
    where = f"{topic.icon} {topic.title}" if topic else ex.page
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.markdown(f"{STATUS_ICONS[status.get(ex.id, '')]} **{ex.title}**  \n"
                  f":gray[{KIND_LABELS.get(ex.kind, ex.kind)} · on {where}]")
    if right.button("open", key=f"{key_prefix}_{ex.id}", width="stretch"):
        go_to(ex)


def pinned_lesson(status: dict[str, str]) -> None:
    """The teacher's pinned lesson, first (nothing when none is pinned): its exercises and tasks in order."""
    lesson = pinned()
    if lesson is None:
        return
    known = [item["exercise"] for item in lesson.items if "exercise" in item and _exists(item["exercise"])]
    done = sum(status.get(i) == "done" for i in known)
    with st.container(border=True):
        st.markdown(f"📌 **Today's lesson: {escape_markdown(lesson.title)}** · {done} of {len(known)} done")
        for item in lesson.items:
            if "task" in item:
                st.markdown(f"📝 {escape_markdown(item['task'])}")
            elif item["exercise"] in known:
                exercise_row(exercise(item["exercise"]), status, key_prefix="lesson_pinned")


def _exists(exercise_id: str) -> bool:
    try:
        exercise(exercise_id)
        return True
    except KeyError:
        return False


def lecture_overview(status: dict[str, str]) -> None:
    """Progress per section, a section picker, and the picked section's exercises."""
    progress = section_progress(status)
    st.subheader("The lecture, section by section")
    left, right = st.columns([1, 1])
    with left:
        st.dataframe(progress, hide_index=True, width="stretch", height=min(36 * (len(progress) + 1), 420),
                     column_config={"section": st.column_config.TextColumn("Section"),
                                    "done": st.column_config.NumberColumn("✅ done", width=70),
                                    "tried": st.column_config.NumberColumn("🟠 tried", width=70),
                                    "total": st.column_config.NumberColumn("total", width=60),
                                    "progress": st.column_config.ProgressColumn("", min_value=0.0, max_value=1.0,
                                                                                format="percent", width=90)})
    with right:
        unfinished = [s for s, done, total in zip(progress["section"], progress["done"], progress["total"])
                      if done < total]
        first = SECTIONS.index(unfinished[0]) if unfinished else 0
        labels = {s: f"{s} · {d}/{t} done" for s, d, t in zip(progress["section"], progress["done"],
                                                               progress["total"])}
        section = st.selectbox("Section", list(SECTIONS), index=first, key="lesson_section",
                               format_func=labels.get)
        for ex in by_section(section):
            exercise_row(ex, status)
