"""Each registered loss as a function of the predicted probability of the true class.

The curves are computed by the real loss functions of `cnn_core.training.losses` (the ones training uses) on
constructed logits: for a probability p of the true class y among K classes, the logits are
z_y = log p and z_k = log((1 - p) / (K - 1)) for the other classes, so softmax(z)_y = p exactly and
the remaining probability is spread evenly. Losses that look at raw scores (the hinge loss) see
these log-probabilities as scores; their curve belongs to this construction.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from cnn_core.errors import InvalidConfig
from cnn_core.training.losses import LOSSES, compute_loss


def constructed_logits(p_true: torch.Tensor, num_classes: int = 10, true_class: int = 0) -> torch.Tensor:
    """Logits (N x K) whose softmax gives p_true[i] to `true_class` and spreads the rest evenly."""
    if num_classes < 2:
        raise InvalidConfig("The explainer needs at least 2 classes")
    p = p_true.double().clamp(1e-12, 1 - 1e-12)
    rest = torch.log((1 - p) / (num_classes - 1))                 # N
    logits = rest.unsqueeze(1).repeat(1, num_classes)             # N x K
    logits[:, true_class] = torch.log(p)
    return logits


def loss_curves(probabilities: np.ndarray | None = None, num_classes: int = 10, label_smoothing: float = 0.0,
                losses: list[str] | None = None) -> pd.DataFrame:
    """Tidy frame: loss, label, p_true, quantity ('loss' or 'gradient'), value.

    'gradient' is dL/dz_y, the derivative with respect to the true class's logit: how hard the loss
    pushes the right answer up. Values are per sample (each constructed row is scored on its own).
    """
    if probabilities is None:
        probabilities = np.linspace(0.01, 0.99, 99)
    p = torch.as_tensor(np.asarray(probabilities, dtype=float))
    if p.ndim != 1 or len(p) == 0 or bool(((p <= 0) | (p >= 1)).any()):
        raise InvalidConfig("Probabilities must be a non-empty list of numbers strictly between 0 and 1")
    if not 0 <= label_smoothing < 1:
        raise InvalidConfig("Label smoothing must be in [0, 1)")
    names = list(LOSSES) if losses is None else losses
    rows = []
    for name in names:
        if name not in LOSSES:
            raise InvalidConfig(f"Unknown loss '{name}'. Choose one of: {', '.join(LOSSES)}")
        values, grads = [], []
        for i in range(len(p)):  # one sample at a time: the mean over a batch of 1 is that sample's loss
            logits = constructed_logits(p[i:i + 1], num_classes).requires_grad_(True)  # 1 x K
            loss = compute_loss(name, logits, torch.zeros(1, dtype=torch.long), label_smoothing)
            loss.backward()
            values.append(loss.item())
            grads.append(logits.grad[0, 0].item())
        for quantity, series in (("loss", values), ("gradient", grads)):
            rows.extend((name, LOSSES[name].label, float(p[i]), quantity, series[i]) for i in range(len(p)))
    return pd.DataFrame(rows, columns=["loss", "label", "p_true", "quantity", "value"])


def uniform_prediction_loss(name: str, num_classes: int = 10, label_smoothing: float = 0.0) -> float:
    """The loss when the network predicts every class with probability 1/K (all logits equal).

    For cross-entropy this is ln K: the value a freshly initialized classifier should start near.
    """
    logits = torch.zeros(1, num_classes)
    return compute_loss(name, logits, torch.zeros(1, dtype=torch.long), label_smoothing).item()


def ln_k(num_classes: int) -> float:
    """ln K, the cross-entropy of a uniform guess among K classes (2.3026 for K = 10)."""
    return math.log(num_classes)
