"""Time to generate each export (goal <= 0.2 s), and the exported Train-default script's wall time against the
app's own run of the same config, measured in the same process on the same machine.

    python benchmarks/export.py [--epochs 3] [--per-class N]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnn_core import OptimizerConfig, ScheduleConfig, TrainConfig, TrainingRun  # noqa: E402
from cnn_core.experiments.compare import optimizer_configs  # noqa: E402
from cnn_core.experiments.regularization import variant_configs  # noqa: E402
from cnn_core.export import architecture_notebook, architecture_script, training_notebook, training_script  # noqa: E402
from cnn_core.export.detection import detection_bundle, detection_notebook, detection_script  # noqa: E402
from cnn_core.export.records import parse_records  # noqa: E402
from cnn_core.export.segmentation import segmentation_bundle, segmentation_notebook  # noqa: E402
from cnn_core.export.settings import model_class_code  # noqa: E402
from cnn_core.models.builder import LENET5_SPECS  # noqa: E402
from cnn_core.vision.detect_train import DetectConfig  # noqa: E402
from cnn_core.vision.segmentation import SegConfig  # noqa: E402


def generation_times(train: TrainConfig) -> None:
    """Print the seconds each export takes, cold (no cached model code) and warm."""
    exports = {
        "Train default .py": lambda: training_script(train, "train"),
        "Train default .ipynb": lambda: training_notebook(train, "train"),
        "Optimizers comparison (4 runs) .py": lambda: training_script(optimizer_configs(
            train, [OptimizerConfig(n) for n in ("sgd", "momentum", "adam", "adamw")], ScheduleConfig()), "opt"),
        "Regularization comparison (4 runs) .ipynb": lambda: training_notebook(variant_configs(
            train, ["none", "dropout", "batch-norm", "l2-penalty"]), "reg"),
        "Weight init comparison (3 runs) .py": lambda: training_script(
            {s: replace(train, init=s) for s in ("default", "xavier-uniform", "kaiming-normal-fan-in")}, "init"),
        "Architecture model .py": lambda: architecture_script(LENET5_SPECS, (1, 28, 28)),
        "Architecture model .ipynb": lambda: architecture_notebook(LENET5_SPECS, (1, 28, 28)),
        "Detection default .py": lambda: detection_script(DetectConfig(), "digit_detector"),
        "Detection default .ipynb": lambda: detection_notebook(DetectConfig(), "digit_detector"),
        "Detection default bundle .zip": lambda: detection_bundle(DetectConfig(), "digit_detector"),
        "Segmentation U-Net vs no skips .ipynb": lambda: segmentation_notebook(
            {"U-Net": SegConfig(), "no skips": SegConfig(skips=False)}, "unet_segmenter"),
        "Segmentation U-Net vs no skips bundle .zip": lambda: segmentation_bundle(
            {"U-Net": SegConfig(), "no skips": SegConfig(skips=False)}, "unet_segmenter"),
    }
    start = time.perf_counter()
    architecture_script(LENET5_SPECS[:3], (1, 12, 12))  # first use of the meta device: torch imports its compiler
    print(f"one-time warm-up (torch's lazy imports, paid once per process) {time.perf_counter() - start:6.3f} s")
    for label, make in exports.items():
        model_class_code.cache_clear()
        start = time.perf_counter()
        make()
        cold = time.perf_counter() - start
        start = time.perf_counter()
        make()
        warm = time.perf_counter() - start
        print(f"generate {label:<44} cold {cold:6.3f} s   warm {warm:6.3f} s   (goal <= 0.2 s)")


def script_vs_app(config: TrainConfig) -> None:
    """Wall time of `python3 exported.py` (interpreter start, imports, data, training, plot) vs TrainingRun."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.py"
        path.write_text(training_script(config, "train"))
        start = time.perf_counter()
        done = subprocess.run([sys.executable, path.name], cwd=folder, capture_output=True, text=True, check=True)
        script = time.perf_counter() - start
    start = time.perf_counter()
    run = TrainingRun(config)
    records = list(run.records())
    app = time.perf_counter() - start
    # the app's run in a fresh interpreter too: both sides then pay Python's start and torch's import
    fresh_app = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r}); "
                 f"from cnn_core import TrainConfig, TrainingRun; from dataclasses import replace; "
                 f"list(TrainingRun(replace(TrainConfig(), epochs={config.epochs}, "
                 f"per_class={config.per_class})).records())")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", fresh_app], check=True, capture_output=True)
    app_fresh = time.perf_counter() - start
    (printed,) = parse_records(done.stdout)
    same = printed.val_accuracy == [r for r in records if r.kind == "epoch"][-1].val_acc
    print(f"Train default ({config.epochs} epochs, per_class={config.per_class}): exported script {script:.2f} s, "
          f"app TrainingRun in a fresh python3 {app_fresh:.2f} s: ratio script/app {script / app_fresh:.2f} "
          f"(app in-process, imports already paid: {app:.2f} s); same final val accuracy: {same}")


def main() -> None:
    """Parse the arguments and print both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the Train page's default run (3)")
    parser.add_argument("--per-class", type=int, default=None, help="training images per class (all)")
    args = parser.parse_args()
    train = replace(TrainConfig(), epochs=args.epochs, per_class=args.per_class)
    generation_times(train)
    script_vs_app(train)


if __name__ == "__main__":
    main()
