"""Training: the run description (TrainConfig, Record), the loop, losses, optimizers, checkpoints."""
from cnn_core.training.config import Record, RegularizationConfig, TrainConfig, records_to_frame
from cnn_core.training.loop import (TrainingRun, build_initialized_model, evaluate, model_options_for, predict_logits,
                                    train)

__all__ = ["Record", "RegularizationConfig", "TrainConfig", "TrainingRun", "build_initialized_model", "evaluate",
           "model_options_for", "predict_logits", "records_to_frame", "train"]
