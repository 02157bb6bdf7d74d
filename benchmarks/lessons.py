"""Lesson figures: time to check an answer, a class submitting at once, the teacher's dashboard.

    python benchmarks/lessons.py [--students 30] [--seeds 5] [--pg postgresql+psycopg://...]

Prints (no figure is asserted anywhere; the load average comes first):
1. median and worst time of `check(variant, computed answer)` over every exercise x seeds (goal <= 100 ms),
   and, apart, the find-the-bug checks that re-run a sanity check (training: seconds, cached per setting);
2. N students submitting one attempt each at the same moment, on SQLite (WAL, a temp file) and, with --pg or
   $CNN_PLAYGROUND_TEST_PG_URL, PostgreSQL: wall time, median / max per submission, rows stored, errors;
3. the dashboard aggregates (per-exercise table + wrong answers by misconception) for N students x every
   exercise, 1-3 attempts each (goal <= 1 s).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from cnn_core.classroom.progress import NewAttempt, ProgressStore, progress_engine  # noqa: E402
from cnn_core.lessons import EXERCISES, check  # noqa: E402


def typed(variant, value):
    """The computed answer as a student would type it."""
    if variant.answer_kind == "shape":
        return " x ".join(map(str, value))
    if variant.answer_kind == "order":
        return ", ".join(value)
    return value


def check_times(seeds: int) -> None:
    """Median / worst check time of a computed answer, and the fix checks apart."""
    quick, fixes, making = [], [], []
    for exercise in EXERCISES:
        for seed in range(seeds):
            start = time.perf_counter()
            variant = exercise.variant(seed)  # made once per student (computes the answer), timed apart
            making.append((time.perf_counter() - start, exercise.id))
            answer = typed(variant, variant.expected)
            start = time.perf_counter()
            result = check(variant, answer)
            elapsed = time.perf_counter() - start
            assert result.correct, (exercise.id, result.message)
            (fixes if exercise.answer == "fix" else quick).append((elapsed, exercise.id))
    times = sorted(t for t, _ in quick)
    worst = max(quick)
    print(f"check a computed answer: {len(quick)} checks ({len(EXERCISES) - len({i for _, i in fixes})} "
          f"exercises x {seeds} seeds): median {1000 * statistics.median(times):.2f} ms, worst "
          f"{1000 * worst[0]:.2f} ms ({worst[1]}); goal <= 100 ms")
    worst_make = max(making)
    print(f"make a variant (computes the answer and the wrong ones): median "
          f"{1000 * statistics.median(t for t, _ in making):.2f} ms, worst {1000 * worst_make[0]:.0f} ms "
          f"({worst_make[1]}, first use: data or a cached measurement)")
    fix_times = sorted(t for t, _ in fixes)
    worst_fix = max(fixes)
    print(f"find-the-bug checks (re-run a sanity check, cached per setting): {len(fixes)} checks: median "
          f"{1000 * statistics.median(fix_times):.1f} ms, worst {worst_fix[0]:.2f} s ({worst_fix[1]}, first run "
          "of a setting)")


def submit_burst(store: ProgressStore, students: int) -> None:
    """`students` threads submit one attempt each at the same moment."""
    ids = [store.register(f"b{uuid.uuid4().hex[:10]}").id for _ in range(students)]
    barrier, times, errors, lock = threading.Barrier(students), [], [0], threading.Lock()

    def work(student_id: int) -> None:
        attempt = NewAttempt(student_id, "conv-params", 7, "456", True, None, 12.0, uuid.uuid4().hex)
        barrier.wait()
        start = time.perf_counter()
        try:
            store.record_attempt(attempt)
        except Exception:  # noqa: BLE001 (counted, printed)
            with lock:
                errors[0] += 1
        with lock:
            times.append(time.perf_counter() - start)

    threads = [threading.Thread(target=work, args=(i,)) for i in ids]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    stored = len(store.attempts())
    print(f"{students} students submitting at once on {store.dialect}: all done in {wall:.3f} s, per submission "
          f"median {1000 * statistics.median(times):.1f} ms, max {1000 * max(times):.1f} ms; stored {stored}, "
          f"errors {errors[0]}")


def dashboard_time(store: ProgressStore, students: int, seed: int = 0) -> None:
    """Fill `students` x every exercise with 1-3 attempts each, then time the dashboard aggregates."""
    rng = random.Random(seed)
    rows = 0
    for i in range(students):
        student = store.register(f"d{i}-{uuid.uuid4().hex[:6]}")
        for exercise in EXERCISES:
            for k in range(rng.choice([1, 1, 2, 3])):
                right = rng.random() < 0.6 or k == 2
                store.record_attempt(NewAttempt(student.id, exercise.id, i, "ok" if right else rng.choice("abc"),
                                                right, None if right else rng.choice([None, "forgot the bias"]),
                                                rng.uniform(5, 120), uuid.uuid4().hex))
                rows += 1
    start = time.perf_counter()
    frame = store.attempts_frame()
    table = store.dashboard(frame)
    wrong = store.wrong_answers(frame)
    elapsed = time.perf_counter() - start
    print(f"dashboard for {students} students x {len(EXERCISES)} exercises ({rows} attempts, {store.dialect}): "
          f"{1000 * elapsed:.0f} ms ({len(table)} exercise rows, {len(wrong)} wrong-answer groups); goal <= 1 s")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--pg", default=os.environ.get("CNN_PLAYGROUND_TEST_PG_URL", ""))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; torch threads 1")
    check_times(args.seeds)
    with tempfile.TemporaryDirectory() as folder:
        engine = progress_engine(f"sqlite:///{Path(folder) / 'progress.sqlite3'}")
        store = ProgressStore(engine)
        submit_burst(store, args.students)
        dashboard_time(store, args.students)
        engine.dispose()
    if args.pg:  # in a schema of its own, dropped afterwards: the database is left as it was
        schema = "bench_" + uuid.uuid4().hex[:12]
        admin = create_engine(args.pg)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine = progress_engine(f"{args.pg}{'&' if '?' in args.pg else '?'}options=-csearch_path%3D{schema}")
        try:
            store = ProgressStore(engine)
            submit_burst(store, args.students)
            dashboard_time(store, args.students)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    else:
        print("PostgreSQL: skipped (pass --pg or set CNN_PLAYGROUND_TEST_PG_URL)")


if __name__ == "__main__":
    main()
