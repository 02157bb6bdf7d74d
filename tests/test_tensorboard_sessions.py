"""Per-session TensorBoard folders: isolation, read-back against TensorBoard's own reader, zip, cleanup by age."""
from __future__ import annotations

import io
import os
import time
import urllib.request
import zipfile

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from cnn_core.errors import PlaygroundError
from cnn_core.training.tensorboard import (LocalTensorBoard, cleanup_old_sessions, is_loopback_host, new_session_id,
                                           read_histograms, read_scalars, session_runs, session_runs_dir, zip_folder)


def write_run(folder, name: str, losses: list[float], weights: torch.Tensor | None = None) -> None:
    with SummaryWriter(str(folder / name)) as writer:
        for step, loss in enumerate(losses, start=1):
            writer.add_scalar("step/train_loss", loss, step)
        if weights is not None:
            writer.add_histogram("weights/w", weights, 1)


def test_each_session_reads_back_only_its_own_runs(tmp_path):
    alice, bob = new_session_id(), new_session_id()
    assert alice != bob and len(alice) == 32
    a, b = session_runs_dir(alice, tmp_path), session_runs_dir(bob, tmp_path)
    write_run(a, "a-run", [2.3, 1.1, 0.7])
    write_run(b, "b-run", [9.0])
    scalars = read_scalars(a)
    assert set(scalars["run"]) == {"a-run"}
    assert scalars.sort_values("step")["value"].tolist() == pytest.approx([2.3, 1.1, 0.7])
    assert read_scalars(b)["value"].tolist() == [9.0]
    assert [p.name for p in session_runs(a)] == ["a-run"]
    for bad in ("../x", "", "a/b", "short", "x" * 65):
        with pytest.raises(ValueError):
            session_runs_dir(bad, tmp_path)


def test_histogram_bins_match_tensorboards_reader(tmp_path):
    folder = session_runs_dir(new_session_id(), tmp_path)
    weights = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    write_run(folder, "r", [1.0], weights)
    bins = read_histograms(folder)
    reference = EventAccumulator(str(folder / "r"), size_guidance={"histograms": 0})
    reference.Reload()
    h = reference.Histograms("weights/w")[0].histogram_value
    assert bins["count"].sum() == 1000
    assert bins["left"].min() == pytest.approx(h.min) and h.min <= weights.min().item()
    assert bins["right"].max() == pytest.approx(h.max) and h.max >= weights.max().item()
    assert (bins["right"] >= bins["left"]).all()
    assert bins["count"].tolist() == [c for c in h.bucket if c > 0]
    assert h.num == 1000 and h.sum == pytest.approx(weights.sum().item(), abs=1e-3)


def test_zip_holds_every_file_and_is_bounded(tmp_path):
    folder = session_runs_dir(new_session_id(), tmp_path)
    write_run(folder, "r1", [1.0, 0.5])
    write_run(folder, "r2", [3.0])
    archive = zipfile.ZipFile(io.BytesIO(zip_folder(folder)))
    names = archive.namelist()
    assert sorted({n.split("/")[0] for n in names}) == ["r1", "r2"]
    unpacked = tmp_path / "unpacked"
    archive.extractall(unpacked)
    assert read_scalars(unpacked).sort_values(["run", "step"])["value"].tolist() == [1.0, 0.5, 3.0]
    with pytest.raises(PlaygroundError, match="too large to download"):
        zip_folder(folder, max_bytes=10)


def test_cleanup_removes_only_old_sessions(tmp_path):
    old, fresh, current = (session_runs_dir(new_session_id(), tmp_path) for _ in range(3))
    for folder in (old, fresh, current):
        write_run(folder, "r", [1.0])
    two_days_ago = time.time() - 48 * 3600
    for path in [old, *old.rglob("*"), current, *current.rglob("*")]:
        os.utime(path, (two_days_ago, two_days_ago))
    deleted = cleanup_old_sessions(24, root=tmp_path, keep=[current.name])
    assert deleted == [old.name]
    assert not old.exists() and fresh.exists() and current.exists()
    assert cleanup_old_sessions(24, root=tmp_path / "nothing") == []


def test_loopback_hosts():
    assert all(is_loopback_host(h) for h in ("localhost", "127.0.0.1", "127.0.1.1", "[::1]", "LOCALHOST"))
    assert not any(is_loopback_host(h) for h in ("", None, "10.0.0.2", "class.example.org", "localhost.evil.com"))


@pytest.mark.slow
def test_local_tensorboard_serves_the_session_folder(tmp_path):
    folder = session_runs_dir(new_session_id(), tmp_path)
    write_run(folder, "r", [1.0])
    board = LocalTensorBoard(folder)
    try:
        url = board.start(timeout_s=90)
        assert board.running() and url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "data/runs", timeout=10) as response:
            assert b'"r"' in response.read()
    finally:
        board.stop()
    assert not board.running()
