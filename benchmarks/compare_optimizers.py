"""Wall time of a 6-optimizer comparison through cnn_core.experiments.compare vs the same 6 runs with a minimal loop.

Run: python benchmarks/compare_optimizers.py [--epochs 1] [--repeats 2] [--model lenet5-modern] [--batch-size 64]
     [--pool] [--workers 2] [--ray] [--per-class N]

Both sides train the same six settings on mnist-5k's training split (same model, initial weights,
batch size and batch order). cnn_core.experiments.compare runs them side by side in lock-step and also records
every step and watches for divergence; the minimal loop (benchmarks/minimal_loop.py, shared with
train_throughput.py) only trains and evaluates, one run after the other. Both evaluate the
validation split after each epoch. The minimal loop knows SGD and Adam only, so the six settings are three learning
rates of each. Prints both times and their ratio (cnn_core / minimal: the price of the
bookkeeping; 1.0 = free). Repeats alternate the two sides and keep the best of each.

It also runs the comparison as the pages do for runs of one architecture: one batched network
(cnn_core.experiments.ensemble: the six LeNet-5s side by side in the channels, on this process's torch threads),
and prints `ratio batched comparison / minimal one by one = X` (goal <= 0.60 on 2 cores), then the same on one torch
thread, as the Streamlit server computes (there the pages batch only when one core is free: with two, the
worker pool is faster).

--pool also runs the comparison on the local worker pool (cnn_core.experiments.executors, one process and one
torch thread per worker), after warming it up (spawning the workers, importing torch and loading the dataset in
each: a server pays that once, at its first comparison), and prints
`ratio pool comparison / minimal one by one = X` (the floor is 1 / workers for runs in turn), then the same pool
with each worker's share of the runs trained as one batched network (BatchedPool, what the pages use when runs
outnumber the free cores): `ratio batched pool comparison / minimal one by one = X` (goal <= 0.60 on 2 cores).
--ray does the same through a Ray started on this machine (ray.init(num_cpus=workers), warmed up the same way)
and prints the overhead per run against the pool.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from minimal_loop import minimal_train  # noqa: E402

from cnn_core import TrainConfig, load_dataset  # noqa: E402
from cnn_core.experiments.compare import compare, optimizer_configs  # noqa: E402
from cnn_core.experiments.executors import BatchedPool, EnsembleExecutor, LocalProcessPool, wait_all  # noqa: E402
from cnn_core.training import build_initialized_model  # noqa: E402
from cnn_core.training.optimizers import configure  # noqa: E402

SETTINGS = [("sgd", 0.01), ("sgd", 0.05), ("sgd", 0.1), ("adam", 3e-4), ("adam", 1e-3), ("adam", 3e-3)]


def time_compare(configs: dict[str, TrainConfig], data) -> float:
    """Seconds for cnn_core.experiments.compare to run every config side by side."""
    start = time.perf_counter()
    for _label, _record in compare(configs, data):
        pass
    return time.perf_counter() - start


def time_minimal(configs: dict[str, TrainConfig], data) -> float:
    """Seconds for the minimal loop to run the same configs one by one (model building included, as in compare)."""
    start = time.perf_counter()
    for cfg in configs.values():
        model = build_initialized_model(cfg, data)  # the same initial weights as the cnn_core run
        minimal_train(model, data.train_x, data.train_y, epochs=cfg.epochs, batch_size=cfg.batch_size,
                      lr=cfg.optimizer.resolved_lr(), seed=cfg.seed, optimizer=cfg.optimizer.name,
                      val_images=data.val_x, val_labels=data.val_y)
    return time.perf_counter() - start


def time_executor(executor, configs: dict[str, TrainConfig], data=None) -> float:
    """Seconds for an executor to run every config (at most its capacity at once), all records consumed."""
    start = time.perf_counter()
    submission = executor.submit(configs, data)
    histories = wait_all(submission)
    seconds = time.perf_counter() - start
    failed = {k: o.message for k, o in submission.outcomes.items() if o.status not in ("finished", "diverged")}
    if failed or set(histories) != set(configs):
        raise SystemExit(f"runs did not finish: {failed}")
    return seconds


def warm_up(executor, base: TrainConfig, workers: int) -> float:
    """One short run per worker (torch imported, the dataset loaded there); returns its seconds."""
    warm = {f"warm{i}": replace(base, model="mlp", epochs=1, seed=i) for i in range(workers)}
    return time_executor(executor, warm)


def main() -> None:
    """Measure and print both wall times and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default="lenet5-modern")
    parser.add_argument("--per-class", type=int, default=None, help="training images per class (default: all)")
    parser.add_argument("--pool", action="store_true", help="also time the local worker pool")
    parser.add_argument("--ray", action="store_true", help="also time a Ray started on this machine")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool workers / Ray CPUs")
    args = parser.parse_args()

    data = load_dataset("mnist-5k", per_class=args.per_class)
    base = TrainConfig(model=args.model, epochs=args.epochs, batch_size=args.batch_size, device="cpu", seed=0,
                       per_class=args.per_class)
    configs = optimizer_configs(base, [configure(name, lr) for name, lr in SETTINGS])
    best = {"cnn_core.experiments.compare": float("inf"), "minimal, one by one": float("inf"),
            "batched comparison": float("inf"), "batched, 1 thread": float("inf")}
    for _ in range(args.repeats):
        best["minimal, one by one"] = min(best["minimal, one by one"], time_minimal(configs, data))
        best["cnn_core.experiments.compare"] = min(best["cnn_core.experiments.compare"], time_compare(configs, data))
        best["batched comparison"] = min(best["batched comparison"],
                                         time_executor(EnsembleExecutor(), configs, data))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in the Streamlit server (pages/common/__init__.py)
        try:
            best["batched, 1 thread"] = min(best["batched, 1 thread"], time_executor(EnsembleExecutor(), configs, data))
        finally:
            torch.set_num_threads(threads)

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device cpu")
    print(f"{len(configs)} runs ({', '.join(configs)}), model {args.model}, mnist-5k train split "
          f"{len(data.train_y)} images x {args.epochs} epoch(s), batch {args.batch_size}, best of {args.repeats}")
    for name, seconds in best.items():
        print(f"{name:>20}: {seconds:7.2f} s")
    ratio = best["cnn_core.experiments.compare"] / best["minimal, one by one"]
    print(f"ratio cnn_core.experiments.compare / minimal = {ratio:.3f} (1.0 = no overhead)")
    print(f"ratio batched comparison / minimal one by one = "
          f"{best['batched comparison'] / best['minimal, one by one']:.3f} (goal <= 0.60 on 2 cores; "
          f"{torch.get_num_threads()} torch threads)")
    print(f"ratio batched comparison on 1 torch thread (the server's) / minimal one by one = "
          f"{best['batched, 1 thread'] / best['minimal, one by one']:.3f}")
    if args.pool or args.ray:
        pool_seconds = time_pool(args, base, configs, best["minimal, one by one"])
    if args.ray:
        time_ray(args, base, configs, best["minimal, one by one"], pool_seconds)


def time_pool(args, base: TrainConfig, configs: dict[str, TrainConfig], minimal: float) -> float:
    """The comparison on a warmed local worker pool; prints the ratio to the minimal loops one by one."""
    started = time.perf_counter()
    pool = LocalProcessPool(args.workers)
    try:
        warm = warm_up(pool, base, args.workers)
        print(f"pool: {args.workers} worker processes, 1 torch thread each; started and warmed up in "
              f"{time.perf_counter() - started:.1f} s (a warm-up run per worker: {warm:.1f} s; not timed below)")
        seconds, batched = float("inf"), float("inf")
        for _ in range(args.repeats):  # alternate the two ways, keep the best of each
            seconds = min(seconds, time_executor(pool, configs))
            batched = min(batched, time_executor(BatchedPool(pool), configs))
    finally:
        pool.close()
    print(f"{'pool comparison':>20}: {seconds:7.2f} s (best of {args.repeats}; one run per task, in turn on each worker)")
    print(f"{'pool, batched':>20}: {batched:7.2f} s (best of {args.repeats}; each worker's "
          f"{len(configs) // args.workers} runs as one batched network, as the pages run them)")
    print(f"ratio pool comparison / minimal one by one = {seconds / minimal:.3f} "
          f"(floor 1/{args.workers} = {1 / args.workers:.2f})")
    print(f"ratio batched pool comparison / minimal one by one = {batched / minimal:.3f} "
          f"(goal <= 0.60 on 2 cores; what a page with two free cores runs)")
    return seconds


def time_ray(args, base: TrainConfig, configs: dict[str, TrainConfig], minimal: float, pool: float) -> None:
    """The comparison through a Ray started here; prints its ratio and the overhead per run against the pool."""
    try:
        import ray
    except ImportError:
        print("ray: not installed (pip install -r requirements-cluster.txt); skipped")
        return
    from cnn_core.experiments.executors import RayExecutor, connect

    started = time.perf_counter()
    connect("local", num_cpus=args.workers)
    try:
        executor = RayExecutor()
        warm = warm_up(executor, base, args.workers)
        print(f"ray {ray.__version__}: local, {args.workers} CPUs; started and warmed up in "
              f"{time.perf_counter() - started:.1f} s (warm-up runs {warm:.1f} s; not timed below)")
        seconds = min(time_executor(executor, configs) for _ in range(args.repeats))
    finally:
        ray.shutdown()
    print(f"{'ray comparison':>20}: {seconds:7.2f} s (best of {args.repeats})")
    print(f"ratio ray comparison / minimal one by one = {seconds / minimal:.3f}")
    print(f"ray overhead per run = {(seconds - pool) / len(configs):+.3f} s (ray - pool, / {len(configs)} runs)")


if __name__ == "__main__":
    main()
