"""Export a training run, or a comparison of runs, as a plain PyTorch script and a Jupyter notebook."""
from __future__ import annotations

import re
from typing import Mapping, Sequence

from cnn_core.errors import InvalidConfig
from cnn_core.export import snippets
from cnn_core.export.cells import Cell, to_notebook, to_script
from cnn_core.export.settings import (INIT_CODE, TORCHVISION_CLASSES, check_exportable, model_class_code,
                                      run_settings, settings_literal)
from cnn_core.training.config import TrainConfig
from cnn_core.training.losses import LOSSES

Configs = TrainConfig | Mapping[str, TrainConfig] | Sequence[TrainConfig]

# Each LOSSES entry as code: (logits N x K, targets N, smoothing) -> scalar
LOSS_CODE: dict[str, str] = {
    "cross-entropy": "lambda z, y, s: F.cross_entropy(z, y, label_smoothing=s)",
    "nll": "lambda z, y, s: F.nll_loss(F.log_softmax(z, dim=1), y)",
    "label-smoothing": "lambda z, y, s: F.cross_entropy(z, y, label_smoothing=s or 0.1)",
    "mse": "lambda z, y, s: F.mse_loss(z.softmax(dim=1), F.one_hot(y, z.shape[1]).to(z.dtype))",
    "hinge": "lambda z, y, s: F.multi_margin_loss(z, y)",
}


def as_runs(configs: Configs) -> dict[str, TrainConfig]:
    """{run label: config} of one config, a dict of configs, or a list (labelled 'run 1', 'run 2', ...)."""
    if isinstance(configs, TrainConfig):
        runs = {configs.optimizer.label(): configs}
    elif isinstance(configs, Mapping):
        runs = {str(label): config for label, config in configs.items()}
    else:
        runs = {f"run {i}": config for i, config in enumerate(configs, start=1)}
    if not runs:
        raise InvalidConfig("Nothing to export: train or set up at least one run first")
    for config in runs.values():
        if not isinstance(config, TrainConfig):
            raise InvalidConfig(f"Cannot export {type(config).__name__}: a TrainConfig is needed")
        check_exportable(config)
    return runs


def export_problem(configs: Configs) -> str | None:
    """Why these configs cannot be exported (a message for the page), or None when they can."""
    try:
        for config in as_runs(configs).values():
            model_class_code(config)
    except InvalidConfig as exc:
        return str(exc)
    return None


def _model_classes(runs: dict[str, TrainConfig]) -> tuple[dict[str, str], dict[str, str]]:
    """({class name: class code}, {run label: class name}): one class per distinct architecture."""
    classes: dict[str, str] = {}
    by_code: dict[str, str] = {}
    names: dict[str, str] = {}
    for label, config in runs.items():
        code = model_class_code(config, "Net")
        if code not in by_code:
            name = "Net" if not classes else f"Net{len(classes) + 1}"
            by_code[code] = name
            classes[name] = re.sub(r"\bNet\b", name, code)
        names[label] = by_code[code]
    return classes, names


def _data_cell(runs: dict[str, TrainConfig]) -> Cell:
    datasets = sorted({c.dataset for c in runs.values()})
    body = ["", "def raw_images(dataset):",
            '    """uint8 images and int64 labels: (x, y) of one pool, or (train_x, train_y, test_x, test_y)."""']
    if "mnist-5k" in datasets:
        body.append(snippets.RAW_MNIST_5K.strip("\n"))
    others = {d: TORCHVISION_CLASSES[d] for d in datasets if d != "mnist-5k"}
    if others:
        body.append(snippets.RAW_TORCHVISION.strip("\n").replace("__CLASSES__", repr(others)))
    else:
        body.append('    raise ValueError(f"unknown dataset {dataset}")')
    code = "\n".join(body) + "\n\n" + snippets.DATA
    return Cell("## Data\n\nThe **input layer** sees normalized images. The app's datasets: "
                f"{', '.join(datasets)}. The split into training / validation / test is seeded (seed 0), so it is "
                "the app's split exactly; the training split's per-channel mean and std normalize all three.", code)


def _model_cell(classes: dict[str, str]) -> Cell:
    code = "\n\n".join(classes.values())
    return Cell("## The model\n\nThe lecture's **basic layers** in the nn.Module style: convolution (shared "
                "weights, local receptive fields), activation, pooling (sub-sampling), then fully-connected layers "
                "that end in one score per class. Shape comments give N x C x H x W after each layer.", code)


def init_function_code(schemes: Sequence[str]) -> str:
    """The exported `initialize(model, scheme, gain)` function, with a branch for each scheme used."""
    lines = []
    for index, scheme in enumerate(dict.fromkeys(s for s in schemes if s != "default")):
        keyword = "if" if index == 0 else "elif"
        lines += [f'            {keyword} scheme == "{scheme}":', f"                {INIT_CODE[scheme]}"]
    if not lines:
        return snippets.INIT_DEFAULT_ONLY.strip("\n") + "\n\n\n" + snippets.INIT_TAIL.split("\n\n\n", 1)[1]
    return snippets.INIT_HEAD.rstrip("\n") + "\n" + "\n".join(lines) + "\n" + snippets.INIT_TAIL.strip("\n")


def _init_cell(runs: dict[str, TrainConfig]) -> Cell:
    return Cell("## Weight initialization\n\nThe scale of the first weights decides whether signals survive "
                "the layers: Xavier/Glorot keeps the variance for tanh, Kaiming/He compensates ReLU's halving. The "
                "memory layout (channels_last) is what the app uses on the CPU.",
                init_function_code([c.init for c in runs.values()]))


def _loss_cell(runs: dict[str, TrainConfig]) -> Cell:
    losses = list(dict.fromkeys(c.loss for c in runs.values()))
    table = "\n".join(f'    "{name}": {LOSS_CODE[name]},  # {LOSSES[name].label}' for name in losses)
    code = ("LOSSES = {\n" + table + "\n}\n\n\ndef compute_loss(name, logits, targets, smoothing=0.0):\n"
            '    """The named loss of a batch of N x K logits and N integer targets (mean over samples)."""\n'
            "    return LOSSES[name](logits, targets, smoothing)\n")
    if any(c.regularization.l1 or c.regularization.l2_penalty for c in runs.values()):
        code += snippets.PENALTY
    return Cell("## Loss function\n\nWhat training minimizes; **regularization** terms (L1 / L2 on the weights) "
                "are added to it when a run asks for them.", code)


def _optimizer_cell(runs: dict[str, TrainConfig]) -> Cell:
    code = snippets.OPTIMIZER
    if any(c.schedule.name != "none" or c.schedule.warmup_steps for c in runs.values()):
        code += snippets.SCHEDULE
    if any(c.regularization.augment.enabled() for c in runs.values()):
        code += "\n\n" + snippets.AUGMENT
    return Cell("## Optimization methods\n\nSGD, momentum, Adam, AdamW ... all from torch.optim, with the "
                "learning-rate schedule stepped once per optimizer step.", code)


def _train_cell(runs: dict[str, TrainConfig]) -> Cell:
    configs = list(runs.values())
    scheduled = any(c.schedule.name != "none" or c.schedule.warmup_steps for c in configs)
    augmented = any(c.regularization.augment.enabled() for c in configs)
    penalized = any(c.regularization.l1 or c.regularization.l2_penalty for c in configs)
    early = any(c.regularization.early_stopping_patience is not None for c in configs)
    code = (snippets.TRAIN
            .replace("__SCHEDULER__", snippets.SCHEDULER_LINE if scheduled else "")
            .replace("__SCHEDULER_STEP__", snippets.SCHEDULER_STEP if scheduled else "")
            .replace("__AUGMENT_GEN__", snippets.AUGMENT_GEN if augmented else "")
            .replace("__AUGMENT__", snippets.AUGMENT_LINE if augmented else "")
            .replace("__TOTAL__", snippets.TOTAL_PENALTY if penalized else snippets.TOTAL_PLAIN)
            .replace("__BEST__", snippets.BEST if early else "")
            .replace("__EARLY_STOP__", snippets.EARLY_STOP if early else ""))
    return Cell("## Evaluation and the training loop\n\n**How to train your network**: shuffle, cut into "
                "mini-batches, forward, loss, backward, optimizer step; after every epoch, measure the validation "
                "loss and accuracy (the gap to training shows over-fitting). Every line printed is one record.",
                snippets.EVALUATE.strip("\n") + "\n\n\n" + code.strip("\n"))


def _runs_cell(runs: dict[str, TrainConfig], names: dict[str, str]) -> Cell:
    entries = "\n".join(f"    {label!r}: {settings_literal(run_settings(config, names[label]))},"
                        for label, config in runs.items())
    what = "one run" if len(runs) == 1 else f"{len(runs)} runs, trained one after another, each with its own seed"
    return Cell(f"## The runs\n\nThe settings of the app ({what}): **hyperparameters** to tune. Change one and run "
                "again.", "RUNS = {\n" + entries + "\n}\n")


def training_cells(configs: Configs, name: str = "export") -> list[Cell]:
    """Every step of the exported script, as markdown + code cells."""
    runs = as_runs(configs)
    classes, names = _model_classes(runs)
    png = re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + "_curves.png"
    return [
        Cell("", snippets.IMPORTS.strip("\n")),
        _data_cell(runs), _model_cell(classes), _init_cell(runs), _loss_cell(runs), _optimizer_cell(runs),
        _train_cell(runs), _runs_cell(runs, names),
        Cell("## Train\n\nEach run prints `step=... loss=...` per step and `val_accuracy=...` at the end.",
             snippets.RUN_ALL),
        Cell("## Curves", snippets.PLOTS_SHOW, snippets.PLOTS_SAVE.replace("__PNG__", png)),
    ]


def _intro(runs: dict[str, TrainConfig]) -> str:
    labels = ", ".join(runs)
    return (f"Exported from CNN Playground: {labels}. Plain PyTorch (no playground code): with the same seed on "
            "the CPU it prints the app's records (the same losses, the same validation accuracy).")


def training_script(configs: Configs, name: str = "export") -> str:
    """One runnable .py script (plain PyTorch) that trains the config(s) and prints their records."""
    runs = as_runs(configs)
    return to_script(training_cells(runs, name), f"{name}: {_intro(runs)}\n\nRun: python3 {name}.py")


def training_notebook(configs: Configs, name: str = "export") -> str:
    """The same steps as an nbformat v4 notebook (JSON text), markdown explaining each step."""
    runs = as_runs(configs)
    return to_notebook(training_cells(runs, name), name, _intro(runs))
