"""cnn_core: the models, data and training loops behind CNN Playground (no Streamlit in here).

Quick start::

    from cnn_core import TrainConfig, TrainingRun
    run = TrainingRun(TrainConfig(model="lenet5-modern", epochs=10, seed=0))
    for record in run.records():
        if record.kind == "epoch":
            print(record.epoch, record.val_acc)
    print("test accuracy", run.test_metrics()[1])
"""

# Lazy (PEP 562): `import cnn_core` imports no torch; each public name is imported from its submodule on
# first use, so a page pays only for what it touches (the home page, nothing heavy).
import importlib as _importlib

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["AugmentConfig", "augment_batch"], "cnn_core.data.augment"),
    **dict.fromkeys(["Checkpoint", "checkpoint_bytes", "load_checkpoint",
                     "load_weights_into", "save_checkpoint"], "cnn_core.training.checkpoints"),
    **dict.fromkeys(["DATASETS", "Dataset", "load_dataset"], "cnn_core.data"),
    **dict.fromkeys(["device_label", "pick_device", "seed_everything"], "cnn_core.device"),
    **dict.fromkeys(["ArchitectureError", "CheckpointError", "DatasetUnavailable", "ImageError",
                     "InvalidConfig", "PlaygroundError"], "cnn_core.errors"),
    **dict.fromkeys(["INIT_SCHEMES", "apply_init"], "cnn_core.models.init_schemes"),
    **dict.fromkeys(["LOSSES", "compute_loss"], "cnn_core.training.losses"),
    **dict.fromkeys(["ACTIVATIONS", "LayerSpec", "MODELS", "ModelOptions", "build_from_specs",
                     "build_model"], "cnn_core.models"),
    **dict.fromkeys(["OPTIMIZERS", "OptimizerConfig", "SCHEDULES", "ScheduleConfig",
                     "make_optimizer"], "cnn_core.training.optimizers"),
    **dict.fromkeys(["layer_summary", "summary_totals"], "cnn_core.inspect.summary"),
    **dict.fromkeys(["Record", "RegularizationConfig", "RunStatus", "TrainConfig", "TrainingRun",
                     "epoch_records", "evaluate", "predict_logits", "records_to_frame", "summarize_run",
                     "train"], "cnn_core.training"),
}

__all__ = [
    "ACTIVATIONS", "ArchitectureError", "AugmentConfig", "Checkpoint", "CheckpointError", "DATASETS", "Dataset",
    "DatasetUnavailable", "INIT_SCHEMES", "ImageError", "InvalidConfig", "LOSSES", "LayerSpec", "MODELS",
    "ModelOptions", "OPTIMIZERS", "OptimizerConfig", "PlaygroundError", "Record", "RegularizationConfig",
    "RunStatus", "SCHEDULES", "ScheduleConfig", "TrainConfig", "TrainingRun", "apply_init", "augment_batch", "build_from_specs",
    "build_model", "checkpoint_bytes", "compute_loss", "device_label", "epoch_records", "evaluate", "layer_summary",
    "load_checkpoint", "load_dataset", "load_weights_into", "make_optimizer", "pick_device", "predict_logits",
    "records_to_frame", "save_checkpoint", "seed_everything", "summarize_run", "summary_totals", "train",
]


def __getattr__(name: str):
    """Import a public name from its submodule on first access (and keep it)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cnn_core' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, as if they had been imported eagerly."""
    return sorted(set(globals()) | set(__all__))
