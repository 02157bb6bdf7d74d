"""Detection figures: the sliding-window vs fully-convolutional cost on a 256 x 256 scene, MTCNN's time on a
640 x 480 photo, and (last) the default detector's held-out mAP and training time.

Run: python benchmarks/detection.py [--threads 2] [--epochs N]
Prints the machine's load average first: a figure measured while other jobs run says so.
Goals: mAP@0.5 >= 0.90 on held-out scenes in <= 60 s on 2 cores; FCN / sliding cost <= 0.05.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.vision.detect_train import DetectConfig, DetectionRun, cached_scenes, evaluate_detector  # noqa: E402
from cnn_core.vision.scenes import SceneConfig  # noqa: E402
from cnn_core.vision.sliding import compare_costs, pad_scene  # noqa: E402


def sliding_vs_fcn() -> None:
    """LeNet-5 (the playground's trained one) over a 256 x 256 scene both ways."""
    from cnn_core.training.zoo import load_lenet5

    lenet = load_lenet5()
    scene = cached_scenes(SceneConfig(split="test", count=1, seed=0, canvas=256, max_digits=12,
                                      min_scale=0.1, max_scale=0.12)).images
    mean, std = lenet.input.mean[0], lenet.input.std[0]
    x = pad_scene((scene - mean) / std, background=-mean / std)
    cost = compare_costs(lenet.model, x, repeats=3)
    print(f"sliding window: {cost.positions} windows of 32 x 32, {cost.sliding_macs / 1e6:.1f} M MACs, "
          f"{cost.sliding_seconds * 1e3:.1f} ms (batched)")
    print(f"fully convolutional: {cost.fcn_macs / 1e6:.1f} M MACs, {cost.fcn_seconds * 1e3:.1f} ms; "
          f"max |difference| {cost.max_difference:.2e}")
    print(f"sliding vs FCN on 256 x 256: cost ratio {cost.mac_ratio:.3f} (MACs), {cost.time_ratio:.3f} (time)")


def mtcnn_time() -> None:
    """MTCNN on grace_hopper resized to 640 x 480."""
    from cnn_core.data.samples import sample_photo
    from cnn_core.vision.mtcnn import WeightsMissing, detect_faces, load_nets

    try:
        nets = load_nets()
    except WeightsMissing as exc:
        print(f"MTCNN: skipped ({exc})")
        return
    photo = np.asarray(sample_photo("grace_hopper").convert("RGB").resize((640, 480)))
    best = min((detect_faces(nets, photo) for _ in range(3)), key=lambda r: r.seconds)
    parts = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in best.stage_seconds.items())
    print(f"MTCNN on 640 x 480: {len(best.faces.scores)} face(s) in {best.seconds * 1e3:.0f} ms ({parts})")


def detector(epochs: int | None) -> None:
    """Train the default detector; evaluate on held-out test scenes (digits of the test split)."""
    config = DetectConfig() if epochs is None else replace(DetectConfig(), epochs=epochs)
    start, cpu = time.perf_counter(), time.process_time()
    run = DetectionRun(config)
    for record in run.records():
        if record.kind == "epoch":
            print(f"  epoch {record.epoch}: loss {record.train_loss:.3f} (obj {record.objectness:.3f}, box {record.box:.3f}, "
                  f"class {record.classes:.3f}), val mAP@0.5 {record.val_map50:.3f}, {record.seconds:.1f} s", flush=True)
        elif record.kind == "diverged":
            print("  diverged:", record.message)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    test = cached_scenes(replace(config.scenes("test"), count=500))
    metrics = evaluate_detector(run.model, test, config.score_threshold, config.nms_iou)
    print(f"(scene generation + training, {config.train_scenes} scenes x {config.epochs} epochs; test: 500 scenes; "
          f"CPU time {cpu:.1f} s, load average now {os.getloadavg()[0]:.1f})")
    print(f"detector: mAP@0.5 {metrics['map_50']:.3f}, mAP@[.5:.95] {metrics['map']:.3f} in {seconds:.1f} s")


def main() -> None:
    """Parse the flags, print the machine line, then the three figures (the detector's line last)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    sliding_vs_fcn()
    mtcnn_time()
    detector(args.epochs)


if __name__ == "__main__":
    main()
