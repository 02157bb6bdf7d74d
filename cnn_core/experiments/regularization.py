"""Regularization experiments: named variants of a base run, weight statistics, augmentation previews.

A variant is a function (base TrainConfig, strengths) -> TrainConfig that switches on exactly one
regularizer, so a side-by-side comparison with the same seed isolates its effect. The base setting
overfits on purpose: few training samples per class and enough epochs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from cnn_core.data import Dataset
from cnn_core.data.augment import AugmentConfig, augment_batch
from cnn_core.errors import InvalidConfig
from cnn_core.experiments.compare import MAX_RUNS, summary_table
from cnn_core.models import LayerSpec, build_model
from cnn_core.training import Record, RegularizationConfig, TrainConfig, epoch_records, model_options_for
from cnn_core.training.optimizers import OptimizerConfig

REG_MODELS = ("mlp", "lenet5-modern")  # the networks the regularization page offers (the MLP overfits most)
NEAR_ZERO = 1e-3  # |w| below this counts as "practically zero" (L1's sparsity)


@dataclass(frozen=True)
class Strengths:
    """How strongly each variant regularizes (one knob per variant; hashable)."""

    weight_decay: float = 5e-3      # optimizer weight_decay (L2 coupled through the optimizer's update)
    adamw_decay: float = 0.5        # AdamW's decoupled decay (multiplied by the learning rate each step)
    l2_penalty: float = 2.5e-3      # lambda of lambda * sum w^2 added to the loss (= weight_decay / 2)
    l1: float = 1e-4                # lambda of lambda * sum |w| added to the loss
    dropout: float = 0.5            # drop probability in the classifier
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(shift=3, rotate=15, min_scale=0.85))
    patience: int = 3               # early stopping: epochs without a better validation loss
    label_smoothing: float = 0.1    # epsilon of the smoothed targets


@dataclass(frozen=True)
class VariantSpec:
    """A registry entry: short label, what it does, and how it changes the base config."""

    label: str
    explanation: str
    build: Callable[[TrainConfig, Strengths], TrainConfig]
    describe: Callable[[Strengths], str] = lambda s: ""  # the strength in a run label, e.g. 'p=0.5'


def _with_reg(config: TrainConfig, **changes: object) -> TrainConfig:
    return replace(config, regularization=replace(config.regularization, **changes))


# A LeNet-5 with a quarter of the channels and no F6/C5: ~3k parameters instead of 61,706.
SMALL_CNN_SPECS: tuple[LayerSpec, ...] = (
    LayerSpec.of("conv", out_channels=4, kernel_size=5, padding=2),   # 4 x 28 x 28
    LayerSpec.of("activation", name="relu"),
    LayerSpec.of("maxpool", kernel_size=2),                           # 4 x 14 x 14
    LayerSpec.of("conv", out_channels=8, kernel_size=5),              # 8 x 10 x 10
    LayerSpec.of("activation", name="relu"),
    LayerSpec.of("maxpool", kernel_size=2),                           # 8 x 5 x 5
    LayerSpec.of("flatten"),                                          # 200
    LayerSpec.of("linear", out_features=10),
)


def smaller_network(config: TrainConfig) -> TrainConfig:
    """The same run with a much smaller network of the same family (fewer parameters to memorize with)."""
    opts = config.model_options
    if config.model == "mlp":  # 784-256-256-10 -> 784-32-10
        return replace(config, model="deep-mlp", model_options=replace(opts, depth=1, width=32))
    if config.model.startswith("lenet5"):
        return replace(config, model="custom", model_options=replace(opts, layers=SMALL_CNN_SPECS))
    if config.model in ("deep-mlp", "plain-cnn"):
        default = 128 if config.model == "deep-mlp" else 16
        return replace(config, model_options=replace(opts, width=max(1, (opts.width or default) // 4)))
    raise InvalidConfig(f"No smaller version of '{config.model}' is defined")


REG_VARIANTS: dict[str, VariantSpec] = {
    "none": VariantSpec(
        "No regularization",
        "The baseline: it memorizes the small training set, so its validation loss turns up.",
        lambda c, s: c),
    "weight-decay": VariantSpec(
        "L2 (weight_decay)",
        "L2 through the optimizer: PyTorch adds λ·w to every parameter's gradient (biases too). "
        "For SGD that is exactly the gradient of the penalty λ/2·‖w‖²; for Adam the decay is then "
        "divided by Adam's per-weight step size like any gradient (coupled).",
        lambda c, s: replace(c, optimizer=replace(c.optimizer, weight_decay=s.weight_decay)),
        lambda s: f"λ={s.weight_decay:g}"),
    "adamw": VariantSpec(
        "AdamW (decoupled)",
        "Adam with decoupled weight decay: every step also shrinks the weights directly, "
        "w ← w − lr·λ·w, outside Adam's gradient scaling (Loshchilov & Hutter).",
        lambda c, s: replace(c, optimizer=OptimizerConfig("adamw", lr=c.optimizer.resolved_lr(),
                                                          weight_decay=s.adamw_decay)),
        lambda s: f"λ={s.adamw_decay:g}"),
    "l2-penalty": VariantSpec(
        "L2 penalty",
        "λ·Σw² added to the loss (weights only, not biases): the textbook form. Its gradient "
        "2λ·w goes through the optimizer like the data gradient.",
        lambda c, s: _with_reg(c, l2_penalty=s.l2_penalty),
        lambda s: f"λ={s.l2_penalty:g}"),
    "l1": VariantSpec(
        "L1 penalty",
        "λ·Σ|w| added to the loss: a constant pull towards 0 whatever the size of w, so many "
        "weights end up (almost) exactly zero: sparse weights.",
        lambda c, s: _with_reg(c, l1=s.l1),
        lambda s: f"λ={s.l1:g}"),
    "dropout": VariantSpec(
        "Dropout",
        "During training, zero each hidden activation with probability p (and scale the rest by 1/(1−p)); "
        "off at evaluation. Units cannot rely on particular partners.",
        lambda c, s: replace(c, model_options=replace(c.model_options, dropout=s.dropout)),
        lambda s: f"p={s.dropout:g}"),
    "batch-norm": VariantSpec(
        "Batch norm",
        "Normalize every layer's output over the batch: mainly speeds up training; the batch noise "
        "regularizes a little.",
        lambda c, s: replace(c, model_options=replace(c.model_options, batch_norm=True))),
    "augment": VariantSpec(
        "Augmentation",
        "Random shifts, rotations and zooms of every training image, new each epoch: more (plausible) data "
        "for free. Labels stay the same.",
        lambda c, s: _with_reg(c, augment=s.augment),
        lambda s: f"±{s.augment.shift}px ±{s.augment.rotate:g}°"),
    "early-stopping": VariantSpec(
        "Early stopping",
        "Stop when the validation loss has not improved for `patience` epochs and restore the weights of "
        "the best epoch.",
        lambda c, s: _with_reg(c, early_stopping_patience=s.patience),
        lambda s: f"patience {s.patience}"),
    "label-smoothing": VariantSpec(
        "Label smoothing",
        "Train towards 1−ε+ε/K for the true class and ε/K elsewhere: discourages over-confident "
        "logits. (Its training loss includes the smoothing, so it cannot fall to 0.)",
        lambda c, s: _with_reg(c, label_smoothing=s.label_smoothing),
        lambda s: f"ε={s.label_smoothing:g}"),
    "smaller": VariantSpec(
        "Smaller network",
        "Fewer parameters, less capacity to memorize: the oldest regularizer (a baseline for the others).",
        lambda c, s: smaller_network(c)),
}


def overfit_config(model: str = "mlp", per_class: int = 100, epochs: int = 20, batch_size: int = 64,
                   optimizer: OptimizerConfig | None = None, seed: int = 0, dataset: str = "mnist-5k") -> TrainConfig:
    """A base run that overfits on purpose: a small training subset, enough epochs, no regularizer.

    Measured with the defaults (MLP, 100 images per class, Adam 1e-3, batch 64, seed 0): the validation
    loss is lowest at epoch 5 and about 19 % higher at epoch 20 while the training loss keeps falling.
    LeNet-5 overfits much less in 20 epochs (weight sharing is itself a regularizer).
    """
    if model not in REG_MODELS:
        raise InvalidConfig(f"The regularization page trains {', '.join(REG_MODELS)}, not '{model}'")
    if not 5 <= per_class <= 500:
        raise InvalidConfig(f"Samples per class must be 5..500 to overfit on purpose, got {per_class}")
    return TrainConfig(dataset=dataset, per_class=per_class, model=model, epochs=epochs, batch_size=batch_size,
                       optimizer=optimizer or OptimizerConfig("adam"), regularization=RegularizationConfig(),
                       seed=seed)


def variant_label(name: str, strengths: Strengths) -> str:
    """A run label such as 'Dropout p=0.5'."""
    spec = REG_VARIANTS[name]
    detail = spec.describe(strengths)
    return f"{spec.label} {detail}".strip()


def variant_configs(base: TrainConfig, names: Sequence[str],
                    strengths: Strengths | None = None) -> dict[str, TrainConfig]:
    """{run label: TrainConfig} for the named variants of one base run (same data and seed)."""
    strengths = strengths or Strengths()
    if not 1 <= len(names) <= MAX_RUNS:
        raise InvalidConfig(f"Pick 1 to {MAX_RUNS} variants, got {len(names)}")
    unknown = [n for n in names if n not in REG_VARIANTS]
    if unknown:
        raise InvalidConfig(f"Unknown regularization variant(s): {', '.join(unknown)}")
    configs = {variant_label(n, strengths): REG_VARIANTS[n].build(base, strengths) for n in dict.fromkeys(names)}
    for config in configs.values():
        config.validate()
    return configs


# ------------------------------------------------------------------ weights of trained models


def model_from_state(config: TrainConfig, state: Mapping[str, torch.Tensor], data: Dataset) -> nn.Module:
    """A fresh model of the config's architecture holding a copy of `state` (the state itself is not touched)."""
    model = build_model(config.model, model_options_for(config, data))
    model.load_state_dict(state)  # copies the values into the new model's own tensors
    model.eval()
    return model


def weight_values(model: nn.Module) -> torch.Tensor:
    """All conv/linear weights (not biases, not batch-norm scales) as one flat CPU tensor."""
    weights = [p.detach().cpu().flatten() for name, p in model.named_parameters()
               if name.endswith("weight") and p.ndim > 1]
    return torch.cat(weights) if weights else torch.empty(0)


def weight_stats(models: Mapping[str, nn.Module], near_zero: float = NEAR_ZERO) -> pd.DataFrame:
    """One row per run: weights count, L2 norm, mean |w|, max |w|, fraction of |w| < near_zero."""
    rows = []
    for label, model in models.items():
        w = weight_values(model).double()
        rows.append({"run": label, "weights": w.numel(), "l2_norm": float(w.norm()),
                     "mean_abs": float(w.abs().mean()) if w.numel() else math.nan,
                     "max_abs": float(w.abs().max()) if w.numel() else math.nan,
                     "near_zero": float((w.abs() < near_zero).double().mean()) if w.numel() else math.nan})
    return pd.DataFrame(rows)


def weight_histograms(models: Mapping[str, nn.Module], bins: int = 40, low: float = 1e-6,
                      high: float | None = None) -> pd.DataFrame:
    """Histogram of log10 |w| per run on one common grid: columns run, left, right, center, fraction.

    A log axis shows both effects: L2 moves the whole distribution left (smaller weights), L1 piles
    weights up near zero (|w| below `low` land in the first bin).
    """
    values = {label: weight_values(model).abs().double() for label, model in models.items()}
    top = high or max((float(v.max()) for v in values.values() if v.numel()), default=1.0)
    lo, hi = math.log10(low), math.log10(max(top, low * 10))
    edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
    rows = []
    for label, v in values.items():
        logs = torch.log10(v.clamp_min(low))
        counts = torch.histc(logs, bins=bins, min=lo, max=hi) / max(v.numel(), 1)
        for b in range(bins):
            left, right = float(edges[b]), float(edges[b + 1])
            rows.append({"run": label, "left": left, "right": right, "center": (left + right) / 2,
                         "fraction": float(counts[b])})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ records


def early_stop_marks(histories: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """Runs that stopped early: run, best_epoch (weights restored from), stopped_after (last epoch trained)."""
    rows = []
    for label, records in histories.items():
        stop = next((r for r in records if r.kind == "early_stop"), None)
        if stop is not None:
            last = max((r.epoch for r in records if r.kind == "epoch"), default=stop.epoch)
            rows.append({"run": label, "best_epoch": stop.epoch, "stopped_after": last})
    return pd.DataFrame(rows, columns=["run", "best_epoch", "stopped_after"])


def validation_minimum(records: Sequence[Record]) -> dict[str, float]:
    """Where the validation loss bottomed out and how far it rose afterwards.

    Keys: min_epoch, min_val_loss, final_val_loss, rise (final - min), rise_fraction, train_loss_drop
    (train loss at the minimum minus the final train loss: > 0 when training kept improving).
    """
    epochs = epoch_records(records)
    if not epochs:
        raise InvalidConfig("No finished epochs yet")
    best = min(epochs, key=lambda r: r.val_loss)
    last = epochs[-1]
    return {"min_epoch": best.epoch, "min_val_loss": best.val_loss, "final_val_loss": last.val_loss,
            "rise": last.val_loss - best.val_loss,
            "rise_fraction": (last.val_loss - best.val_loss) / best.val_loss if best.val_loss else math.nan,
            "train_loss_drop": best.train_loss - last.train_loss}


def regularization_summary(histories: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """compare.summary_table plus the epoch of minimal validation loss and the final accuracy gap."""
    table = summary_table({k: list(v) for k, v in histories.items()})
    extra = []
    for label, records in histories.items():
        epochs = epoch_records(records)
        if epochs:
            minimum = validation_minimum(records)
            extra.append({"run": label, "min_val_loss": minimum["min_val_loss"],
                          "min_val_loss_epoch": minimum["min_epoch"],
                          "final_acc_gap": epochs[-1].train_acc - epochs[-1].val_acc})
        else:
            extra.append({"run": label, "min_val_loss": math.nan, "min_val_loss_epoch": None,
                          "final_acc_gap": math.nan})
    return table.merge(pd.DataFrame(extra), on="run", how="left")


# ------------------------------------------------------------------ augmentation preview


def augmentation_preview(data: Dataset, augment: AugmentConfig, n_images: int = 6, copies: int = 5,
                         seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Originals and augmented copies for a preview grid.

    Returns (images, augmented, labels): images n x C x H x W in [0, 1] (denormalized), augmented
    n x copies x C x H x W in [0, 1], labels n (unchanged by augmentation). Same seed, same grid.
    """
    if not 1 <= n_images <= 32 or not 1 <= copies <= 16:
        raise InvalidConfig("Preview 1..32 images with 1..16 copies each")
    augment.validate()
    generator = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.train_y), generator=generator)[:n_images]
    originals, labels = data.train_x[idx], data.train_y[idx]  # n x C x H x W (normalized), n
    repeated = originals.repeat_interleave(copies, dim=0)      # (n * copies) x C x H x W
    augmented = augment_batch(repeated, augment, generator)
    augmented = augmented.reshape(n_images, copies, *originals.shape[1:])
    return (torch.stack([data.denormalize(x) for x in originals]),
            torch.stack([torch.stack([data.denormalize(x) for x in row]) for row in augmented]),
            labels.clone())


def preview_grid(images: torch.Tensor, augmented: torch.Tensor, pad: int = 2) -> torch.Tensor:
    """One H' x W' x C uint8 picture: each row an original, a gap, then its augmented copies."""
    n, copies, c, h, w = augmented.shape
    cell_h, cell_w = h + pad, w + pad
    canvas = torch.ones(c, n * cell_h + pad, (copies + 1) * cell_w + 2 * pad + pad)  # white background
    for i in range(n):
        top = pad + i * cell_h
        canvas[:, top:top + h, pad:pad + w] = images[i]
        for j in range(copies):
            left = pad + (j + 1) * cell_w + 2 * pad
            canvas[:, top:top + h, left:left + w] = augmented[i, j]
    return (canvas.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)


def early_stop_events(histories: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """early_stop_marks as chart events (run, epoch, event): where each run stopped and its restored best epoch."""
    marks = early_stop_marks(histories)
    rows = [{"run": r.run, "epoch": r.stopped_after, "event": "stopped"} for r in marks.itertuples()]
    rows += [{"run": r.run, "epoch": r.best_epoch, "event": "best epoch (weights restored)"}
             for r in marks.itertuples()]
    return pd.DataFrame(rows, columns=["run", "epoch", "event"])


def trained_models(configs: Mapping[str, TrainConfig], states: Mapping[str, Mapping[str, torch.Tensor]],
                   data: Dataset) -> dict[str, nn.Module]:
    """A fresh model per run that has a final state (model_from_state: the states are copied, not shared)."""
    return {label: model_from_state(cfg, states[label], data) for label, cfg in configs.items() if label in states}
