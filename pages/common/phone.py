"""Hints for students on a phone, where Streamlit hides the sidebar behind a » button at the top left."""
from __future__ import annotations

import streamlit as st

# Shown only under 640 px (the .phone-only rule in playground.py's style block): on a laptop the sidebar is open.
SIDEBAR_HINT = ("📱 On a phone, the settings are behind the <b>»</b> at the top left: tap it to open them, "
                "then tap outside them (or ×) to come back here.")


def sidebar_settings_hint() -> None:
    """A line that tells a phone user where this page's sidebar settings are (hidden on wider screens)."""
    st.html(f'<p class="phone-only" role="note" data-testid="phoneSidebarHint">{SIDEBAR_HINT}</p>')
