"""The exported digit detector (script, notebook, zip) is plain PyTorch and prints DetectionRun's records."""
from __future__ import annotations

import ast
import io
import json
import re
import math
import zipfile
from dataclasses import replace

import pytest

from cnn_core.export.detection import detection_bundle, detection_notebook, detection_script
from cnn_core.export.records import PrintedRun, parse_records
from cnn_core.vision.detect_train import DetectConfig, DetectionRun
from tests.test_export_notebook import _execute
from tests.test_export_script import FIRST_STEPS, run_script

# 160 scenes in batches of 16 for 2 epochs: 20 optimizer steps, then the mAP on 32 held-out scenes. After so few
# steps every score is small: a score threshold of 0 keeps all 64 cells of a scene, so the mAP is not zero and
# its bits are compared (through the NMS and the matching of many boxes).
SMALL = DetectConfig(train_scenes=160, val_scenes=32, epochs=2, batch_size=16, lr=1e-2, score_threshold=0.0)
# clutter, a narrow backbone, another seed and scene seed, half an epoch of warm-up, a last batch of 8 scenes and
# the app's score threshold (a high learning rate gets some scores above it within 12 steps)
CLUTTER = DetectConfig(train_scenes=88, val_scenes=32, epochs=2, batch_size=16, width=8, clutter=3, seed=3,
                       scene_seed=1, warmup_epochs=0.5, lr=3e-2)


def assert_reproduces(printed: PrintedRun, config: DetectConfig, extra_epochs: int = 0) -> None:
    """The first 20 losses equal DetectionRun's to 1e-5 relative; every epoch's mAP (and the final) is equal."""
    run = DetectionRun(config)
    records = list(run.records())
    if extra_epochs:  # the page's "Continue": more epochs of the same run, past the planned schedule
        records += list(run.records(extra_epochs))
    steps = [r for r in records if r.kind == "step"]
    epochs = [r for r in records if r.kind == "epoch"]
    assert printed.label == "detector"
    assert len(printed.steps) == len(steps) and len(printed.epochs) == len(epochs) == config.epochs + extra_epochs
    for mine, theirs in zip(printed.steps[:FIRST_STEPS], steps[:FIRST_STEPS]):
        assert (mine["step"], mine["epoch"]) == (theirs.step, theirs.epoch)
        for key, value in (("loss", theirs.train_loss), ("objectness", theirs.objectness), ("box", theirs.box),
                           ("classes", theirs.classes), ("lr", theirs.lr)):
            assert math.isclose(mine[key], value, rel_tol=1e-5), (key, mine, theirs)
    for mine, theirs in zip(printed.epochs, epochs):
        assert math.isclose(mine["train_loss"], theirs.train_loss, rel_tol=1e-5)
        # the evaluation runs the same float operations in the same order on the same weights: equal bits
        assert (mine["val_map50"], mine["val_map"]) == (theirs.val_map50, theirs.val_map)
    assert printed.final == {"val_map50": epochs[-1].val_map50, "val_map": epochs[-1].val_map}
    assert max(e.val_map50 for e in epochs) > 0  # a comparison of zeros alone would prove little


def _functions_without_docstring(source: str) -> list[str]:
    """Names of the functions and classes of a module (at any depth) that have no docstring."""
    return [node.name for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is None]


def test_script_is_plain_pytorch_and_compiles():
    source = detection_script(SMALL, "digit_detector")
    assert "cnn_core" not in source
    compile(source, "digit_detector.py", "exec")
    assert _functions_without_docstring(source) == []  # every generated function says what it does
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert imported <= {"functools", "math", "random", "matplotlib", "numpy", "pandas", "torch", "torchvision",
                        "PIL", "mlxtend"}
    assert "'train_scenes': 160," in source and "'lr': 0.01," in source and 'savefig("digit_detector_results.png"' \
        in source


def test_bundle_holds_the_script_notebook_requirements_and_readme():
    data = detection_bundle(CLUTTER, "digit_detector")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(archive.namelist())
        files = {name: archive.read(name).decode() for name in names}
    assert names == ["digit_detector/README.txt", "digit_detector/digit_detector.ipynb",
                     "digit_detector/digit_detector.py", "digit_detector/requirements.txt"]
    assert files["digit_detector/digit_detector.py"] == detection_script(CLUTTER, "digit_detector")
    assert "cnn_core" not in files["digit_detector/digit_detector.py"]
    assert "cnn_core" not in files["digit_detector/digit_detector.ipynb"]
    readme = files["digit_detector/README.txt"].splitlines()
    assert len(readme) == 3 and readme[2].startswith("Run: python digit_detector.py")
    requirements = {re.split(r"[<>=]", line)[0] for line in files["digit_detector/requirements.txt"].splitlines()}
    assert {"torch", "torchvision", "mlxtend"} <= requirements
    cells = json.loads(files["digit_detector/digit_detector.ipynb"])["cells"]
    markdown = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    for concept in ("backbone", "objectness", "Target encoding", "three-part loss", "warm-up", "cosine",
                    "non-maximum suppression", "precision-recall", "mAP@0.5"):
        assert concept in markdown
    assert detection_bundle(CLUTTER, "digit_detector") == data  # fixed timestamps: the same run, the same bytes


@pytest.mark.slow
@pytest.mark.parametrize("config", [SMALL, CLUTTER], ids=["small", "clutter-width-8"])
def test_exported_script_reproduces_the_detection_run(config, tmp_path):
    (printed,) = run_script(detection_script(config, "digit_detector"), tmp_path, "digit_detector")
    assert_reproduces(printed, config)
    assert (tmp_path / "digit_detector_results.png").stat().st_size > 0


@pytest.mark.slow
def test_exported_script_reproduces_a_continued_run(tmp_path):
    config = replace(CLUTTER, epochs=1)  # 1 planned epoch, then 1 more at the schedule's floor
    (printed,) = run_script(detection_script(config, "continued", train_epochs=2), tmp_path, "continued")
    assert_reproduces(printed, config, extra_epochs=1)


@pytest.mark.slow
def test_exported_notebook_reproduces_the_detection_run(tmp_path):
    text = detection_notebook(CLUTTER, "digit_detector")
    assert "cnn_core" not in text
    (printed,) = parse_records(_execute(text, tmp_path))
    assert_reproduces(printed, CLUTTER)
    assert not (tmp_path / "digit_detector_results.png").exists()  # the notebook shows its figure instead
