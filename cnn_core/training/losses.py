"""Loss registry: every loss maps (logits N x K, integer targets N) to a scalar."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from cnn_core.errors import InvalidConfig

LossFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # (logits, targets, smoothing)


@dataclass(frozen=True)
class LossSpec:
    """A registry entry: the function, a one-liner and its formula."""

    label: str
    fn: LossFn
    explanation: str
    formula: str  # LaTeX


def _mse_one_hot(logits: torch.Tensor, targets: torch.Tensor, _: float) -> torch.Tensor:
    # Softmax probabilities against one-hot targets (N x K), averaged over all entries.
    one_hot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    return F.mse_loss(logits.softmax(dim=1), one_hot)


LOSSES: dict[str, LossSpec] = {
    "cross-entropy": LossSpec(
        "Cross-entropy", lambda z, y, s: F.cross_entropy(z, y, label_smoothing=s),
        "Negative log of the softmax probability of the true class: the standard classification loss.",
        r"L = -\log \frac{e^{z_y}}{\sum_k e^{z_k}}"),
    "nll": LossSpec(
        "NLL of log-softmax", lambda z, y, s: F.nll_loss(F.log_softmax(z, dim=1), y),
        "The same number as cross-entropy, computed in two steps (LogSoftmax then NLLLoss).",
        r"L = -\log p_y,\quad \log p = \mathrm{log\_softmax}(z)"),
    "label-smoothing": LossSpec(
        "Cross-entropy, label smoothing 0.1", lambda z, y, s: F.cross_entropy(z, y, label_smoothing=s or 0.1),
        "Targets of 1 - eps + eps/K for the true class and eps/K elsewhere: discourages over-confidence.",
        r"L = -\sum_k q_k \log p_k,\quad q = (1-\varepsilon)\,\mathrm{onehot}(y) + \varepsilon / K"),
    "mse": LossSpec(
        "MSE on one-hot", _mse_one_hot,
        "Squared error between softmax probabilities and the one-hot target: gradients vanish when wrong and sure.",
        r"L = \frac{1}{K}\sum_k (p_k - \mathbb{1}[k=y])^2"),
    "hinge": LossSpec(
        "Multi-class hinge", lambda z, y, s: F.multi_margin_loss(z, y),
        "SVM-style margin loss: zero once the true score beats every other score by a margin of 1.",
        r"L = \frac{1}{K}\sum_{k \ne y} \max(0,\ 1 - z_y + z_k)"),
}


def compute_loss(name: str, logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """The named loss of a batch (mean over samples)."""
    if name not in LOSSES:
        raise InvalidConfig(f"Unknown loss '{name}'. Choose one of: {', '.join(LOSSES)}")
    return LOSSES[name].fn(logits, targets, label_smoothing)
