"""Train the default U-Net and the same network without skips on the default digit scenes (2 CPU cores).

Run: python benchmarks/segmentation.py [--epochs N] [--scenes N] [--seeds 0 1 2] [--skip-page] [--threads 2]
Prints each epoch's validation mIoU (digit classes, background left out) and boundary accuracy for both,
then, per seed: `segmenter: mIoU X.XXX (no skips Y.YYY) in S.S s (CPU C.C s, load L.L)`, S = the U-Net's
training wall time, C = its process CPU time with 2 torch threads (the same on a busy machine; wall time is
not), L = the 1-minute load average at its end (scene generation excluded: scenes are cached per server).
With several seeds it ends with `min over seeds A-B = X` and the largest drop of the U-Net's validation mIoU
between consecutive epochs after the third.
Goal: mIoU >= 0.80 in <= 60 s for every seed, the U-Net at least 0.05 above the network without skips, and
no drop over 0.05 after the third epoch.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.vision.segmentation import SegConfig, SegmentationRun, cached_scenes  # noqa: E402

THREADS = 2  # the server's cores: CPU time is measured with this many torch threads


@dataclass
class Result:
    """One run's final metrics, validation curve and times."""

    miou: float
    boundary: float
    wall: float
    cpu: float
    curve: list[float]

    def largest_drop(self, after: int = 3) -> tuple[float, int]:
        """(largest fall of mIoU from one epoch to the next, the epoch it fell to), epochs after `after` only;
        (0.0, 0) when it never fell."""
        drops = [(self.curve[i - 1] - self.curve[i], i + 1) for i in range(after, len(self.curve))]
        return max([(0.0, 0), *drops])


def load() -> float:
    """The 1-minute load average (the machine is shared: wall times grow with it, CPU times do not)."""
    return os.getloadavg()[0]


def train(config: SegConfig) -> Result:
    """Train one run, printing every epoch."""
    run = SegmentationRun(config)
    start, cpu_start = time.perf_counter(), time.process_time()
    last, curve = None, []
    for record in run.records():
        if record.kind == "epoch":
            last = record
            curve.append(record.miou)
            print(f"  {'skips' if config.skips else 'no skips'} epoch {record.epoch}: mIoU {record.miou:.3f}, "
                  f"boundary accuracy {record.boundary_acc:.3f}, {time.perf_counter() - start:.1f} s", flush=True)
    return Result(last.miou, last.boundary_acc, time.perf_counter() - start, time.process_time() - cpu_start, curve)


def main() -> None:
    """Measure both networks per seed and print the summary lines."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=SegConfig.epochs)
    parser.add_argument("--scenes", type=int, default=SegConfig.train_scenes)
    parser.add_argument("--seeds", type=int, nargs="+", default=[SegConfig.seed])
    parser.add_argument("--skip-page", action="store_true", help="leave out the page's 3-epoch foreground default")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="torch threads (1: two seeds in two processes share a busy machine without waiting on "
                             "each other; the curves differ from 2 threads' by float rounding)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = SegConfig(epochs=args.epochs, train_scenes=args.scenes)
    started = time.perf_counter()
    cached_scenes(config.scenes("train")), cached_scenes(config.scenes("val"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {config.train_scenes} training scenes "
          f"{config.canvas} x {config.canvas} generated in {time.perf_counter() - started:.1f} s; "
          f"U-Net base {config.base}, depth {config.depth}, {config.norm} norm, weight average {config.ema:g}, "
          f"lr {config.lr:g} ({config.schedule}), {config.epochs} epochs, batch {config.batch_size}; load {load():.1f}")
    if not args.skip_page:
        page = replace(config, mode="foreground", background_weight=1.0, train_scenes=500, epochs=3)
        print("the page's default: digit / background, 500 scenes, 3 epochs")
        fg, fg_plain = train(page), train(replace(page, skips=False))
        print(f"foreground: IoU {fg.miou:.3f} (no skips {fg_plain.miou:.3f}) in {fg.wall:.1f} s; boundary accuracy "
              f"{fg.boundary:.3f} (no skips {fg_plain.boundary:.3f})")
    print("the issue's figure: background + 10 digit classes")
    results = {}
    for seed in args.seeds:
        unet, plain = train(replace(config, seed=seed)), train(replace(config, seed=seed, skips=False))
        results[seed] = unet
        drop, epoch = unet.largest_drop()
        print(f"seed {seed}: boundary accuracy: skips {unet.boundary:.3f}, no skips {plain.boundary:.3f}; "
              f"largest drop after epoch 3: {drop:.3f} (to epoch {epoch}); {unet.cpu / len(unet.curve):.2f} CPU s "
              "per epoch")
        print(f"segmenter: mIoU {unet.miou:.3f} (no skips {plain.miou:.3f}) in {unet.wall:.1f} s "
              f"(CPU {unet.cpu:.1f} s, load {load():.1f})", flush=True)
    if len(results) > 1:
        worst = min(results, key=lambda s: results[s].miou)
        drop, seed = max((r.largest_drop()[0], s) for s, r in results.items())
        print(f"min over seeds {min(results)}-{max(results)} = {results[worst].miou:.3f} (seed {worst}); largest drop "
              f"between consecutive epochs after the third = {drop:.3f} (seed {seed})")


if __name__ == "__main__":
    main()
