"""Wall and CPU time of the Train and Hyper-parameter Tuning pages' default actions (cnn_core calls only).

    python benchmarks/train_page_defaults.py [--threads N]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core import TrainConfig, TrainingRun, load_dataset
from cnn_core.experiments.sanity import gradient_norms_check, initial_loss_check, overfit_batch_check
from cnn_core.experiments.tuning import grid_configs, lr_range_test, search
from cnn_core.training.evaluation import evaluate_split


def timed(label: str, action):
    """Run action(), print its wall and CPU seconds, return its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    print(f"{label:<58} wall {time.perf_counter() - wall:6.2f} s   cpu {time.process_time() - cpu:6.2f} s")
    return result


def main() -> None:
    """Time every default action once."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    full, small = load_dataset("mnist-5k"), load_dataset("mnist-5k", per_class=100)

    def train() -> TrainingRun:
        run = TrainingRun(TrainConfig(epochs=3), full)
        list(run.records())
        evaluate_split(run.model, full, "test")
        return run

    run = timed("Train: LeNet-5, 4,000 images, 3 epochs + test evaluation", train)
    print(f"{'':<58} val acc {run.history[-1].val_acc:.3f}")
    timed("Sanity: initial loss", lambda: initial_loss_check(TrainConfig(), full))
    timed("Sanity: overfit 20 images", lambda: overfit_batch_check(TrainConfig(), full))
    timed("Sanity: gradient norms", lambda: gradient_norms_check(TrainConfig(), full))
    result = timed("LR range test: 100 steps, 100 images per class",
                   lambda: lr_range_test(TrainConfig(per_class=100), small, 1e-5, 1.0, 100))
    print(f"{'':<58} suggested lr {result.suggested_lr:.2e}")
    timed("Grid search: 4 trials x 2 epochs, 100 images per class",
          lambda: search(grid_configs(TrainConfig(per_class=100, epochs=2), [1e-3, 1e-2], [32, 128]), small))


if __name__ == "__main__":
    main()
