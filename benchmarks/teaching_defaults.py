"""Do the pages' defaults teach? Optimizers: SGD vs Adam on the default CNN comparison; Regularization: every variant.

Run: python benchmarks/teaching_defaults.py [--per-class 100 200 300] [--epochs 2 3] [--batch-size 32]
     python benchmarks/teaching_defaults.py --regularization   (the Regularization page's default setting)

Trains the page's two default runs (SGD lr 0.05, Adam lr 0.001; lenet5-modern, mnist-5k, seed 0) side by side
through cnn_core.experiments.compare, for each candidate size, and prints steps, wall time, each run's final
validation accuracy and the gap between them: a default teaches when the gap is large and the time < 15 s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core import TrainConfig, load_dataset  # noqa: E402
from cnn_core.experiments.compare import compare, optimizer_configs, summary_table  # noqa: E402
from cnn_core.training.optimizers import configure  # noqa: E402


def main() -> None:
    """Print one line per (per_class, epochs) candidate."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, nargs="+", default=[100, 200, 300])
    parser.add_argument("--epochs", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--regularization", action="store_true")
    args = parser.parse_args()
    print(f"machine: torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.regularization:
        regularization()
        return
    for per_class in args.per_class:
        data = load_dataset("mnist-5k", per_class=per_class)
        for epochs in args.epochs:
            base = TrainConfig(model="lenet5-modern", per_class=per_class, epochs=epochs, batch_size=args.batch_size)
            configs = optimizer_configs(base, [configure("sgd"), configure("adam")])
            histories = {label: [] for label in configs}
            start = time.perf_counter()
            for label, record in compare(configs, data):
                histories[label].append(record)
            seconds = time.perf_counter() - start
            table = summary_table(histories).set_index("run")
            sgd, adam = (table.loc[label] for label in configs)
            steps = sum(r.kind == "step" for r in next(iter(histories.values())))
            print(f"per_class={per_class} epochs={epochs} batch={args.batch_size}: {steps} steps per run, "
                  f"{seconds:.1f} s for both; val acc SGD {sgd['final_val_acc']:.1%} ({sgd['status']}), "
                  f"Adam {adam['final_val_acc']:.1%} ({adam['status']}), gap "
                  f"{(adam['final_val_acc'] - sgd['final_val_acc']) * 100:+.1f} points")


def regularization() -> None:
    """Every variant of the Regularization page on its default setting: best / final val acc and loss, time."""
    from cnn_core.experiments.regularization import REG_VARIANTS, overfit_config, variant_configs
    base = overfit_config()  # MLP, 100 per class, 20 epochs, Adam, batch 64, seed 0
    data = load_dataset(base.dataset, per_class=base.per_class)
    for name in REG_VARIANTS:
        ((label, config),) = variant_configs(base, [name]).items()
        start = time.perf_counter()
        histories = {label: [r for _, r in compare({label: config}, data)]}
        seconds = time.perf_counter() - start
        epochs = [r for r in histories[label] if r.kind == "epoch"]
        best = max(epochs, key=lambda r: r.val_acc)
        low = min(epochs, key=lambda r: r.val_loss)
        print(f"{name:16s} {label:28s} best val acc {best.val_acc:.1%} (epoch {best.epoch}), final "
              f"{epochs[-1].val_acc:.1%}; val loss min {low.val_loss:.3f} (epoch {low.epoch}), final "
              f"{epochs[-1].val_loss:.3f}; {seconds:.1f} s")


if __name__ == "__main__":
    main()
