"""The Segmentation page's export: a plain PyTorch script / notebook / zip that prints SegmentationRun's records."""
from __future__ import annotations

import ast
import functools
import io
import json
import math
import zipfile
from dataclasses import fields, replace

import pytest
import torch

from cnn_core.device import seed_everything
from cnn_core.errors import InvalidConfig
from cnn_core.export.records import PrintedRun, parse_records
from cnn_core.export.segmentation import (SCENE_FIELDS, as_seg_runs, exported_fields, segmentation_bundle,
                                          segmentation_cells, segmentation_notebook, segmentation_script)
from cnn_core.training.optimizers import OptimizerConfig, make_optimizer
from cnn_core.vision import segmentation as seg
from tests.test_export_notebook import _execute
from tests.test_export_script import FIRST_STEPS, run_script

# 40 scenes of 32 x 32 in batches of 4: 10 steps an epoch, 20 steps in 2 epochs; the smallest widths (base 4),
# two poolings (each run takes ~1.5 s of CPU)
SHORT = seg.SegConfig(train_scenes=40, val_scenes=16, canvas=32, base=4, depth=2, epochs=2, batch_size=4)
PAIR = {"U-Net (skips on)": SHORT, "Encoder-decoder (skips off)": replace(SHORT, skips=not SHORT.skips)}
# Beside the page's pair: both normalizations, every loss and schedule, both modes and background weights,
# the trained network scored as it is (ema 0) and a moving average of its weights (ema > 0)
VARIANTS = {
    **PAIR,
    "batch norm, cross-entropy, decay": replace(SHORT, norm="batch", loss="cross-entropy", schedule="decay",
                                                background_weight=0.1, ema=0.0),
    "group norm, dice, constant, foreground": replace(SHORT, norm="group", loss="dice", schedule="constant",
                                                      mode="foreground", background_weight=1.0, ema=0.9, seed=3),
}
METRICS = ("pixel_acc", "miou", "boundary_acc")
CONCEPTS = ("encoder", "max-pooling", "transposed convolution", "skip connection", "concatenat", "cross-entropy",
            "background", "Dice", "Adam", "schedule", "IoU", "mIoU", "boundary accuracy")


def _namespace(configs: dict[str, seg.SegConfig]) -> dict:
    """The exported script's definitions, executed without its training (the __main__ blocks are skipped)."""
    namespace: dict = {"__name__": "exported_segmenter"}
    exec(compile(segmentation_script(configs, "check"), "exported_segmenter", "exec"), namespace)  # noqa: S102
    return namespace


@functools.lru_cache(maxsize=None)
def app_records(config: seg.SegConfig) -> tuple[seg.SegRecord, ...]:
    """The records the app's SegmentationRun gives for a config (one run per config in this test process)."""
    return tuple(seg.SegmentationRun(config).records())


def _same(mine: float, theirs: float) -> bool:
    """Equal floats, NaN included (a class-less mIoU is NaN on both sides)."""
    return (math.isnan(mine) and math.isnan(theirs)) or mine == theirs


def assert_reproduces_segmenter(printed: PrintedRun, label: str, config: seg.SegConfig) -> None:
    """The first 20 losses equal the app's to 1e-5 relative; every epoch's metrics and the final ones are equal."""
    records = app_records(config)
    losses = [r.train_loss for r in records if r.kind == "step"]
    epochs = [r for r in records if r.kind == "epoch"]
    assert printed.label == label
    assert len(losses) >= FIRST_STEPS and len(printed.losses) == len(losses)
    for mine, theirs in zip(printed.losses[:FIRST_STEPS], losses[:FIRST_STEPS]):
        assert math.isclose(mine, theirs, rel_tol=1e-5), (label, printed.losses[:FIRST_STEPS], losses[:FIRST_STEPS])
    assert len(printed.epochs) == len(epochs) == config.epochs
    for mine, theirs in zip(printed.epochs, epochs):
        assert math.isclose(mine["train_loss"], theirs.train_loss, rel_tol=1e-5)
        assert math.isclose(mine["val_loss"], theirs.val_loss, rel_tol=1e-5)
        assert all(_same(mine[k], getattr(theirs, k)) for k in METRICS), (label, mine, theirs)
    assert set(printed.final) == set(METRICS)
    assert all(_same(printed.final[k], getattr(epochs[-1], k)) for k in METRICS), (label, printed.final, epochs[-1])


# ------------------------------------------------------------------ fast: the files and each piece


def test_script_is_plain_pytorch_and_the_bundle_holds_four_files():
    script = segmentation_script(PAIR, "unet_segmenter")
    assert "cnn_core" not in script and "import torch" in script
    compile(script, "unet_segmenter.py", "exec")
    assert all(f'"{label}": {{' in script for label in PAIR)  # both runs, one after another
    data = segmentation_bundle(PAIR, "unet_segmenter")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["unet_segmenter/README.txt", "unet_segmenter/requirements.txt",
                                              "unet_segmenter/unet_segmenter.ipynb", "unet_segmenter/unet_segmenter.py"]
        readme = archive.read("unet_segmenter/README.txt").decode()
        requirements = archive.read("unet_segmenter/requirements.txt").decode().split()
        assert archive.read("unet_segmenter/unet_segmenter.py").decode() == script
        notebook = archive.read("unet_segmenter/unet_segmenter.ipynb").decode()
    assert len(readme.strip().splitlines()) == 3
    assert any(r.startswith("torch") for r in requirements) and "mlxtend" in requirements
    assert notebook == segmentation_notebook(PAIR, "unet_segmenter") and "cnn_core" not in notebook
    assert segmentation_bundle(PAIR, "unet_segmenter") == data  # the same experiment, the same bytes


def test_notebook_explains_the_lectures_concepts_in_markdown():
    cells = json.loads(segmentation_notebook(PAIR, "unet_segmenter"))["cells"]
    markdown = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert [c for c in CONCEPTS if c.lower() not in markdown.lower()] == []
    assert "`skips`" in markdown  # the runs cell names what the pair differs in
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "plt.show()" in code and "savefig" not in code  # the notebook shows; the script saves
    assert "savefig(\"unet_segmenter_miou.png\"" in segmentation_script(PAIR, "unet_segmenter")


def test_every_generated_function_has_a_one_line_docstring():
    tree = ast.parse(segmentation_script(VARIANTS, "check"))
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert len(functions) > 20
    missing = [f.name for f in functions if not (ast.get_docstring(f) or "").strip()
               or "\n" in ast.get_docstring(f).strip()]
    assert missing == []


def test_a_single_config_is_one_run_labelled_by_its_skips():
    assert list(as_seg_runs(SHORT)) == ["U-Net (skips on)"]
    assert list(as_seg_runs(replace(SHORT, skips=False))) == ["Encoder-decoder (skips off)"]
    assert len(segmentation_cells(SHORT)) == len(segmentation_cells(PAIR))
    assert "cnn_core" not in segmentation_script(SHORT)
    with pytest.raises(InvalidConfig, match="SegConfig"):
        as_seg_runs({"run": object()})  # type: ignore[dict-item]
    with pytest.raises(InvalidConfig, match="base"):
        as_seg_runs(replace(SHORT, base=2))


def test_every_segconfig_field_reaches_the_exported_runs():
    # a field the segmenter gains must be exported (and mirrored in the script), or the export would drift
    assert {f.name for f in fields(seg.SegConfig)} == exported_fields()
    script = segmentation_script(VARIANTS, "check")
    namespace = _namespace(VARIANTS)
    for label, config in VARIANTS.items():
        run = namespace["RUNS"][label]
        assert {k: v for k, v in run.items() if k != "scenes"} == {
            name: getattr(config, name) for name in exported_fields() - set(SCENE_FIELDS)}
        assert run["scenes"]["seed"] == config.scene_seed and run["scenes"]["canvas"] == config.canvas
        assert run["scenes"]["max_digits"] == config.max_digits
    assert script.count("        # the network\n") == len(VARIANTS)


@pytest.mark.parametrize("norm", seg.NORMS)
@pytest.mark.parametrize("skips", [True, False])
def test_generated_unet_has_the_apps_initial_weights_and_outputs(norm, skips):
    config = replace(SHORT, norm=norm, skips=skips, depth=3)
    namespace = _namespace({"run": config})
    namespace["seed_everything"](config.seed)
    mine = namespace["UNet"](1, config.num_classes, config.base, config.depth, config.skips, config.norm)
    seed_everything(config.seed)
    theirs = config.build()
    assert list(mine.state_dict()) == list(theirs.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()))
    x = torch.rand(3, 1, config.canvas, config.canvas)
    mine.to(memory_format=torch.channels_last)
    theirs.to(memory_format=torch.channels_last)
    assert torch.equal(mine(x), theirs(x))


def test_generated_schedule_averaging_loss_and_optimizer_equal_the_apps():
    namespace = _namespace(VARIANTS)
    for schedule in seg.SCHEDULES:
        for total in (1, 7, 20, 40, 333):
            mine = [namespace["lr_factor"](s, total, schedule) for s in range(total + 3)]
            assert mine == [seg.lr_factor(s, total, schedule) for s in range(total + 3)], (schedule, total)
    logits = torch.randn(2, 11, 16, 16).to(memory_format=torch.channels_last)
    target = torch.randint(0, 11, (2, 16, 16))
    for loss in seg.LOSSES:
        for weight in (0.1, 1.0):
            mine = namespace["segmentation_loss"](loss, logits, target, weight)
            assert torch.equal(mine, seg.segmentation_loss(loss, logits, target, weight)), (loss, weight)
    for ema in (0.9, 0.99, 0.999):
        mine = [namespace["ema_decay"](ema, n) for n in range(1, 2000)]
        assert mine == [seg.ema_decay(ema, n) for n in range(1, 2000)], ema
    model = SHORT.build()
    mine = namespace["make_optimizer"](model, 3e-3).defaults
    assert mine == make_optimizer(model.parameters(), OptimizerConfig("adam", lr=3e-3)).defaults


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_generated_weight_average_follows_the_apps(ema):
    config = replace(SHORT, norm="batch", ema=ema)  # batch norm: its running statistics are averaged too
    namespace = _namespace({"run": config})
    run = seg.SegmentationRun(config)  # its net and its averaged model (the model it scores)
    seed_everything(config.seed)
    net = config.build().to(memory_format=torch.channels_last)
    average = namespace["make_average"](net, ema)
    assert (average is None) == (run.model is run.net)
    for _ in range(3):  # the same changes to both trained networks, then one averaging update each
        with torch.no_grad():
            for mine, theirs in zip(net.state_dict().values(), run.net.state_dict().values()):
                change = torch.randn_like(mine, dtype=torch.float32).to(mine.dtype)
                mine.add_(change)
                theirs.add_(change)
        if average is not None:
            average.update_parameters(net)
            run._average.update_parameters(run.net)
    scored = average.module if average is not None else net
    assert all(torch.equal(a, b) for a, b in zip(scored.state_dict().values(), run.model.state_dict().values()))


@pytest.mark.parametrize("mode", seg.MODES)
def test_generated_evaluation_equals_evaluate_segmenter(mode):
    config = replace(SHORT, mode=mode, loss="cross-entropy + dice", val_scenes=70)  # 70: two batches of 64
    namespace = _namespace({"run": config})
    images, target = namespace["scene_set"](namespace["RUNS"]["run"], "val")
    scenes = seg.cached_scenes(config.scenes("val"))
    assert torch.equal(images, scenes.images) and torch.equal(target, seg.target_masks(scenes, mode))
    torch.manual_seed(1)
    model = config.build().to(memory_format=torch.channels_last)
    theirs = seg.evaluate_segmenter(model, scenes, mode, config.loss)
    mine = namespace["evaluate"](model, images, target, config.loss)
    assert mine.keys() == theirs.keys()
    assert all(_same(a, b) for a, b in zip(mine["class_iou"], theirs["class_iou"]))
    assert all(_same(mine[k], theirs[k]) for k in ("val_loss", *METRICS)), (mine, theirs)


# ------------------------------------------------------------------ slow: the whole experiment, run


@pytest.mark.slow
def test_exported_script_reproduces_every_variants_records(tmp_path):
    printed = run_script(segmentation_script(VARIANTS, "segmenter_variants"), tmp_path, "segmenter_variants")
    assert [p.label for p in printed] == list(VARIANTS)
    for run, (label, config) in zip(printed, VARIANTS.items()):
        assert_reproduces_segmenter(run, label, config)
    assert (tmp_path / "segmenter_variants_miou.png").stat().st_size > 0
    assert (tmp_path / "segmenter_variants_masks.png").stat().st_size > 0


@pytest.mark.slow
def test_exported_notebook_reproduces_the_pages_pair(tmp_path):
    text = segmentation_notebook(PAIR, "unet_segmenter")
    printed = parse_records(_execute(text, tmp_path))
    assert [p.label for p in printed] == list(PAIR)
    for run, (label, config) in zip(printed, PAIR.items()):
        assert_reproduces_segmenter(run, label, config)
