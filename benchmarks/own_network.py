"""Your own network inside and out: stroke -> prediction, one unit's receptive field, a feature-vis grid.

    python benchmarks/own_network.py [--runs 5] [--threads 1]

1. Stroke end -> prediction and feature maps: the Layer Visualization page's whole server-side rerun
   (AppTest, LeNet-5, "Draw a digit") for a drawing it has not seen yet, i.e. what one lifted stroke
   costs the server: MNIST-style preprocessing, the hooked forward pass, every tab's figures (maps,
   filters, saliency + Grad-CAM, statistics, receptive fields of the trained and the untrained net).
   The canvas component is replaced by the drawing's pixels (a browser is not what is timed).
   Also printed: the cnn_core part alone (prepare_drawing + analyze). Goal <= 0.3 s.
2. Effective receptive field of one unit (effective_field, one backward pass): LeNet-5's features.3
   and features.6, EfficientNet-Lite0's 8th conv. Goal <= 0.2 s.
3. Feature visualization, a 3 x 3 grid (9 channels optimized together): LeNet-5 features.3 with the
   page's settings (128 steps), with --threads threads and with 2; EfficientNet-Lite0 at 128 px
   (40 steps). Goal for LeNet-5 <= 5 s on 2 cores.

Medians of --runs runs (wall seconds; process CPU seconds beside them: the stable figure on a shared machine).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnn_core.data.drawing import prepare_drawing  # noqa: E402
from cnn_core.inspect.feature_maps import analyze  # noqa: E402
from cnn_core.inspect.feature_vis import FeatureVisConfig, visualize_channels  # noqa: E402
from cnn_core.inspect.receptive_field import conv_layer_names, effective_field, theoretical_geometry  # noqa: E402
from cnn_core.training.zoo import load_efficientnet_lite0, load_lenet5  # noqa: E402


def drawing(seed: int) -> np.ndarray:
    """A 280 x 280 RGBA canvas with a seeded hand-drawn-like '7' (black on white)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    jitter = rng.integers(-25, 26, 6)
    points = [(60 + jitter[0], 50 + jitter[1]), (220 + jitter[2], 50 + jitter[3]), (130 + jitter[4], 250 + jitter[5])]
    ImageDraw.Draw(image).line(points, fill=(0, 0, 0, 255), width=int(rng.integers(16, 30)), joint="curve")
    return np.asarray(image)


def timed(fn, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `runs` calls of fn(i) (i = run index, for fresh inputs)."""
    wall, cpu = [], []
    for i in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn(i)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def stroke_to_prediction(runs: int) -> None:
    """The page's rerun for a new drawing, through AppTest with the canvas replaced by pixels."""
    from streamlit.testing.v1 import AppTest

    current = {"rgba": drawing(0)}
    fake = types.ModuleType("streamlit_drawable_canvas")  # the page imports st_canvas from here when it draws
    fake.st_canvas = lambda **_: types.SimpleNamespace(image_data=current["rgba"])
    sys.modules["streamlit_drawable_canvas"] = fake
    at = AppTest.from_file(str(ROOT / "pages" / "4_Layer_Visualization.py"), default_timeout=300)
    at.session_state["lv_model"] = "lenet5-mnist"
    at.session_state["lv_source"] = "Draw a digit"
    at.session_state["lv_last_model"] = "lenet5-mnist"
    at.run()  # warm: the model, the untrained copy, the dataset, every import

    def page(i: int) -> None:
        current["rgba"] = drawing(1000 + i)  # a drawing the caches have not seen
        at.run()
        if at.exception or not at.metric:
            raise SystemExit(f"the page failed: {[e.value for e in at.exception]}")
    wall, cpu = timed(page, runs)
    vm = load_lenet5()

    def core(i: int) -> None:
        ready = prepare_drawing(drawing(2000 + i), vm.input)
        analyze(vm.model, ready.tensor, vm.class_names).top(5)
    core_wall, core_cpu = timed(core, runs)
    print("1. stroke end -> prediction + feature maps (LeNet-5, a new drawing; goal <= 0.3 s)")
    print(f"   whole page rerun (AppTest)        {wall:.3f} s wall  {cpu:.3f} s CPU   prediction '{at.metric[0].value}'")
    print(f"   cnn_core: prepare_drawing+analyze {core_wall:.3f} s wall  {core_cpu:.3f} s CPU")


def receptive_fields(runs: int) -> None:
    """One unit's effective field."""
    lenet, lite = load_lenet5(), load_efficientnet_lite0()
    x28 = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x224 = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    lite_layer = conv_layer_names(lite.model)[7]
    print("2. effective receptive field of one unit (goal <= 0.2 s)")
    for label, model, x, layer in (("LeNet-5 features.3", lenet.model, x28, "features.3"),
                                   ("LeNet-5 features.6", lenet.model, x28, "features.6"),
                                   (f"EfficientNet-Lite0 {lite_layer}", lite.model, x224, lite_layer)):
        effective_field(model, x, layer, 0)  # warm
        wall, cpu = timed(lambda i: effective_field(model, x, layer, i % 4), runs)
        geometry = theoretical_geometry(model, tuple(x.shape[1:]), layer)  # the page caches this per layer
        cached_wall, cached_cpu = timed(lambda i: effective_field(model, x, layer, i % 4, geometry=geometry), runs)
        field = effective_field(model, x, layer, 0)
        print(f"   {label:<44} {wall:.3f} s wall  {cpu:.3f} s CPU; field arithmetic cached (the page): "
              f"{cached_wall:.3f} s wall  {cached_cpu:.3f} s CPU   theoretical {field.theoretical.size[0]} px, "
              f"90 % of |grad| within {field.effective_side(0.9)} px")


def feature_vis(runs: int, threads: int) -> None:
    """A 3 x 3 grid of LeNet-5 channels (page settings) and of EfficientNet-Lite0 channels at 128 px."""
    lenet, lite = load_lenet5(), load_efficientnet_lite0()
    print("3. feature visualization, 3 x 3 grid (9 channels in one batch; LeNet-5 goal <= 5 s on 2 cores)")
    for n in sorted({threads, 2}):
        torch.set_num_threads(n)
        wall, cpu = timed(lambda i: visualize_channels(lenet.model, "features.3", list(range(9)), (1, 28, 28),
                                                       lenet.input.mean, lenet.input.std,
                                                       FeatureVisConfig(steps=128, seed=i)), runs)
        print(f"   LeNet-5 features.3, 128 steps, {n} thread(s)        {wall:.3f} s wall  {cpu:.3f} s CPU")
    torch.set_num_threads(threads)
    for layer in (conv_layer_names(lite.model)[0], "_blocks.6._project_conv", "_conv_head"):
        wall, cpu = timed(lambda i: visualize_channels(lite.model, layer, list(range(9)), (3, 224, 224),
                                                       lite.input.mean, lite.input.std,
                                                       FeatureVisConfig(steps=40, lr=0.05, size=128, seed=i)),
                          max(1, runs // 3))
        print(f"   EfficientNet-Lite0 {layer:<24} 128 px, 40 steps {wall:.2f} s wall  {cpu:.2f} s CPU")


def main() -> None:
    """Print the three figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the server uses 1 per session)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("CNN_PLAYGROUND_TORCH_THREADS", str(args.threads))
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    stroke_to_prediction(args.runs)
    receptive_fields(args.runs)
    feature_vis(args.runs, args.threads)


if __name__ == "__main__":
    main()
