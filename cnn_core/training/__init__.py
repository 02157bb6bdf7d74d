"""Training: the run description (TrainConfig, Record), the loop, losses, optimizers, checkpoints."""
from cnn_core.training.config import (Record, RegularizationConfig, RunStatus, RunSummary, TrainConfig, epoch_records,
                                      records_to_frame, run_status, summarize_run)
from cnn_core.training.loop import (TrainingRun, build_initialized_model, evaluate, model_options_for, predict_logits,
                                    train)

__all__ = ["Record", "RegularizationConfig", "RunStatus", "RunSummary", "TrainConfig", "TrainingRun",
           "build_initialized_model", "epoch_records", "evaluate", "model_options_for", "predict_logits", "records_to_frame", "run_status", "summarize_run", "train"]
