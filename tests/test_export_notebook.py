"""The exported notebook is valid nbformat v4, runs top to bottom in a python3 kernel and prints the app's records."""
from __future__ import annotations

import json
import os
from dataclasses import replace

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from cnn_core import ModelOptions, OptimizerConfig
from cnn_core.export import architecture_notebook, training_notebook
from cnn_core.export.records import parse_records
from cnn_core.models.builder import LENET5_SPECS
from tests.test_export_script import SMALL, assert_reproduces


def _kernel_name() -> str:
    """ipykernel's own python3 kernel (offline: no kernelspec needs installing)."""
    from jupyter_client.kernelspec import KernelSpecManager
    specs = KernelSpecManager().find_kernel_specs()
    if "python3" not in specs:
        pytest.skip("ipykernel's python3 kernel is not available: pip install ipykernel")
    return "python3"


def _execute(text: str, folder) -> str:
    os.environ["OMP_NUM_THREADS"] = str(torch.get_num_threads())  # the kernel sums in this process's thread order
    """Run every cell in a fresh kernel (cwd = folder); return all the text it printed."""
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    NotebookClient(notebook, timeout=900, kernel_name=_kernel_name(),
                   resources={"metadata": {"path": str(folder)}}).execute()
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs if output.output_type == "stream")


@pytest.mark.slow
def test_exported_notebook_reproduces_the_train_pages_records(tmp_path):
    text = training_notebook(SMALL, "train_default")
    assert "cnn_core" not in text
    cells = json.loads(text)["cells"]
    assert [c["cell_type"] for c in cells[:3]] == ["markdown", "code", "markdown"]
    (printed,) = parse_records(_execute(text, tmp_path))
    assert_reproduces(printed, SMALL)


def test_architecture_notebook_runs_its_shape_check(tmp_path):
    out = _execute(architecture_notebook(LENET5_SPECS, (1, 28, 28)), tmp_path)
    assert "output_shape=10 params=61706" in out


@pytest.mark.slow
def test_exported_comparison_notebook_reproduces_every_run(tmp_path):
    # what the Optimizers, Regularization and Weight init pages export: several runs in one notebook
    configs = {"SGD": replace(SMALL, optimizer=OptimizerConfig("sgd")),
               "dropout + Xavier": replace(SMALL, init="xavier-uniform", model_options=ModelOptions(dropout=0.25))}
    printed = parse_records(_execute(training_notebook(configs, "comparison"), tmp_path))
    assert [run.label for run in printed] == list(configs)
    for run, config in zip(printed, configs.values()):
        assert_reproduces(run, config)
