"""Write a training run to a TensorBoard log, as a consumer of the run's records.

Training stays a generator; logging wraps it::

    run = TrainingRun(config)
    with TensorBoardLogger(run) as tb:
        for record in logged(run.records(), tb):
            ...                      # draw progress, or nothing

What is written (open with `tensorboard --logdir runs`):
- scalars per step (`step/train_loss`, `step/train_accuracy`, `step/lr`, `step/grad_norm`, x = optimizer step)
  and per epoch (`epoch/train_loss`, `epoch/val_loss`, `epoch/train_accuracy`, `epoch/val_accuracy`,
  `epoch/seconds`, x = epoch);
- weight and gradient histograms of every parameter at the end of each epoch (`weights/...`, `gradients/...`);
- a grid of sample training images (`samples`), the model graph (add_graph), the config as text;
- hyper-parameters with the final metrics (HParams tab; metric tags `hparam/...`) when the logger closes.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
import uuid
import warnings
from pathlib import Path
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from cnn_core.serialization import to_jsonable
from cnn_core.training import Record, TrainConfig, TrainingRun

RUNS_ENV = "CNN_PLAYGROUND_RUNS"


def runs_dir() -> Path:
    """The folder that holds one subfolder per logged run: $CNN_PLAYGROUND_RUNS, else ./runs."""
    return Path(os.environ.get(RUNS_ENV) or Path.cwd() / "runs")


def run_name(config: TrainConfig) -> str:
    """A unique, readable folder name such as '20250101-120000-lenet5-modern-adam-lr0.001-seed0-1a2b'."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = f"{stamp}-{config.model}-{config.optimizer.name}-lr{config.optimizer.resolved_lr():g}-seed{config.seed}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text) + "-" + uuid.uuid4().hex[:4]


def hparam_dict(config: TrainConfig) -> dict[str, Any]:
    """The config's main hyper-parameters as flat TensorBoard HParams values (str, int, float, bool)."""
    reg, opts = config.regularization, config.model_options
    return {
        "dataset": config.dataset, "per_class": config.per_class or 0, "model": config.model,
        "init": config.init, "optimizer": config.optimizer.name, "lr": config.optimizer.resolved_lr(),
        "weight_decay": config.optimizer.weight_decay, "schedule": config.schedule.name, "loss": config.loss,
        "batch_size": config.batch_size, "seed": config.seed, "dropout": opts.dropout,
        "batch_norm": opts.batch_norm, "l1": reg.l1, "l2_penalty": reg.l2_penalty,
        "label_smoothing": reg.label_smoothing, "augment": reg.augment.enabled(),
        "early_stopping_patience": reg.early_stopping_patience or 0,
    }


def final_metrics(run: TrainingRun) -> dict[str, float]:
    """Last epoch's validation loss/accuracy and the test loss/accuracy of the run's model now."""
    epochs = [r for r in run.history if r.kind == "epoch"]
    test_loss, test_acc = run.test_metrics()
    metrics = {
        "hparam/val_loss": epochs[-1].val_loss if epochs else math.nan,
        "hparam/val_accuracy": epochs[-1].val_acc if epochs else math.nan,
        "hparam/test_loss": test_loss,
        "hparam/test_accuracy": test_acc,
    }
    return {k: float(v) for k, v in metrics.items()}


class TensorBoardLogger:
    """Writes one TrainingRun to `log_dir` (default: runs_dir() / run_name(config)).

    Open it before iterating (graph and sample images go in first, for a run that has not trained
    yet), pass every record to `log`, and close it (or use `with`) to write the HParams summary.
    Opening a second logger on the same folder (continue training) appends to the same run.
    """

    def __init__(self, run: TrainingRun, log_dir: str | Path | None = None, sample_images: int = 16,
                 histograms: bool = True, graph: bool = True) -> None:
        self.run = run
        self.log_dir = Path(log_dir) if log_dir is not None else runs_dir() / run_name(run.config)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.histograms = histograms
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self.closed = False
        if run.step == 0:
            self._write_start(sample_images, graph)

    def _write_start(self, sample_images: int, graph: bool) -> None:
        data = self.run.data
        if sample_images > 0 and len(data.train_x):
            images = data.denormalize(data.train_x[:sample_images].cpu())  # N x C x H x W in [0, 1]
            self.writer.add_images("samples", images, 0, dataformats="NCHW")
        config_json = json.dumps(to_jsonable(self.run.config), indent=2)
        self.writer.add_text("config", "```\n" + config_json + "\n```", 0)
        if graph:
            self._write_graph()
        self.writer.flush()

    def _write_graph(self) -> None:
        # add_graph traces one forward pass; in eval mode so batch-norm statistics are left alone.
        model = self.run.model
        was_training = model.training
        sample = self.run.data.train_x[:1].to(next(model.parameters()).device)  # 1 x C x H x W
        model.eval()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.writer.add_graph(model, sample)
        except Exception as exc:  # tracing is best effort: a graph that cannot be traced must not stop training
            self.writer.add_text("graph_error", f"add_graph failed: {type(exc).__name__}: {exc}", 0)
        finally:
            model.train(was_training)

    def log(self, record: Record) -> None:
        """Write one record: step scalars, or epoch scalars plus weight/gradient histograms."""
        w = self.writer
        if record.kind == "step":
            w.add_scalar("step/train_loss", record.train_loss, record.step)
            w.add_scalar("step/train_accuracy", record.train_acc, record.step)
            w.add_scalar("step/lr", record.lr, record.step)
            w.add_scalar("step/grad_norm", record.grad_norm, record.step)
        elif record.kind == "epoch":
            for tag, value in (("train_loss", record.train_loss), ("val_loss", record.val_loss),
                               ("train_accuracy", record.train_acc), ("val_accuracy", record.val_acc),
                               ("seconds", record.epoch_seconds)):
                w.add_scalar(f"epoch/{tag}", value, record.epoch)
            if self.histograms:
                self._write_histograms(record.epoch)
            w.flush()
        else:  # diverged / early_stop: a note in the Text tab
            w.add_text("events", record.message, record.step)
            w.flush()

    def _write_histograms(self, epoch: int) -> None:
        # The gradients are those of the epoch's last step (kept on .grad until the next zero_grad).
        for name, param in self.run.model.named_parameters():
            self.writer.add_histogram(f"weights/{name}", param.detach().cpu(), epoch)
            if param.grad is not None and torch.isfinite(param.grad).all():
                self.writer.add_histogram(f"gradients/{name}", param.grad.detach().cpu(), epoch)

    def close(self, metrics: dict[str, float] | None = None) -> None:
        """Write the hyper-parameters with the final metrics (default: final_metrics(run)), then close."""
        if self.closed:
            return
        self.closed = True
        try:
            if any(r.kind == "epoch" for r in self.run.history):
                metrics = metrics if metrics is not None else final_metrics(self.run)
                metrics = {k: v for k, v in metrics.items() if math.isfinite(v)}
                experiment, start, end = hparams(hparam_dict(self.run.config), metrics)
                file_writer = self.writer._get_file_writer()
                for summary in (experiment, start, end):
                    file_writer.add_summary(summary, self.run.step)
                for tag, value in metrics.items():
                    self.writer.add_scalar(tag, value, self.run.step)
        finally:
            self.writer.close()

    def __enter__(self) -> "TensorBoardLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def logged(records: Iterable[Record], logger: TensorBoardLogger) -> Iterator[Record]:
    """Pass records through unchanged, writing each to the logger first."""
    for record in records:
        logger.log(record)
        yield record


def train_with_tensorboard(run: TrainingRun, epochs: int | None = None,
                           log_dir: str | Path | None = None) -> Iterator[Record]:
    """Run `run.records(epochs)` while logging it; the log closes (HParams written) when iteration ends."""
    with TensorBoardLogger(run, log_dir) as logger:
        yield from logged(run.records(epochs), logger)


def tensorboard_command(folder: str | Path | None = None) -> str:
    """The shell command that opens TensorBoard on a runs folder."""
    folder = Path(folder) if folder is not None else runs_dir()
    text = str(folder)
    return f'tensorboard --logdir "{text}"' if " " in text else f"tensorboard --logdir {text}"
