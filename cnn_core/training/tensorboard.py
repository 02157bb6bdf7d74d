"""Write a training run to a TensorBoard log, as a consumer of the run's records.

Training stays a generator; logging wraps it::

    run = TrainingRun(config)
    with TensorBoardLogger(run) as tb:
        for record in logged(run.records(), tb):
            ...                      # draw progress, or nothing

Each browser session logs under a folder of its own (`session_runs_dir(session_id)`), which the page reads
back (`read_scalars`, `read_histograms`), offers as a zip (`zip_folder`) and, on a student's own machine,
opens in a TensorBoard it starts (`LocalTensorBoard`). `cleanup_old_sessions` removes folders past an age.

What is written (open with `tensorboard --logdir <folder>`):
- scalars per step (`step/train_loss`, `step/train_accuracy`, `step/lr`, `step/grad_norm`, x = optimizer step)
  and per epoch (`epoch/train_loss`, `epoch/val_loss`, `epoch/train_accuracy`, `epoch/val_accuracy`,
  `epoch/seconds`, x = epoch);
- weight and gradient histograms of every parameter at the end of each epoch (`weights/...`, `gradients/...`);
- a grid of sample training images (`samples`), the model graph (add_graph), the config as text;
- hyper-parameters with the final metrics (HParams tab; metric tags `hparam/...`) when the logger closes.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import re
import time
import uuid
import warnings
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from cnn_core.data.datasets import default_data_dir
from cnn_core.inspect.hooks import eval_mode
from cnn_core.serialization import to_jsonable
from cnn_core.training import Record, TrainConfig, TrainingRun, epoch_records

RUNS_ENV = "CNN_PLAYGROUND_RUNS"


def runs_dir() -> Path:
    """The folder of all TensorBoard logs: $CNN_PLAYGROUND_RUNS, else <data folder>/tensorboard.

    Never ./runs in the working directory: a hosted playground's cwd is shared by every student.
    """
    return Path(os.environ.get(RUNS_ENV) or default_data_dir() / "tensorboard")


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
    epochs = epoch_records(run.history)
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
        sample = self.run.data.train_x[:1].to(next(model.parameters()).device)  # 1 x C x H x W
        try:
            with eval_mode(model), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.writer.add_graph(model, sample)
        except Exception as exc:  # tracing is best effort: a graph that cannot be traced must not stop training
            self.writer.add_text("graph_error", f"add_graph failed: {type(exc).__name__}: {exc}", 0)

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


# ----------------------------------------------------------------------------- per-session logs

MAX_AGE_ENV = "CNN_PLAYGROUND_RUNS_MAX_AGE_H"
DEFAULT_MAX_AGE_H = 24.0  # a session's logs live one day after their last write
MAX_ZIP_BYTES = 200 * 1024 * 1024  # a session's folder offered as one download
MAX_RUNS_READ = 20  # newest runs of a session drawn in the page
_SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def new_session_id() -> str:
    """A random, unguessable id for one browser session's log folder."""
    return uuid.uuid4().hex


def session_runs_dir(session_id: str, root: str | Path | None = None) -> Path:
    """The log folder of one session: <runs_dir()>/sessions/<session_id> (created on first use)."""
    if not _SESSION_RE.match(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    folder = (Path(root) if root is not None else runs_dir()) / "sessions" / session_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def max_age_hours() -> float:
    """How long a session's logs are kept after its last write: $CNN_PLAYGROUND_RUNS_MAX_AGE_H, else 24."""
    try:
        value = float(os.environ.get(MAX_AGE_ENV, DEFAULT_MAX_AGE_H))
    except ValueError:
        return DEFAULT_MAX_AGE_H
    return value if math.isfinite(value) and value > 0 else DEFAULT_MAX_AGE_H


def _newest_mtime(folder: Path) -> float:
    times = [folder.stat().st_mtime]
    times += [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()]
    return max(times)


def cleanup_old_sessions(max_age_h: float | None = None, root: str | Path | None = None,
                         now: float | None = None, keep: Iterable[str] = ()) -> list[str]:
    """Delete session folders whose newest file is older than max_age_h hours; returns the deleted ids."""
    import shutil

    max_age_h = max_age_hours() if max_age_h is None else max_age_h
    sessions = (Path(root) if root is not None else runs_dir()) / "sessions"
    if not sessions.is_dir():
        return []
    now = time.time() if now is None else now
    kept, deleted = set(keep), []
    for folder in sessions.iterdir():
        if not folder.is_dir() or folder.name in kept or not _SESSION_RE.match(folder.name):
            continue
        try:
            if now - _newest_mtime(folder) > max_age_h * 3600:
                shutil.rmtree(folder)
                deleted.append(folder.name)
        except OSError:  # a folder another process is deleting or writing right now
            continue
    return sorted(deleted)


def session_runs(folder: str | Path, limit: int = MAX_RUNS_READ) -> list[Path]:
    """The run folders (those holding event files) under a session folder, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    runs = [p for p in folder.iterdir() if p.is_dir() and any(p.glob("events.out.tfevents.*"))]
    return sorted(runs, key=_newest_mtime, reverse=True)[:limit]


def _accumulator(run_folder: Path):  # type: ignore[no-untyped-def]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_folder), size_guidance={"scalars": 0, "histograms": 0, "images": 1,
                                                               "tensors": 1, "compressedHistograms": 1})
    events.Reload()
    return events


def read_scalars(folder: str | Path, limit: int = MAX_RUNS_READ) -> pd.DataFrame:
    """Every scalar of the session's runs, read back from the event files: run, tag, step, value."""
    rows = []
    for run in session_runs(folder, limit):
        events = _accumulator(run)
        for tag in events.Tags().get("scalars", []):
            rows += [{"run": run.name, "tag": tag, "step": e.step, "value": e.value} for e in events.Scalars(tag)]
    return pd.DataFrame(rows, columns=["run", "tag", "step", "value"])


def read_histograms(folder: str | Path, limit: int = MAX_RUNS_READ) -> pd.DataFrame:
    """Every histogram of the session's runs as bins: run, tag, step, left, right, count."""
    rows = []
    for run in session_runs(folder, limit):
        events = _accumulator(run)
        for tag in events.Tags().get("histograms", []):
            for event in events.Histograms(tag):
                h = event.histogram_value
                left = h.min
                for limit_, count in zip(h.bucket_limit, h.bucket):
                    right = max(left, min(limit_, h.max))  # bucket_limit = right edges, clipped to [min, max]
                    if count > 0:
                        rows.append({"run": run.name, "tag": tag, "step": event.step, "left": left,
                                     "right": right, "count": count})
                    left = right
    return pd.DataFrame(rows, columns=["run", "tag", "step", "left", "right", "count"])


def zip_folder(folder: str | Path, max_bytes: int = MAX_ZIP_BYTES) -> bytes:
    """The folder's files as a zip (paths relative to it), to open in one's own TensorBoard."""
    import io
    import zipfile

    from cnn_core.errors import PlaygroundError

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    total = sum(p.stat().st_size for p in files)
    if total > max_bytes:
        raise PlaygroundError(f"The log folder is too large to download ({total / 2**20:.0f} MiB, at most "
                              f"{max_bytes / 2**20:.0f} MiB): untick the histograms or train fewer runs.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def is_loopback_host(host: str | None) -> bool:
    """True for localhost / 127.x / ::1: the browser runs on the machine that serves the app."""
    if not host:
        return False
    host = host.strip("[]").lower()
    return host == "localhost" or host == "::1" or host.startswith("127.")


_STARTED: "weakref.WeakSet[LocalTensorBoard]"


def _stop_all() -> None:
    for board in list(_STARTED):
        board.stop()


class LocalTensorBoard:
    """A TensorBoard server on 127.0.0.1 for one log folder, for a playground on the student's own machine.

    `start()` runs `python -m tensorboard.main` on a free port and waits until it answers; `stop()` ends it.
    """

    def __init__(self, logdir: str | Path, port: int | None = None) -> None:
        self.logdir = Path(logdir)
        self.port = port
        self.process = None  # subprocess.Popen while running

    @property
    def url(self) -> str:
        """The server's address (valid once started)."""
        return f"http://127.0.0.1:{self.port}/"

    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = 60.0) -> str:
        """Start TensorBoard (once) and return its URL; PlaygroundError when it does not come up."""
        import socket
        import subprocess
        import sys
        import urllib.request

        from cnn_core.errors import PlaygroundError

        if self.running():
            return self.url
        if self.port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
        log = open(self.logdir / "tensorboard-server.log.txt", "wb")  # noqa: SIM115 (the child owns it)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(self.logdir), "--host", "127.0.0.1",
             "--port", str(self.port), "--reload_interval", "5"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _STARTED.add(self)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise PlaygroundError("TensorBoard did not start; download the zip and open it with your own TensorBoard.")

    def stop(self) -> None:
        """Stop the server (terminate, then kill)."""
        import subprocess

        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


_STARTED = weakref.WeakSet()
atexit.register(_stop_all)  # no TensorBoard outlives the app that started it
