"""Samples/s of cnn_core's training loop vs a minimal hand-written PyTorch loop (same model, data, batch).

Run: python benchmarks/train_throughput.py [--epochs 3] [--repeats 3] [--model lenet5-modern]
Both loops evaluate the validation split once per epoch (as pytorch/examples' mnist does); cnn_core
also yields a record per step with the batch accuracy and the gradient norm. Prints both
throughputs and their ratio (target: cnn_core / minimal >= 0.95). Runs alternate
(minimal, cnn_core, minimal, ...) and the best of each is kept, so a busy moment hurts both alike.
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

from cnn_core import OptimizerConfig, TrainConfig, TrainingRun, build_model, load_dataset, seed_everything  # noqa: E402
from cnn_core.training import model_options_for  # noqa: E402
from minimal_loop import minimal_train  # noqa: E402


def main() -> None:
    """Measure and print the two throughputs and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default="lenet5-modern")
    args = parser.parse_args()

    data = load_dataset("mnist-5k")
    config = TrainConfig(model=args.model, epochs=args.epochs, batch_size=args.batch_size, device="cpu",
                         optimizer=OptimizerConfig("adam", lr=1e-3))
    samples = len(data.train_y) * args.epochs
    best = {"minimal": float("inf"), "cnn_core": float("inf")}
    for _ in range(args.repeats):
        seed_everything(0)
        model = build_model(args.model, model_options_for(config, data))
        start = time.perf_counter()
        minimal_train(model, data.train_x, data.train_y, epochs=args.epochs, batch_size=args.batch_size,
                      val_images=data.val_x, val_labels=data.val_y)
        best["minimal"] = min(best["minimal"], time.perf_counter() - start)

        start = time.perf_counter()
        run = TrainingRun(config, data)
        for _record in run.records():  # includes per-step records and a validation pass per epoch
            pass
        best["cnn_core"] = min(best["cnn_core"], time.perf_counter() - start)

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device cpu")
    print(f"model {args.model}, mnist-5k train split {len(data.train_y)} samples x {args.epochs} epochs, "
          f"batch {args.batch_size}, best of {args.repeats}")
    rates = {name: samples / seconds for name, seconds in best.items()}
    for name in ("minimal", "cnn_core"):
        print(f"{name:>9}: {best[name]:6.2f} s  {rates[name]:9.0f} samples/s")
    ratio = rates["cnn_core"] / rates["minimal"]
    print(f"ratio cnn_core / minimal = {ratio:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
