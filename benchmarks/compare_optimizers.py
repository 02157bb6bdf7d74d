"""Wall time of a 6-optimizer comparison through cnn_core.experiments.compare vs the same 6 runs with a minimal loop.

Run: python benchmarks/compare_optimizers.py [--epochs 1] [--repeats 2] [--model lenet5-modern] [--batch-size 64]

Both sides train the same six settings on mnist-5k's training split (same model, initial weights,
batch size and batch order). cnn_core.experiments.compare runs them side by side in lock-step and also records
every step and watches for divergence; the minimal loop (benchmarks/minimal_loop.py, shared with
train_throughput.py) only trains and evaluates, one run after the other. Both evaluate the
validation split after each epoch. The minimal loop knows SGD and Adam only, so the six settings are three learning
rates of each. Prints both times and their ratio (cnn_core / minimal: the price of the
bookkeeping; 1.0 = free). Repeats alternate the two sides and keep the best of each.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cnn_core import TrainConfig, load_dataset  # noqa: E402
from cnn_core.experiments.compare import compare, optimizer_configs  # noqa: E402
from cnn_core.training.optimizers import configure  # noqa: E402
from cnn_core.training import build_initialized_model  # noqa: E402
from minimal_loop import minimal_train  # noqa: E402

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


def main() -> None:
    """Measure and print both wall times and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default="lenet5-modern")
    args = parser.parse_args()

    data = load_dataset("mnist-5k")
    base = TrainConfig(model=args.model, epochs=args.epochs, batch_size=args.batch_size, device="cpu", seed=0)
    configs = optimizer_configs(base, [configure(name, lr) for name, lr in SETTINGS])
    best = {"cnn_core.experiments.compare": float("inf"), "minimal, one by one": float("inf")}
    for _ in range(args.repeats):
        best["minimal, one by one"] = min(best["minimal, one by one"], time_minimal(configs, data))
        best["cnn_core.experiments.compare"] = min(best["cnn_core.experiments.compare"], time_compare(configs, data))

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device cpu")
    print(f"{len(configs)} runs ({', '.join(configs)}), model {args.model}, mnist-5k train split "
          f"{len(data.train_y)} images x {args.epochs} epoch(s), batch {args.batch_size}, best of {args.repeats}")
    for name, seconds in best.items():
        print(f"{name:>20}: {seconds:7.2f} s")
    ratio = best["cnn_core.experiments.compare"] / best["minimal, one by one"]
    print(f"ratio cnn_core.experiments.compare / minimal = {ratio:.3f} (1.0 = no overhead)")


if __name__ == "__main__":
    main()
