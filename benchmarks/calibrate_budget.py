"""Fit the two constants of the time budget (cnn_core.training.budget) on this machine.

Run: OMP_NUM_THREADS=1 python benchmarks/calibrate_budget.py [--steps 12]
(one thread: what one student's run gets on a shared 2-core class server)

For a few models from tiny to conv-heavy it times real training steps of cnn_core's loop (median
of --steps after two warm-up steps) and counts, on the meta device, the step's multiply-adds and
the values its layers output (each x 3: forward + backward). A least-squares fit of
seconds = overhead + macs / rate + values x seconds_per_value  gives STEP_OVERHEAD_S,
MACS_PER_SECOND and SECONDS_PER_VALUE; it prints each model's measured step time, the fit's and
the one the constants in use predict. Busy neighbours make steps slower, i.e. the fit conservative.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core import LayerSpec, ModelOptions, OptimizerConfig, TrainConfig, TrainingRun, load_dataset  # noqa: E402
from cnn_core.training import budget  # noqa: E402

CONV = (LayerSpec.of("conv", out_channels=64, kernel_size=3, padding=1), LayerSpec.of("activation", name="relu"),
        LayerSpec.of("conv", out_channels=64, kernel_size=3, padding=1), LayerSpec.of("activation", name="relu"),
        LayerSpec.of("maxpool", kernel_size=2), LayerSpec.of("flatten"), LayerSpec.of("linear", out_features=10))
CASES = {
    "mlp b64": TrainConfig(model="mlp", batch_size=64),
    "lenet5 b64": TrainConfig(model="lenet5-modern", batch_size=64),
    "lenet5 b256": TrainConfig(model="lenet5-modern", batch_size=256),
    "plain-cnn 8x32 b64": TrainConfig(model="plain-cnn", batch_size=64, model_options=ModelOptions(depth=8, width=32)),
    "custom 2x64conv b64": TrainConfig(model="custom", batch_size=64, model_options=ModelOptions(layers=CONV)),
}


def step_seconds(config: TrainConfig, data, steps: int) -> float:
    """Median wall time of one training step of `config` (two warm-up steps first)."""
    run = TrainingRun(config, data)
    times, last = [], time.perf_counter()
    for record in run.records(epochs=1):
        now = time.perf_counter()
        if record.kind == "step":
            times.append(now - last)
        last = now
        if len(times) >= steps + 2:
            break
    return statistics.median(times[2:])


def main() -> None:
    """Time each case, fit the line, print the constants."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    data = load_dataset(per_class=100)
    points = []
    for label, config in CASES.items():
        config = replace(config, optimizer=OptimizerConfig("adam"))
        cost = budget.estimate_run(config, data).cost
        macs = 3 * cost.macs * config.batch_size
        values = 3 * (cost.activations + math.prod(cost.input_shape)) * config.batch_size
        points.append((label, macs, values, step_seconds(config, data, args.steps)))
    a = np.array([[1.0, p[1], p[2]] for p in points])
    y = np.array([p[3] for p in points])
    (overhead, per_mac, per_value), *_ = np.linalg.lstsq(a, y, rcond=None)
    overhead, per_mac, per_value = max(overhead, 0.0), max(per_mac, 1e-13), max(per_value, 0.0)
    for label, macs, values, seconds in points:
        in_use = budget.step_seconds(macs, values)
        print(f"{label:22s} {macs / 1e6:9.1f} M multiply-adds {values / 1e6:7.1f} M values/step  measured "
              f"{seconds * 1e3:7.1f} ms  fit {(overhead + macs * per_mac + values * per_value) * 1e3:7.1f} ms  "
              f"in use {in_use * 1e3:7.1f} ms")
    print(f"calibration: MACS_PER_SECOND = {1 / per_mac:.2e}, SECONDS_PER_VALUE = {per_value:.2e}, "
          f"STEP_OVERHEAD_S = {overhead:.4f}")


if __name__ == "__main__":
    main()
