"""Sanity checks before a long training run (Karpathy's "recipe for training neural networks").

1. The initial loss is what a uniform guess gives: ln K for cross-entropy with K balanced classes.
2. The network can overfit one small batch to (near) the lowest loss its loss function allows.
3. One backward pass gives every layer a nonzero, finite gradient.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from cnn_core.data import Dataset, load_dataset
from cnn_core.errors import InvalidConfig
from cnn_core.inspect.hooks import leaf_modules
from cnn_core.teaching.loss_explainer import loss_curves, uniform_prediction_loss
from cnn_core.training import RegularizationConfig, TrainConfig, TrainingRun, build_initialized_model, evaluate
from cnn_core.training.budget import check_model_forward, run_options
from cnn_core.training.losses import compute_loss
from cnn_core.training.optimizers import ScheduleConfig


@dataclass
class SanityResult:
    """The outcome of one check: pass/fail, a sentence for the user, the numbers and an optional frame."""

    name: str
    passed: bool
    message: str
    values: dict[str, float] = field(default_factory=dict)
    frame: pd.DataFrame | None = None


def _data_for(config: TrainConfig, data: Dataset | None) -> Dataset:
    return data if data is not None else load_dataset(config.dataset, per_class=config.per_class)


def initial_loss_check(config: TrainConfig, data: Dataset | None = None, samples: int = 500,
                       tolerance: float = 0.1) -> SanityResult:
    """Loss of the freshly initialized model on `samples` training images vs a uniform guess.

    Passes when |initial - expected| <= tolerance * expected. The expected value is the loss of all-equal
    logits (the same function training uses): ln K for cross-entropy and NLL, 0.9 for the hinge loss.
    """
    config.validate()
    data = _data_for(config, data)
    check_model_forward(config.model, run_options(config, data), min(samples, len(data.train_y)), backward=False,
                        what="the initial-loss check")
    model = build_initialized_model(config, data)
    images, labels = data.train_x[:samples], data.train_y[:samples]  # N x C x H x W, N
    initial, _ = evaluate(model, images, labels, config.loss)
    smoothing = config.regularization.label_smoothing
    expected = uniform_prediction_loss(config.loss, data.num_classes, smoothing)
    gap = abs(initial - expected)
    passed = math.isfinite(initial) and gap <= tolerance * expected
    k = data.num_classes
    ce_like = config.loss in ("cross-entropy", "nll", "label-smoothing")
    reference = f"ln({k}) = {math.log(k):.4f}" if ce_like else f"{expected:.4f} (all classes equally likely)"
    verdict = ("Pass: the network starts by guessing every class about equally, as it should."
               if passed else
               "Fail: the network starts out confidently wrong or right; check the initialization and the "
               "last layer (a large init or a bias towards one class).")
    message = (f"Initial loss {initial:.4f} vs {reference}: off by {gap:.4f} "
               f"({100 * gap / expected:.1f}%, allowed {100 * tolerance:.0f}%). {verdict}")
    return SanityResult("initial loss", passed, message,
                        {"initial_loss": initial, "expected_loss": expected, "ln_k": math.log(k),
                         "difference": gap, "samples": float(len(labels))})


def _balanced_indices(labels: torch.Tensor, samples: int, num_classes: int, seed: int) -> torch.Tensor:
    """`samples` training indices spread over the classes as evenly as possible (seeded)."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    picked, per_class = [], [0] * num_classes
    quota = math.ceil(samples / num_classes)
    for i in order.tolist():
        c = int(labels[i])
        if per_class[c] < quota:
            picked.append(i)
            per_class[c] += 1
            if len(picked) == samples:
                break
    return torch.tensor(sorted(picked))


def lowest_loss(name: str, num_classes: int = 10, label_smoothing: float = 0.0) -> float:
    """The smallest value the loss reaches on the explainer's curve (0 except with label smoothing)."""
    curve = loss_curves(np.linspace(0.5, 0.99999, 400), num_classes, label_smoothing, [name])
    return max(float(curve[curve["quantity"] == "loss"]["value"].min()), 0.0)


def overfit_batch_check(config: TrainConfig, data: Dataset | None = None, samples: int = 20,
                        max_steps: int = 150, target_fraction: float = 0.02) -> SanityResult:
    """Train on one fixed batch of `samples` images (regularization off) until the loss is near its floor.

    The target is floor + target_fraction * (uniform-guess loss - floor), e.g. 0.046 for cross-entropy
    with 10 classes. Passes when the loss gets there within `max_steps` optimizer steps. The frame
    has one row per step: step, loss, accuracy.
    """
    config.validate()
    data = _data_for(config, data)
    if not 1 <= samples <= min(len(data.train_y), 512):
        raise InvalidConfig(f"The batch must hold 1..{min(len(data.train_y), 512)} samples, got {samples}")
    if not 1 <= max_steps <= 200:
        raise InvalidConfig("The overfit check takes 1..200 steps")
    idx = _balanced_indices(data.train_y, samples, data.num_classes, config.seed)
    x, y = data.train_x[idx], data.train_y[idx]  # samples x C x H x W, samples
    batch = Dataset(data.name, x, y, x, y, x[:0], y[:0], data.class_names, data.mean, data.std)
    quiet = replace(config, batch_size=samples, epochs=max_steps, schedule=ScheduleConfig(),
                    regularization=RegularizationConfig(),
                    model_options=replace(config.model_options, dropout=0.0),
                    optimizer=replace(config.optimizer, weight_decay=0.0))
    floor = lowest_loss(config.loss, data.num_classes)
    start = uniform_prediction_loss(config.loss, data.num_classes)
    target = floor + target_fraction * (start - floor)
    run = TrainingRun(quiet, batch)
    rows, reached, diverged = [(0, *evaluate(run.model, x, y, config.loss))], None, None
    for record in run.records():  # one epoch = one step on the whole batch
        if record.kind == "diverged":
            diverged = record.step + 1
            break
        if record.kind == "epoch":
            # the epoch record's val metrics: the same batch after the step, in eval mode
            rows.append((record.step, record.val_loss, record.val_acc))
            if record.val_loss <= target and record.val_acc == 1.0:
                reached = record.step
                break
    frame = pd.DataFrame(rows, columns=["step", "loss", "accuracy"])
    final = float(frame["loss"].iloc[-1]) if len(frame) else math.nan
    passed = reached is not None
    if passed:
        message = (f"Pass: {samples} samples memorized in {reached} steps: loss {final:.4f} "
                   f"(target {target:.4f}), accuracy 100%. The model and the training loop can learn.")
    elif diverged is not None:
        message = (f"Fail: the loss diverged at step {diverged} (NaN, infinite or huge). Lower the learning "
                   "rate or fix the initialization, then run the check again.")
    else:
        message = (f"Fail: after {len(frame) - 1} steps the loss on {samples} samples is still {final:.4f} "
                   f"(target {target:.4f}). Check the learning rate, the loss and the model: a network that "
                   "cannot memorize 20 images will not learn 4,000.")
    return SanityResult("overfit one batch", passed, message,
                        {"final_loss": final, "target_loss": target, "lowest_loss": floor,
                         "steps": float(frame["step"].iloc[-1]), "samples": float(samples)}, frame)


def gradient_norms_check(config: TrainConfig, data: Dataset | None = None, batch_size: int = 64) -> SanityResult:
    """One forward and backward pass of a fresh model on one batch; the gradient norm of every layer.

    Frame columns: layer, type, parameters, grad_norm, weight_norm, ratio (grad / weight norm).
    Passes when every layer with parameters has a finite, nonzero gradient.
    """
    config.validate()
    data = _data_for(config, data)
    check_model_forward(config.model, run_options(config, data), min(batch_size, len(data.train_y)),
                        what="the gradient check")
    model = build_initialized_model(config, data)
    model.train()
    x, y = data.train_x[:batch_size], data.train_y[:batch_size]  # N x C x H x W, N
    loss = compute_loss(config.loss, model(x), y, config.regularization.label_smoothing)
    model.zero_grad(set_to_none=True)
    loss.backward()
    rows = []
    for name, module in leaf_modules(model):
        params = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not params:
            continue
        grads = [p.grad.detach().flatten() if p.grad is not None else torch.zeros(p.numel()) for p in params]
        grad_norm = torch.cat(grads).norm().item()
        weight_norm = torch.cat([p.detach().flatten() for p in params]).norm().item()
        rows.append((name, type(module).__name__, sum(p.numel() for p in params), grad_norm, weight_norm,
                     grad_norm / weight_norm if weight_norm > 0 else math.nan))
    model.zero_grad(set_to_none=True)
    frame = pd.DataFrame(rows, columns=["layer", "type", "parameters", "grad_norm", "weight_norm", "ratio"])
    dead = frame[~(np.isfinite(frame["grad_norm"]) & (frame["grad_norm"] > 0))]["layer"].tolist()
    passed = bool(len(frame)) and not dead
    smallest = frame.loc[frame["grad_norm"].idxmin()] if len(frame) else None
    if passed:
        message = (f"Pass: all {len(frame)} layers with weights get a gradient (smallest: {smallest['layer']} "
                   f"with {smallest['grad_norm']:.2e}). Loss of the batch: {loss.item():.4f}.")
    else:
        message = (f"Fail: no (or no finite) gradient reaches {', '.join(dead) or 'any layer'}. Those layers "
                   "never learn: look for a detach, a dead activation or an all-zero initialization.")
    return SanityResult("gradient flow", passed, message,
                        {"layers": float(len(frame)), "dead_layers": float(len(dead)), "loss": loss.item(),
                         "min_grad_norm": float(frame["grad_norm"].min()) if len(frame) else math.nan}, frame)
