"""The publish widget for a run that differs at every page run (class-abuse checks: one client publishing in a loop)."""
import streamlit as st

from pages.common.classroom.publish import publish_widget

attempt = st.session_state.setdefault("attempt", 0)
st.session_state["attempt"] = attempt + 1
publish_widget("7_Optimizers.py", "flood", {"attempt": attempt}, 0, {"val_accuracy": 0.5}, None, key="flood")
