"""cnn_core: the models, data and training loops behind CNN Playground (no Streamlit in here).

Quick start::

    from cnn_core import TrainConfig, TrainingRun
    run = TrainingRun(TrainConfig(model="lenet5-modern", epochs=10, seed=0))
    for record in run.records():
        if record.kind == "epoch":
            print(record.epoch, record.val_acc)
    print("test accuracy", run.test_metrics()[1])
"""
from cnn_core.data.augment import AugmentConfig, augment_batch
from cnn_core.training.checkpoints import Checkpoint, checkpoint_bytes, load_checkpoint, load_weights_into, save_checkpoint
from cnn_core.data import DATASETS, Dataset, load_dataset
from cnn_core.device import device_label, pick_device, seed_everything
from cnn_core.errors import (ArchitectureError, CheckpointError, DatasetUnavailable, ImageError, InvalidConfig,
                             PlaygroundError)
from cnn_core.models.init_schemes import INIT_SCHEMES, apply_init
from cnn_core.training.losses import LOSSES, compute_loss
from cnn_core.models import ACTIVATIONS, MODELS, LayerSpec, ModelOptions, build_from_specs, build_model
from cnn_core.training.optimizers import OPTIMIZERS, SCHEDULES, OptimizerConfig, ScheduleConfig, make_optimizer
from cnn_core.inspect.summary import layer_summary, summary_totals
from cnn_core.training import (Record, RegularizationConfig, TrainConfig, TrainingRun, evaluate, predict_logits,
                               records_to_frame, train)

__all__ = [
    "ACTIVATIONS", "ArchitectureError", "AugmentConfig", "Checkpoint", "CheckpointError", "DATASETS", "Dataset",
    "DatasetUnavailable", "INIT_SCHEMES", "ImageError", "InvalidConfig", "LOSSES", "LayerSpec", "MODELS",
    "ModelOptions", "OPTIMIZERS", "OptimizerConfig", "PlaygroundError", "Record", "RegularizationConfig",
    "SCHEDULES", "ScheduleConfig", "TrainConfig", "TrainingRun", "apply_init", "augment_batch", "build_from_specs",
    "build_model", "checkpoint_bytes", "compute_loss", "device_label", "evaluate", "layer_summary",
    "load_checkpoint", "load_dataset", "load_weights_into", "make_optimizer", "pick_device", "predict_logits",
    "records_to_frame", "save_checkpoint", "seed_everything", "summary_totals", "train",
]
