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
- weight and gradient histograms of every parameter at the end of an epoch (`weights/...`, `gradients/...`), at most
  MAX_HISTOGRAM_EPOCHS epochs of a run (a long run writes them every few epochs);
- a grid of sample training images (`samples`), the model graph (add_graph), the config as text;
- hyper-parameters with the final metrics (HParams tab; metric tags `hparam/...`) when the logger closes.

A hosted class shares one disk: a session's logs (a folder under `<runs>/sessions/`) and all sessions' logs
together have byte budgets (`LogBudget.from_env()`). When one bites, the oldest runs are deleted first, then
the current run stops writing histograms, then stops writing; each time a notice (`NOTICE_FILE` in the
session folder, no server path in it) says so. The read-back keeps at most MAX_POINTS_PER_TAG points per scalar
and MAX_HISTOGRAMS_PER_TAG per histogram, and reads the event files incrementally (`LogReader`).
At most one TensorBoard process runs per server (`tensorboard_host()`), owned by one session and stopped when
that session ends or leaves it idle.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import re
import shutil
import threading
import time
import uuid
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
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
                 histograms: bool = True, graph: bool = True, budget: "LogBudget | None" = None) -> None:
        self.run = run
        self.log_dir = Path(log_dir) if log_dir is not None else runs_dir() / run_name(run.config)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.histograms = histograms
        self.histogram_epochs = 0  # epochs whose histograms were written
        self.paused = False  # the byte budget stopped the writing
        self.notices: list[str] = []
        # a page's log sits in <runs>/sessions/<id>/<run>: budgeted; a log elsewhere only when a budget is given
        in_session = self.log_dir.parent.parent.name == "sessions"
        self.budget = budget if budget is not None else (LogBudget.from_env() if in_session else None)
        self._growth = 0  # the most one epoch has added to the folder (bytes): the next epoch's estimate
        self._size = folder_bytes(self.log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self.closed = False
        self._enforce(opening=True)
        if run.step == 0 and not self.paused:
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
        """Write one record: step scalars, or epoch scalars plus weight/gradient histograms (within the budget)."""
        w = self.writer
        if self.paused:
            return
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
            if self.histograms and self._histograms_due(record.epoch):
                self._write_histograms(record.epoch)
                self.histogram_epochs += 1
            w.flush()
            self._enforce()
        else:  # diverged / early_stop: a note in the Text tab
            w.add_text("events", record.message, record.step)
            w.flush()

    def _histograms_due(self, epoch: int) -> bool:
        # A run planned for more than MAX_HISTOGRAM_EPOCHS epochs writes them every `stride` epochs, and never more
        # than MAX_HISTOGRAM_EPOCHS times: each epoch's histograms cost as much disk as hundreds of scalars.
        planned = max(int(getattr(self.run.config, "epochs", 1) or 1), epoch)
        stride = math.ceil(planned / MAX_HISTOGRAM_EPOCHS)
        return self.histogram_epochs < MAX_HISTOGRAM_EPOCHS and (epoch % stride == 0 or epoch == 1)

    def _notice(self, text: str) -> None:
        self.notices.append(text)
        if self.budget is not None:
            write_notice(self.log_dir.parent, text)

    def _enforce(self, opening: bool = False) -> None:
        """Keep the session's folder and all logs within the budget: oldest runs go first, then histograms, then
        the writing of this run."""
        if self.budget is None:
            return
        size = folder_bytes(self.log_dir)
        if not opening:
            self._growth = max(self._growth, size - self._size)
        self._size = size
        session = self.log_dir.parent
        # the total counts the sessions' folders of a runs tree only: a log elsewhere never touches its neighbours
        shared = all_session_folders(session.parent) if session.parent.name == "sessions" else [session]
        need = self._growth if not opening else 0
        deleted = delete_oldest_runs([session], self.budget.session_bytes - need, keep=self.log_dir)
        deleted += delete_oldest_runs(shared, self.budget.total_bytes - need, keep=self.log_dir)
        if deleted:
            self._notice(f"The log budget ({self.budget.describe()}) deleted the oldest runs: "
                         + ", ".join(deleted[:5]) + (" ..." if len(deleted) > 5 else "") + ".")
        used = folder_bytes(session)
        if used + need <= self.budget.session_bytes and sum(map(folder_bytes, shared)) + need <= self.budget.total_bytes:
            return
        if self.histograms:
            self.histograms = False
            self._notice(f"{self.log_dir.name}: histograms are off from epoch {self.run.epoch + 1} on, to stay within "
                         f"the log budget ({self.budget.describe()}).")
            return
        self.paused = True
        self._notice(f"{self.log_dir.name}: the TensorBoard log stops at epoch {self.run.epoch} (the log budget, "
                     f"{self.budget.describe()}, is used up); training goes on.")

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
MAX_POINTS_PER_TAG = 500  # scalar points kept per run and tag (evenly sampled by TensorBoard's reservoir)
MAX_HISTOGRAMS_PER_TAG = 30  # histogram steps kept per run and tag
MAX_HISTOGRAM_EPOCHS = 20  # epochs of one run that write weight/gradient histograms
SESSION_BUDGET_ENV = "CNN_PLAYGROUND_TB_SESSION_MB"
TOTAL_BUDGET_ENV = "CNN_PLAYGROUND_TB_TOTAL_MB"
DEFAULT_SESSION_MB = 50.0
DEFAULT_TOTAL_MB = 2048.0
NOTICE_FILE = "budget-notices.txt"  # in a session folder: what the budget did, for the page to show
MAX_NOTICES = 20
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

    return EventAccumulator(str(run_folder), size_guidance={
        "scalars": MAX_POINTS_PER_TAG, "histograms": MAX_HISTOGRAMS_PER_TAG, "images": 1, "tensors": 1,
        "compressedHistograms": 1, "audio": 1})


class LogReader:
    """Event files read incrementally: one EventAccumulator per run folder (at most `max_runs` kept), each
    Reload() reading only what was appended since the last, each keeping at most MAX_POINTS_PER_TAG points."""

    def __init__(self, max_runs: int = 64) -> None:
        self._runs: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_runs

    def events(self, run_folder: Path):  # type: ignore[no-untyped-def]
        """The run's accumulator, brought up to date."""
        key = str(run_folder)
        with self._lock:
            accumulator = self._runs.pop(key, None) or _accumulator(run_folder)
            self._runs[key] = accumulator
            while len(self._runs) > self._max:
                self._runs.popitem(last=False)
        with _RELOAD_LOCK:  # one reload at a time: an accumulator is not meant to be reloaded by two threads
            accumulator.Reload()
        return accumulator

    def forget(self, folder: str | Path) -> None:
        """Drop the accumulators of runs under a folder (deleted runs)."""
        prefix = str(folder)
        with self._lock:
            for key in [k for k in self._runs if k.startswith(prefix)]:
                del self._runs[key]


_RELOAD_LOCK = threading.Lock()
_READER = LogReader()


def read_scalars(folder: str | Path, limit: int = MAX_RUNS_READ, reader: LogReader | None = None) -> pd.DataFrame:
    """The scalars of the session's newest runs (at most MAX_POINTS_PER_TAG per run and tag): run, tag, step, value."""
    reader = reader or _READER
    rows = []
    for run in session_runs(folder, limit):
        events = reader.events(run)
        for tag in events.Tags().get("scalars", []):
            rows += [{"run": run.name, "tag": tag, "step": e.step, "value": e.value} for e in events.Scalars(tag)]
    return pd.DataFrame(rows, columns=["run", "tag", "step", "value"])


def read_histograms(folder: str | Path, limit: int = MAX_RUNS_READ, reader: LogReader | None = None) -> pd.DataFrame:
    """The histograms of the session's newest runs (at most MAX_HISTOGRAMS_PER_TAG steps per run and tag) as bins:
    run, tag, step, left, right, count."""
    reader = reader or _READER
    rows = []
    for run in session_runs(folder, limit):
        events = reader.events(run)
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


# ----------------------------------------------------------------------------- byte budgets

@dataclass(frozen=True)
class LogBudget:
    """Bytes one session's logs, and all sessions' logs together, may take on disk."""

    session_bytes: int
    total_bytes: int

    @classmethod
    def from_env(cls) -> "LogBudget":
        """$CNN_PLAYGROUND_TB_SESSION_MB (default 50) and $CNN_PLAYGROUND_TB_TOTAL_MB (default 2048)."""
        def mib(name: str, default: float) -> int:
            try:
                value = float(os.environ.get(name, default))
            except ValueError:
                value = default
            return int((value if math.isfinite(value) and value > 0 else default) * 2**20)

        return cls(mib(SESSION_BUDGET_ENV, DEFAULT_SESSION_MB), mib(TOTAL_BUDGET_ENV, DEFAULT_TOTAL_MB))

    def describe(self) -> str:
        """'50 MiB per session, 2048 MiB in all'."""
        return f"{self.session_bytes / 2**20:g} MiB per session, {self.total_bytes / 2**20:g} MiB in all"


def folder_bytes(folder: str | Path) -> int:
    """Bytes of the files under a folder (0 when it does not exist; files vanishing meanwhile are skipped)."""
    total = 0
    for path in Path(folder).rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def all_session_folders(sessions_root: str | Path) -> list[Path]:
    """Every session folder under <runs>/sessions."""
    root = Path(sessions_root)
    return [p for p in root.iterdir() if p.is_dir() and _SESSION_RE.match(p.name)] if root.is_dir() else []


def delete_oldest_runs(folders: list[Path], max_bytes: int, keep: Path | None = None) -> list[str]:
    """Delete run folders (those with event files) under `folders`, least recently written first, until the folders
    hold at most max_bytes; `keep` (the run being written) is never deleted. Returns the deleted runs' names."""
    runs = [(run, folder_bytes(run)) for folder in folders for run in session_runs(folder, limit=10**6)]
    used = sum(folder_bytes(f) for f in folders)
    deleted = []
    for run, size in sorted(runs, key=lambda item: _newest_mtime(item[0])):
        if used <= max_bytes:
            break
        if keep is not None and run.resolve() == Path(keep).resolve():
            continue
        shutil.rmtree(run, ignore_errors=True)
        _READER.forget(run)
        used -= size
        deleted.append(run.name)
    return deleted


def write_notice(session_folder: str | Path, text: str) -> None:
    """Append a budget notice for the page (the last MAX_NOTICES kept)."""
    path = Path(session_folder) / NOTICE_FILE
    lines = read_notices(session_folder) + [text.replace("\n", " ")]
    try:
        path.write_text("\n".join(lines[-MAX_NOTICES:]) + "\n", encoding="utf-8")
    except OSError:
        pass


def read_notices(session_folder: str | Path) -> list[str]:
    """The budget notices of a session, oldest first."""
    path = Path(session_folder) / NOTICE_FILE
    try:
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        return []


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

IDLE_ENV = "CNN_PLAYGROUND_TENSORBOARD_IDLE_S"
DEFAULT_IDLE_S = 600.0  # a TensorBoard nobody has looked at for this long is stopped


class TensorBoardHost:
    """At most one TensorBoard process for the whole server, owned by one session.

    `open(owner, folder, alive)` starts it for that session's folder (or returns the one it already runs); a
    second session is refused while the owner lives and has looked within `idle_s`. A watchdog thread stops it
    once its owner's session ends (`alive(owner)` is False) or it was not looked at (`touch`) for `idle_s`.
    """

    def __init__(self, idle_s: float | None = None,
                 board_factory: Callable[[Path], LocalTensorBoard] = LocalTensorBoard,
                 check_every_s: float = 15.0) -> None:
        try:
            idle = float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S)) if idle_s is None else float(idle_s)
        except ValueError:
            idle = DEFAULT_IDLE_S
        self.idle_s = idle if idle > 0 else DEFAULT_IDLE_S
        self._factory = board_factory
        self._check_every = check_every_s
        self._lock = threading.RLock()
        self.board: LocalTensorBoard | None = None
        self.owner: str | None = None
        self._alive: Callable[[str], bool] = lambda owner: True
        self._seen = 0.0
        self._watchdog: threading.Thread | None = None
        self.started = 0  # processes started by this host (a benchmark reads it)

    def open(self, owner: str, folder: str | Path, alive: Callable[[str], bool] | None = None) -> LocalTensorBoard:
        """The TensorBoard of `owner`'s folder, started if needed; PlaygroundError when another session holds it."""
        from cnn_core.errors import PlaygroundError

        with self._lock:
            self.reap()
            if self.board is not None and self.owner != owner:
                raise PlaygroundError("TensorBoard is open for another session of this server (one at a time). It "
                                      f"stops when that session ends or after {self.idle_s / 60:.0f} idle minutes; "
                                      "meanwhile the charts above and the zip show your runs.")
            if self.board is not None and Path(self.board.logdir) != Path(folder):
                self._stop_locked()
            if self.board is None:
                board = self._factory(Path(folder))
                board.start()
                self.board, self.owner, self.started = board, owner, self.started + 1
                self._alive = alive or (lambda who: True)
                self._start_watchdog()
            self._seen = time.monotonic()
            return self.board

    def touch(self, owner: str) -> LocalTensorBoard | None:
        """The owner looked at it (resets the idle clock); its board, or None when it holds none."""
        with self._lock:
            self.reap()
            if self.board is None or self.owner != owner:
                return None
            self._seen = time.monotonic()
            return self.board

    def stop(self, owner: str | None = None) -> bool:
        """Stop the process (only if `owner` holds it, when given); True if one was stopped."""
        with self._lock:
            if self.board is None or (owner is not None and owner != self.owner):
                return False
            self._stop_locked()
            return True

    def _stop_locked(self) -> None:
        board, self.board, self.owner = self.board, None, None
        if board is not None:
            board.stop()

    def reap(self, now: float | None = None) -> bool:
        """Stop the process if its owner's session ended or it idled `idle_s`; True if it was stopped."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self.board is None:
                return False
            try:
                owner_alive = bool(self._alive(self.owner or ""))
            except Exception:  # a failing liveness check must not keep a process forever: the idle clock still runs
                owner_alive = True
            if owner_alive and self.board.running() and now - self._seen < self.idle_s:
                return False
            self._stop_locked()
            return True

    def _start_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog.is_alive():
            return

        def watch() -> None:
            while True:
                time.sleep(self._check_every)
                with self._lock:
                    self.reap()
                    if self.board is None:
                        self._watchdog = None
                        return

        self._watchdog = threading.Thread(target=watch, name="tensorboard-watchdog", daemon=True)
        self._watchdog.start()


_HOST: list[TensorBoardHost] = []
_HOST_LOCK = threading.Lock()


def tensorboard_host() -> TensorBoardHost:
    """The server's one TensorBoardHost (made once per process)."""
    with _HOST_LOCK:
        if not _HOST:
            _HOST.append(TensorBoardHost())
        return _HOST[0]
