"""Take an experiment home: download buttons for a plain PyTorch script and a Jupyter notebook of a run."""
from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

import streamlit as st

from cnn_core import LayerSpec, TrainConfig
from cnn_core.export import (architecture_notebook, architecture_script, export_problem, training_notebook,
                             training_script)


def export_downloads(configs: TrainConfig | Mapping[str, TrainConfig], name: str, key: str | None = None) -> None:
    """Draw '.py' and '.ipynb' download buttons for a config or a dict of configs; the files are generated
    only when a button is clicked (a callable as `data`), so drawing them costs nothing on a rerun."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "experiment"
    key = key or f"export_{name}"
    problem = export_problem(configs)
    if problem is not None:
        st.caption(f"No script export for this setting: {problem}")
        return
    st.caption("Take it home: the same run as plain PyTorch (no playground code). With the same seed on the CPU "
               "it prints the same losses and validation accuracy.")
    left, right = st.columns(2)
    left.download_button("⬇️ Python script (.py)", data=lambda: training_script(configs, name),
                         file_name=f"{name}.py", mime="text/x-python", key=f"{key}_py", on_click="ignore")
    right.download_button("⬇️ Jupyter notebook (.ipynb)", data=lambda: training_notebook(configs, name),
                          file_name=f"{name}.ipynb", mime="application/x-ipynb+json", key=f"{key}_ipynb",
                          on_click="ignore")


def architecture_downloads(specs: Sequence[LayerSpec], input_shape: Sequence[int], name: str = "network",
                           key: str = "arch_export") -> None:
    """Draw '.py' and '.ipynb' download buttons for a layer list alone: its nn.Module class and a shape check."""
    left, right = st.columns(2)
    left.download_button("⬇️ Model as a Python script (.py)",
                         data=lambda: architecture_script(specs, input_shape, name), file_name=f"{name}.py",
                         mime="text/x-python", key=f"{key}_py", on_click="ignore")
    right.download_button("⬇️ Model as a notebook (.ipynb)",
                          data=lambda: architecture_notebook(specs, input_shape, name), file_name=f"{name}.ipynb",
                          mime="application/x-ipynb+json", key=f"{key}_ipynb", on_click="ignore")


def bundle_downloads(bundle: Callable[[], bytes], notebook: Callable[[], str], name: str, what: str,
                     key: str) -> None:
    """Draw a '.zip' (script + notebook + requirements.txt + README) and an '.ipynb' download button for an
    experiment too big for one file; both are generated only when clicked."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "experiment"
    st.caption(f"Take it home: {what} as plain PyTorch (no playground code), with its requirements. With the same "
               "seed on the CPU it prints the same losses and validation metrics.")
    left, right = st.columns(2)
    left.download_button("⬇️ Runnable bundle (.zip)", data=bundle, file_name=f"{name}.zip", mime="application/zip",
                         key=f"{key}_zip", on_click="ignore")
    right.download_button("⬇️ Jupyter notebook (.ipynb)", data=notebook, file_name=f"{name}.ipynb",
                          mime="application/x-ipynb+json", key=f"{key}_ipynb", on_click="ignore")
