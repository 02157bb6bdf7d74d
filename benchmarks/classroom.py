"""Classroom figures: gallery writes under N concurrent students, TensorBoard disk per run, zip time.

    python benchmarks/classroom.py [--writers 30] [--pg postgresql+psycopg://...] [--epochs 3]

Prints, for SQLite (WAL, a temp file) and, with --pg or $CNN_PLAYGROUND_TEST_PG_URL, PostgreSQL:
N threads publishing one entry each at once (a class pressing Publish together): wall time for all,
median / max per publish, entries stored, errors. Then one Train-page default run (LeNet-5 on mnist-5k)
logged to TensorBoard with and without histograms: disk bytes per run, and the time to read it back and
zip it. No figure is asserted anywhere; the load average is printed first.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.classroom import GalleryStore, NewEntry  # noqa: E402


def publish_burst(store: GalleryStore, writers: int) -> tuple[float, list[float], int]:
    """`writers` threads publish at once; (wall seconds, per-publish seconds, errors)."""
    barrier = threading.Barrier(writers)
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def work(i: int) -> None:
        entry = NewEntry(exercise="bench", page="8_Train.py", nickname=f"s{i}", seed=i,
                         config={"lr": 0.001 * (i + 1), "batch_size": 64, "optimizer": "adam"},
                         metrics={"val_accuracy": 0.9, "val_loss": 0.3},
                         curves=[{"run": "r", "epoch": e, "step": e * 63, "split": s, "metric": m, "value": 0.5}
                                 for e in range(1, 11) for s in ("train", "val") for m in ("loss", "accuracy")])
        barrier.wait()
        start = time.perf_counter()
        try:
            store.publish(entry)
        except Exception:  # counted, not raised: the figure is how many failed
            with lock:
                errors[0] += 1
            return
        with lock:
            times.append(time.perf_counter() - start)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, times, errors[0]


def gallery_figures(url: str, label: str, writers: int) -> None:
    store = GalleryStore(url)
    store.reset_exercise("bench")
    wall, times, errors = publish_burst(store, writers)
    stored = store.count("bench")
    print(f"  {label:10s} {writers} at once: all done in {wall:.2f} s, per publish median "
          f"{statistics.median(times):.3f} s, max {max(times):.3f} s; stored {stored}, errors {errors}")
    store.reset_exercise("bench")
    store.close()


def tensorboard_figures(epochs: int) -> None:
    from cnn_core import TrainConfig, TrainingRun, load_dataset
    from cnn_core.training.tensorboard import TensorBoardLogger, logged, read_histograms, read_scalars, zip_folder

    data = load_dataset("mnist-5k")
    with tempfile.TemporaryDirectory() as tmp:
        for histograms in (True, False):
            folder = Path(tmp) / f"hist-{histograms}"
            run = TrainingRun(TrainConfig(epochs=epochs, seed=0), data)
            with TensorBoardLogger(run, folder / "run", histograms=histograms) as logger:
                for _ in logged(run.records(), logger):
                    pass
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            start = time.perf_counter()
            read_scalars(folder), read_histograms(folder)
            read_s = time.perf_counter() - start
            start = time.perf_counter()
            archive = zip_folder(folder)
            zip_s = time.perf_counter() - start
            print(f"  LeNet-5, {epochs} epochs, histograms {'on ' if histograms else 'off'}: {size / 1024:.0f} KiB on "
                  f"disk ({run.step} steps), read back {read_s:.2f} s, zip {len(archive) / 1024:.0f} KiB in "
                  f"{zip_s:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=30)
    parser.add_argument("--pg", default=os.environ.get("CNN_PLAYGROUND_TEST_PG_URL", ""))
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("class gallery: N students press Publish at the same moment")
    with tempfile.TemporaryDirectory() as tmp:
        gallery_figures(f"sqlite:///{Path(tmp) / f'g-{uuid.uuid4().hex}.sqlite3'}", "SQLite", args.writers)
    if args.pg:
        gallery_figures(args.pg, "PostgreSQL", args.writers)
    else:
        print("  PostgreSQL: skipped (no --pg / CNN_PLAYGROUND_TEST_PG_URL)")
    print("TensorBoard: one Train-page default run")
    tensorboard_figures(args.epochs)


if __name__ == "__main__":
    main()
