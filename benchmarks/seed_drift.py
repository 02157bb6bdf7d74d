"""What "the same seed" promises: the Train page's default run twice on each thread count, then across them.

Run: python benchmarks/seed_drift.py [--epochs 5] [--threads 1 2]
The same seed on the same machine, torch build and thread count gives the same records bit for bit. Another
thread count makes oneDNN split its sums differently, which is what another CPU does too (other kernels, other
summation orders): this prints the size of that difference, the closest measurement of "another CPU" that one
machine allows. Printed: `same seed, N threads twice: identical = True`, then for each other thread count
`same seed, 1 vs N threads: max relative loss difference X (step 1: Y, first 20 steps: Z); final val acc A vs B`.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core import TrainConfig, TrainingRun  # noqa: E402


def records(config: TrainConfig, threads: int) -> tuple[list[float], list[float]]:
    """(every step's training loss, every epoch's validation accuracy) of one run on `threads` threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        history = list(TrainingRun(config).records())
    finally:
        torch.set_num_threads(previous)
    return ([r.train_loss for r in history if r.kind == "step"], [r.val_acc for r in history if r.kind == "epoch"])


def relative(a: list[float], b: list[float]) -> list[float]:
    """|a - b| / |b| per position."""
    return [abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    config = replace(TrainConfig(), epochs=args.epochs)
    print(f"Train page default (LeNet-5 modern, mnist-5k, Adam, batch 64, seed 0), {args.epochs} epochs, CPU")
    runs = {}
    for threads in args.threads:
        first, second = records(config, threads), records(config, threads)
        runs[threads] = first
        print(f"same seed, {threads} threads twice: identical = {first == second}", flush=True)
    base = args.threads[0]
    for threads in args.threads[1:]:
        (losses, accs), (ref_losses, ref_accs) = runs[threads], runs[base]
        diff = relative(losses, ref_losses)
        print(f"same seed, {base} vs {threads} threads: max relative loss difference {max(diff):.2e} over "
              f"{len(diff)} steps (step 1: {diff[0]:.2e}, first 20 steps: {max(diff[:20]):.2e}); final val acc "
              f"{ref_accs[-1]:.4f} vs {accs[-1]:.4f}")


if __name__ == "__main__":
    main()
