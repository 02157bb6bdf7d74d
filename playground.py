"""CNN Playground entry point (`streamlit run playground.py`): the router over the one topic list.

The sidebar is built with ``st.navigation`` from ``pages.common.topics.TOPICS``: a Home entry,
then one section per part of the lecture. Every rerun runs this file first, then the chosen page.
"""
import streamlit as st

from pages.home.content import show_home
from pages.common.topics import HOME_ICON, HOME_TITLE, topics_by_section

st.set_page_config(page_title="CNN Playground", page_icon="🧠", layout="wide")


def build_pages() -> dict[str, list]:
    """The st.Page objects per sidebar section: Home first ("" = no header), then each lecture section."""
    pages: dict[str, list] = {"": [st.Page(show_home, title=HOME_TITLE, icon=HOME_ICON, default=True)]}
    for section, topics in topics_by_section().items():
        pages[section] = [st.Page(f"pages/{t.file}", title=t.title, icon=t.icon) for t in topics]
    return pages


st.navigation(build_pages(), expanded=True).run()
