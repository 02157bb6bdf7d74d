"""A tiny page with four linked widgets, for the lesson-link tests (pages/common/links/__init__.py)."""
import streamlit as st

from pages.common import links
links.start_page()
lr = links.linked(st.sidebar.slider, "Learning rate", 0.0, 1.0, 0.5, key="lr")
ep = links.linked(st.number_input, "Epochs", 1, 30, 5, key="ep")
bst = links.bound(st)  # what a module does with `st = links.bound(st)`
opt = bst.selectbox("Optimizer", ["sgd", "adam"], index=1, key="opt", format_func=str.upper)
more = bst.sidebar.expander("More")  # containers of a bound view link their widgets too
bn = more.checkbox("Batch norm", key="bn")
unlinked = more.checkbox("Not linked (no key)")
st.write({"lr": lr, "ep": ep, "opt": opt, "bn": bn, "query": links.current_query()})
links.finish_page()
