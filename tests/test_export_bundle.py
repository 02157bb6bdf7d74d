"""Pieces every exported detector and segmenter shares: the regenerated scenes, the zip bundle, the printed records."""
from __future__ import annotations

import io
import zipfile

import pytest
import torch

from cnn_core.export import snippets
from cnn_core.export.bundle import zip_bundle
from cnn_core.export.records import parse_records
from cnn_core.export.scene_code import scene_settings, scenes_code
from cnn_core.vision.scenes import SceneConfig, scenes_from_config


def _generated_scene_module() -> dict:
    """The exported data and scene steps, executed as a script would run them."""
    code = (snippets.IMPORTS + "\n\ndef raw_images(dataset):\n" + snippets.RAW_MNIST_5K.strip("\n") + "\n\n"
            + snippets.DATA + scenes_code())
    assert "cnn_core" not in code
    namespace: dict = {}
    exec(compile(code, "exported_scenes", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace


@pytest.mark.parametrize("cfg", [SceneConfig("train", 120, 0, 48, max_digits=4),
                                 SceneConfig("val", 60, 3, 64, clutter=3, max_overlap=0.2, min_digits=2),
                                 SceneConfig("test", 40, 7, 32, max_digits=2, min_scale=0.3, max_scale=0.6)])
def test_exported_scenes_equal_the_apps_bit_for_bit(cfg):
    mine = _generated_scene_module()["make_scenes"](scene_settings(cfg), cfg.split, cfg.count)
    app = scenes_from_config(cfg)
    assert mine["images"].shape == app.images.shape == (cfg.count, 1, cfg.canvas, cfg.canvas)
    assert torch.equal(mine["images"], app.images)
    assert torch.equal(mine["masks"], app.masks)
    assert len(mine["boxes"]) == len(app.boxes) == cfg.count
    assert all(torch.equal(a, b) for a, b in zip(mine["boxes"], app.boxes))
    assert all(torch.equal(a, b) for a, b in zip(mine["labels"], app.labels))
    assert sum(len(b) for b in app.boxes) > cfg.count  # scenes with several digits, not empty canvases


def test_bundle_is_a_zip_of_script_notebook_requirements_and_a_three_line_readme():
    data = zip_bundle("digit_detector", "a detector", "print('hi')\n", '{"cells": []}\n')
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["digit_detector/README.txt", "digit_detector/digit_detector.ipynb",
                                              "digit_detector/digit_detector.py", "digit_detector/requirements.txt"]
        readme = archive.read("digit_detector/README.txt").decode()
        requirements = archive.read("digit_detector/requirements.txt").decode().split()
        assert archive.read("digit_detector/digit_detector.py").decode() == "print('hi')\n"
    assert len(readme.strip().splitlines()) == 3
    assert "pip install -r requirements.txt" in readme and "python digit_detector.py" in readme
    assert {"torch>=2.2", "torchvision>=0.17", "mlxtend"} <= set(requirements)
    assert zip_bundle("digit_detector", "a detector", "print('hi')\n", '{"cells": []}\n') == data  # deterministic


def test_records_read_steps_epochs_and_final_metrics_of_any_run_kind():
    text = "\n".join(['run=1 label="U-Net"', "run=1 step=1 epoch=1 loss=0.5 lr=0.001",
                      "run=1 step=2 epoch=1 loss=0.25 lr=0.001", "run=1 epoch=1 train_loss=0.4 miou=0.3",
                      "run=1 miou=0.3 pixel_acc=0.9", 'run=2 label="no skips"', "run=2 diverged step=1",
                      "run=3 val_accuracy=0.75 test_accuracy=0.5", "a line without records"])
    first, second, third = parse_records(text)
    assert (first.label, first.losses, len(first.epochs)) == ("U-Net", [0.5, 0.25], 1)
    assert first.final == {"miou": 0.3, "pixel_acc": 0.9}
    assert (second.label, second.steps, second.epochs, second.final) == ("no skips", [], [], {})
    assert (third.val_accuracy, third.test_accuracy) == (0.75, 0.5)
