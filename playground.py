"""CNN Playground entry point (`streamlit run playground.py`): the router over the one topic list.

The sidebar is built with ``st.navigation`` from ``pages.common.topics.TOPICS``: a Home entry,
then one section per part of the lecture. Every rerun runs this file first, then the chosen page.
"""
import streamlit as st

from pages.home.content import show_home
from pages.common.topics import HOME_ICON, HOME_TITLE, topics_by_section

st.set_page_config(page_title="CNN Playground", page_icon="🧠", layout="wide")

# Captions in the body text colour at 85 % opacity: Streamlit's own caption grey is 3.9:1 on white, under the
# 4.5:1 that small text needs; this is about 8:1 in the light theme and 11:1 in the dark one.
st.html("<style>[data-testid='stCaptionContainer'] { color: inherit; opacity: 0.85; }</style>")
# Same 4.5:1 rule for Streamlit's code highlighting (its blue, green and orange tokens are about 3:1 on the light
# code background) and the slider's value (primary colour on the page, 4:1 in the dark theme): each colour is
# mixed half and half with the text colour around it, so it gets darker in the light theme and lighter in the
# dark one. A formula wider than the screen scrolls in its own box, never the page. Phones (< 640 px): pages
# with settings in the hidden sidebar say where they are (.phone-only), metric values wrap instead of ending in
# "…", and the segmentation predictions stay two columns of smaller images instead of one long column.
st.html("""<style>
.stCode .token.keyword, .stCode .token.class-name, .stCode .token.function, .stCode .token.boolean
  { color: color-mix(in srgb, #1c83e1 50%, currentColor); }
.stCode .token.string { color: color-mix(in srgb, #09ab3b 50%, currentColor); }
.stCode .token.operator, .stCode .token.decorator { color: color-mix(in srgb, #ed6f13 50%, currentColor); }
.stCode .token.number { color: color-mix(in srgb, #29b09d 50%, currentColor); }
.stCode .token.comment, .stCode .token.punctuation { color: color-mix(in srgb, #808495 50%, currentColor); }
.stCode .linenumber { color: inherit !important; opacity: 0.7; }
[data-testid='stSliderThumbValue'] { color: color-mix(in srgb, #c53948 55%, currentColor); }
.phone-only { display: none; }
[data-testid='stMarkdownContainer'] .katex-display, [data-testid='stLatex'],
[data-testid='stMarkdownContainer'] :is(p, li):has(> .katex) { overflow-x: auto; overflow-y: hidden; }
@media (max-width: 640px) {
  .phone-only { display: block; }
  [data-testid='stMetricValue'], [data-testid='stMetricValue'] * { white-space: normal !important; }
  .st-key-seg_predictions [data-testid='stHorizontalBlock'] { flex-flow: row wrap; }
  .st-key-seg_predictions [data-testid='stColumn'] { flex: 0 0 calc(50% - 0.5rem) !important; min-width: 0 !important; }
}
</style>""")


def build_pages() -> dict[str, list]:
    """The st.Page objects per sidebar section: Home first ("" = no header), then each lecture section."""
    pages: dict[str, list] = {"": [st.Page(show_home, title=HOME_TITLE, icon=HOME_ICON, default=True)]}
    for section, topics in topics_by_section().items():
        pages[section] = [st.Page(f"pages/{t.file}", title=t.title, icon=t.icon) for t in topics]
    return pages


st.navigation(build_pages(), expanded=True).run()
