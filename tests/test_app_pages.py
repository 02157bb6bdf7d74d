"""Every page of the app runs under AppTest without an exception; the home page links every topic."""
from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.mark.parametrize("page", PAGE_FILES)
def test_page_runs_without_exception(app_test, page):
    at = app_test("playground.py").run()
    at.switch_page(f"pages/{page}").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.title) == 1, "every page has one title"
