"""Every page of the app runs under AppTest without an exception; the home page links every topic."""
from __future__ import annotations

from pathlib import Path

import pytest

from pages.common.links.unlinked import is_unlinked
from pages.common.topics import TOPICS, available_topics

ROOT = Path(__file__).resolve().parent.parent
PAGE_FILES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))


def test_home_page_shows_device_and_links_every_existing_topic(app_test):
    at = app_test("playground.py").run()
    assert not at.exception
    assert at.title[0].value.endswith("CNN Playground")
    assert any(m.label == "Device in use" and ("CPU" in m.value or "CUDA" in m.value) for m in at.metric)
    links = [el for el in at.main if getattr(el, "type", "") == "page_link"] or at.get("page_link")
    assert len(links) == len(available_topics()) >= 1


def test_every_page_file_is_a_listed_topic():
    # A page nobody links from the home page is a page students never find.
    assert set(PAGE_FILES) == {t.file for t in TOPICS if (ROOT / "pages" / t.file).exists()}


# AppTest's classes for the widgets a lesson link can carry (links.LINKABLE)
LINKABLE_ELEMENTS = {"Slider", "SelectSlider", "NumberInput", "Selectbox", "Radio", "Multiselect", "Checkbox",
                     "Toggle", "TextInput", "ButtonGroup"}


def keyed_inputs(node) -> set[str]:
    """The user keys of every linkable input widget drawn anywhere in an AppTest tree."""
    found = set()
    if type(node).__name__ in LINKABLE_ELEMENTS and getattr(node, "key", None):
        found.add(node.key)
    for child in getattr(node, "children", {}).values():
        found |= keyed_inputs(child)
    return found


@pytest.mark.parametrize("page", PAGE_FILES)
def test_page_runs_without_exception(app_test, page):
    at = app_test("playground.py").run()
    at.switch_page(f"pages/{page}").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.title) == 1, "every page has one title"
    # every keyed input the page draws is in its lesson link, or named with a reason in links/unlinked.py
    linked = set(at.session_state["_lesson_links"]["run"]) if "_lesson_links" in at.session_state else set()
    stray = sorted(k for k in keyed_inputs(at._tree) - linked if not is_unlinked(k))
    assert stray == [], f"{page}: keyed widgets no link carries: {stray}"


def test_navigation_has_home_first_then_every_topic_in_lecture_order(app_test):
    at = app_test("playground.py").run()
    assert not at.exception
    # AppTest keeps what st.navigation registered (the same registry switch_page resolves against).
    pages = list(at._registered_pages.values())
    assert pages[0]["page_name"] == "Home" and pages[0]["url_pathname"] == ""
    listed = [Path(p["script_path"]).name for p in pages[1:]]
    assert listed == [t.file for t in available_topics()]
    assert [p["page_name"] for p in pages[1:]] == [t.title for t in available_topics()]
    # URLs stay the ones Streamlit derives from the file name (bookmarks and browser tests use them).
    assert pages[1 + [t.file for t in available_topics()].index("3_Basic_Layers.py")]["url_pathname"] == "Basic_Layers"


def test_sections_follow_the_lecture_and_skip_missing_files(monkeypatch):
    from pages.common import topics
    grouped = topics.topics_by_section()
    assert list(grouped) == [s for s in topics.SECTIONS if s in grouped]
    assert list(grouped)[:4] == ["Lessons", "Foundations", "Inside a CNN", "Training"]  # Lessons first: found first
    future = topics.Topic(file="99_Not_Yet.py", section="Vision tasks", title="Not yet", icon="🚧",
                          lecture="-", blurb="-")
    monkeypatch.setattr(topics, "TOPICS", topics.TOPICS + (future,))
    assert future not in topics.available_topics()
    assert "Vision tasks" not in topics.topics_by_section() or all(
        t.file != future.file for t in topics.topics_by_section()["Vision tasks"])
    with pytest.raises(ValueError, match="section"):
        topics.Topic(file="x.py", section="Misc", title="x", icon="x", lecture="x", blurb="x")
