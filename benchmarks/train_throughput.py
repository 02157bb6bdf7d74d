"""Samples/s of cnn_core's training loop vs a minimal hand-written PyTorch loop (same model, data, batch).

Run: python benchmarks/train_throughput.py [--epochs 3] [--repeats 3] [--model lenet5-modern]
Both loops evaluate the validation split once per epoch (as pytorch/examples' mnist does); cnn_core
also yields a record per step with the batch accuracy and the gradient norm, and trains a CNN in channels_last
memory on the CPU (cnn_core.training.loop.use_channels_last; the minimal loop keeps PyTorch's default layout,
as the shortest loop does). Prints both
throughputs and their ratio (target: cnn_core / minimal >= 1.00). Runs alternate
(minimal, cnn_core, minimal, ...) and the best of each is kept, so a busy moment hurts both alike.
It also measures the machine's SGEMM rate in the same run and prints the fraction of it that the
loop reaches (training FLOPs per sample counted by torch.utils.flop_counter: forward + backward).
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

from minimal_loop import minimal_train  # noqa: E402

from cnn_core import OptimizerConfig, TrainConfig, TrainingRun, build_model, load_dataset, seed_everything  # noqa: E402
from cnn_core.training import model_options_for  # noqa: E402


def sgemm_flops_per_second(n: int = 1024, repeats: int = 20) -> float:
    """The best FLOP/s of an n x n float32 matrix product on this machine (2 n^3 FLOPs each)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def training_flops_per_sample(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """FLOPs of one forward + backward pass per sample, as torch.utils.flop_counter counts them."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        torch.nn.functional.cross_entropy(model(images), labels).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(labels)


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
    flops = training_flops_per_sample(build_model(args.model, model_options_for(config, data)),
                                      data.train_x[:args.batch_size], data.train_y[:args.batch_size])
    sgemm = sgemm_flops_per_second()
    print(f"training step: {flops / 1e6:.2f} MFLOP per sample (forward + backward); "
          f"SGEMM {sgemm / 1e9:.1f} GFLOP/s on this machine")
    for name in ("minimal", "cnn_core"):
        print(f"{name:>9}: {rates[name] * flops / 1e9:6.1f} GFLOP/s = {rates[name] * flops / sgemm:.1%} of SGEMM")
    ratio = rates["cnn_core"] / rates["minimal"]
    print(f"ratio cnn_core / minimal = {ratio:.3f} (target >= 1.00)")


if __name__ == "__main__":
    main()
