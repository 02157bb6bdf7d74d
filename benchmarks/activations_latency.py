"""Seconds from an uploaded image's bytes to every layer's activations + the top 5, per model.

The pipeline timed is what the Layer Visualization page runs on a new upload: decode the bytes
(load_image), preprocess (prepare), one hooked forward pass recording every layer with its statistics
and display maps (analyze), and the top-5 table. The baseline, measured in the same run on the same
input, is a bare forward pass under torch.no_grad() (no hooks, no decoding). Medians of --runs runs.

    python benchmarks/activations_latency.py [--runs 7] [--threads 2] [--big]

--big also times a 4000 x 3000 JPEG (decoding dominates there). Prints one line per model and upload,
with wall-clock and process CPU seconds: on a machine shared with other jobs the CPU figure (best with
--threads 1) is the stable one, the wall figure is what a user waits.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core.data.images import load_image
from cnn_core.data.preprocess import prepare
from cnn_core.inspect.feature_maps import analyze
from cnn_core.training.zoo import load_efficientnet_lite0, load_lenet5


def timed(fn, runs: int) -> tuple[float, float, float]:
    """(first call, median wall seconds, median CPU seconds of this process) of the following runs."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return first, statistics.median(wall), statistics.median(cpu)


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = PyTorch's default)")
    parser.add_argument("--big", action="store_true", help="also time a 4000 x 3000 JPEG upload")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from sklearn.datasets import load_sample_image

    photo = Image.fromarray(load_sample_image("china.jpg"))  # 640 x 427, a real photo
    uploads = {"china.jpg 640x427": jpeg_bytes(photo)}
    if args.big:
        uploads["4000x3000 JPEG"] = jpeg_bytes(photo.resize((4000, 3000), Image.BILINEAR))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.runs} runs")
    for vm in (load_efficientnet_lite0(), load_lenet5()):
        for label, data in uploads.items():
            def pipeline(vm=vm, data=data, label=label) -> None:
                prepared = prepare(load_image(data, label), vm.input)
                result = analyze(vm.model, prepared.tensor, vm.class_names)
                result.top(5)

            x = prepare(load_image(data, label), vm.input).tensor

            def bare(vm=vm, x=x) -> None:
                with torch.no_grad():
                    vm.model(x)

            first, median, cpu = timed(pipeline, args.runs)
            _, base, base_cpu = timed(bare, args.runs)
            layers = len(analyze(vm.model, x, vm.class_names).layers)
            print(f"{vm.label:30s} {label:17s} bytes -> all {layers} layers + top-5: {median:.4f} s wall "
                  f"({cpu:.4f} s CPU; first call {first:.3f} s) | bare forward {base:.4f} s wall "
                  f"({base_cpu:.4f} s CPU) | ratio {median / base:.1f}x wall, {cpu / max(base_cpu, 1e-6):.1f}x CPU")


if __name__ == "__main__":
    main()
