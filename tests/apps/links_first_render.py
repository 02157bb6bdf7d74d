"""One linked widget of each kind, two of them started from session state the way the Optimizers page does."""
import streamlit as st

from pages.common import links

links.start_page()
st.session_state.setdefault("epochs", 4)  # the page's own start, before the widget (a "preset")
st.session_state.setdefault("names", ["relu", "tanh"])
ui = links.bound(st)
values = {
    "lr": ui.slider("Learning rate", 0.0, 1.0, 0.5, key="lr"),
    "epochs": ui.number_input("Epochs", 1, 30, key="epochs"),
    "seed": ui.number_input("Seed", 0, 100, 3, key="seed"),
    "opt": ui.selectbox("Optimizer", ["sgd", "adam", "momentum"], index=1, key="opt", format_func=str.upper),
    "mode": ui.radio("Mode", ["fast", "exact"], key="mode"),
    "names": ui.multiselect("Activations", ["relu", "tanh", "gelu"], key="names"),
    "bn": ui.checkbox("Batch norm", key="bn"),
    "size": ui.select_slider("Size", [8, 16, 32, 64], 16, key="size"),
}
st.write(values)
links.finish_page()
