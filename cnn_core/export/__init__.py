"""Take an experiment home: a frozen config as a plain PyTorch script and a Jupyter notebook (no cnn_core);
a detector or a segmenter as a runnable zip bundle (script, notebook, requirements.txt, README)."""
from cnn_core.export.architecture import architecture_notebook, architecture_script
from cnn_core.export.detection import detection_bundle, detection_notebook, detection_script
from cnn_core.export.segmentation import segmentation_bundle, segmentation_notebook, segmentation_script
from cnn_core.export.training import as_runs, export_problem, training_cells, training_notebook, training_script

__all__ = ["architecture_notebook", "architecture_script", "as_runs", "detection_bundle", "detection_notebook",
           "detection_script", "export_problem", "segmentation_bundle", "segmentation_notebook", "segmentation_script",
           "training_cells", "training_notebook", "training_script"]
