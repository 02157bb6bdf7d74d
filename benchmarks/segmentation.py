"""Train the default U-Net and the same network without skips on the default digit scenes (2 CPU cores).

Run: python benchmarks/segmentation.py [--epochs N] [--scenes N]
Prints each epoch's validation mIoU (digit classes, background left out) and boundary accuracy for both,
then, last: `segmenter: mIoU X.XXX (no skips Y.YYY) in S.S s`, S = the U-Net's training time
(scene generation excluded: scenes are generated once per server and cached).
Goal: mIoU >= 0.80 in <= 60 s, and the U-Net at least 0.05 above the network without skips.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.vision.segmentation import SegConfig, SegmentationRun, cached_scenes  # noqa: E402


def train(config: SegConfig) -> tuple[float, float, float]:
    """(final mIoU, final boundary accuracy, training seconds) of one run, printing every epoch."""
    run = SegmentationRun(config)
    start = time.perf_counter()
    last = None
    for record in run.records():
        if record.kind == "epoch":
            last = record
            print(f"  {'skips' if config.skips else 'no skips'} epoch {record.epoch}: mIoU {record.miou:.3f}, "
                  f"boundary accuracy {record.boundary_acc:.3f}, {time.perf_counter() - start:.1f} s", flush=True)
    return last.miou, last.boundary_acc, time.perf_counter() - start


def main() -> None:
    """Measure both networks and print the summary line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=SegConfig.epochs)
    parser.add_argument("--scenes", type=int, default=SegConfig.train_scenes)
    args = parser.parse_args()
    config = SegConfig(epochs=args.epochs, train_scenes=args.scenes)
    started = time.perf_counter()
    cached_scenes(config.scenes("train")), cached_scenes(config.scenes("val"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {config.train_scenes} training scenes "
          f"{config.canvas} x {config.canvas} generated in {time.perf_counter() - started:.1f} s; "
          f"U-Net base {config.base}, depth {config.depth}, {config.epochs} epochs, batch {config.batch_size}")
    page = replace(config, mode="foreground", background_weight=1.0, train_scenes=500, epochs=3)
    print("the page's default: digit / background, 500 scenes, 3 epochs")
    fg, fg_boundary, fg_seconds = train(page)
    fg_plain, fg_plain_boundary, _ = train(replace(page, skips=False))
    print(f"foreground: IoU {fg:.3f} (no skips {fg_plain:.3f}) in {fg_seconds:.1f} s; boundary accuracy "
          f"{fg_boundary:.3f} (no skips {fg_plain_boundary:.3f})")
    print("the issue's figure: background + 10 digit classes")
    miou, boundary, seconds = train(config)
    plain_miou, plain_boundary, _ = train(replace(config, skips=False))
    print(f"boundary accuracy: skips {boundary:.3f}, no skips {plain_boundary:.3f}")
    print(f"segmenter: mIoU {miou:.3f} (no skips {plain_miou:.3f}) in {seconds:.1f} s")


if __name__ == "__main__":
    main()
