"""Streamlit helpers shared by the topic pages (not pages themselves: Streamlit only lists pages/*.py)."""
