"""Take an experiment home: a frozen config as a plain PyTorch script and a Jupyter notebook (no cnn_core)."""
from cnn_core.export.architecture import architecture_notebook, architecture_script
from cnn_core.export.training import as_runs, export_problem, training_cells, training_notebook, training_script

__all__ = ["architecture_notebook", "architecture_script", "as_runs", "export_problem", "training_cells",
           "training_notebook", "training_script"]
