"""A deep link on a fresh server goes through playground.py's sectioned navigation (pages/common/links/router.py).

Streamlit treats an app with a ``pages/`` folder next to its main script as a pages-directory app until a script
calls ``st.navigation``: the first visitor of a fresh server who opens ``/Segmentation`` got the page run on its
own, with the raw file list ("playground", "Basic Layers", ...) as the sidebar. AppTest reproduces that state with
the process-wide flag set as a fresh server has it.
"""
from __future__ import annotations

import pytest
from streamlit.runtime.pages_manager import PagesManager

from pages.common.topics import HOME_TITLE, available_topics


@pytest.fixture
def fresh_server(monkeypatch):
    """The flag as Streamlit sets it in a fresh server process for this repository (a pages/ folder exists)."""
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)


def registered_titles(at) -> list[str]:
    """The pages the session's navigation registered (AppTest keeps Streamlit's page registry)."""
    return [info.get("page_name") for info in at._registered_pages.values()]


@pytest.mark.parametrize("page, key, value", [("11_Segmentation.py", "seg_epochs", 5), ("8_Train.py", "tr_seed", 7)])
def test_a_deep_link_on_a_fresh_server_runs_under_the_sectioned_navigation(app_test, fresh_server, page, key, value):
    at = app_test("playground.py", default_timeout=120)
    at.switch_page(f"pages/{page}")
    at.query_params[key] = str(value)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert registered_titles(at) == [HOME_TITLE] + [t.title for t in available_topics()]  # not "playground", ...
    assert at.number_input(key=key).value == value  # the link's settings survive the rerun
    assert PagesManager.uses_pages_directory is False  # later visitors go straight to st.navigation
    at.run()
    assert not at.exception and at.number_input(key=key).value == value


def test_a_page_run_as_the_main_script_is_left_alone(app_test, fresh_server):
    # ``streamlit run pages/11_Segmentation.py`` (and AppTest of one page): no router to go through, no rerun loop
    at = app_test("pages/11_Segmentation.py", default_timeout=120).run()
    assert not at.exception and at.title[0].value.endswith("Semantic segmentation")
    assert "_router_rerun_done" not in at.session_state
