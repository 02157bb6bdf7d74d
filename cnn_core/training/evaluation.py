"""What a trained classifier gets right and wrong: confusion matrix, per-class accuracy, mistakes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from cnn_core.data import Dataset
from cnn_core.training import predict_logits


@dataclass(frozen=True)
class Evaluation:
    """Predictions of a model on one split, and the tidy frames built from them."""

    split: str
    labels: torch.Tensor         # N, true class indices
    logits: torch.Tensor         # N x K
    probabilities: torch.Tensor  # N x K, softmax of the logits
    class_names: tuple[str, ...]

    @property
    def predictions(self) -> torch.Tensor:
        """N predicted class indices (argmax of the logits)."""
        return self.logits.argmax(dim=1)

    @property
    def accuracy(self) -> float:
        """Fraction of correct predictions."""
        if len(self.labels) == 0:
            return float("nan")
        return (self.predictions == self.labels).float().mean().item()

    def confusion(self) -> pd.DataFrame:
        """Confusion matrix as a tidy frame (see confusion_frame)."""
        return confusion_frame(self.labels, self.predictions, self.class_names)

    def per_class(self) -> pd.DataFrame:
        """Per-class accuracy frame (see per_class_accuracy)."""
        return per_class_accuracy(self.labels, self.predictions, self.class_names)

    def mistakes(self, limit: int | None = 24) -> pd.DataFrame:
        """The misclassified examples, most confident first (see misclassified_frame)."""
        return misclassified_frame(self.labels, self.probabilities, self.class_names, limit)


def evaluate_split(model: nn.Module, data: Dataset, split: str = "test") -> Evaluation:
    """Run the model (eval mode, restored afterwards) over a split of the dataset."""
    images, labels = data.split(split)   # N x C x H x W, N
    logits = predict_logits(model, images)  # N x K, on CPU
    if logits.numel() == 0:
        logits = torch.empty(0, data.num_classes)
    return Evaluation(split, labels.cpu(), logits, logits.softmax(dim=1), tuple(data.class_names))


def confusion_frame(labels: torch.Tensor, predictions: torch.Tensor, class_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per (true, predicted) class pair: count and the fraction of that true class's samples.

    Columns: true, predicted (class names, categorical in class order), true_index, predicted_index,
    count, fraction. All K x K pairs are present (zeros included), so a heatmap has no holes.
    """
    k = len(class_names)
    flat = labels.long().cpu() * k + predictions.long().cpu()
    counts = torch.bincount(flat, minlength=k * k).reshape(k, k).numpy()  # K x K, rows = true class
    per_true = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, per_true, out=np.zeros(counts.shape, dtype=float), where=per_true > 0)
    true_idx, pred_idx = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    return pd.DataFrame({
        "true": pd.Categorical.from_codes(true_idx.ravel(), categories=list(class_names)),
        "predicted": pd.Categorical.from_codes(pred_idx.ravel(), categories=list(class_names)),
        "true_index": true_idx.ravel(),
        "predicted_index": pred_idx.ravel(),
        "count": counts.ravel().astype(int),
        "fraction": fractions.ravel(),
    })


def per_class_accuracy(labels: torch.Tensor, predictions: torch.Tensor, class_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per class: samples, correct, accuracy (NaN for a class without samples)."""
    k = len(class_names)
    labels, predictions = labels.long().cpu(), predictions.long().cpu()
    samples = torch.bincount(labels, minlength=k)
    correct = torch.bincount(labels[labels == predictions], minlength=k)
    accuracy = [c / s if s else float("nan") for c, s in zip(correct.tolist(), samples.tolist())]
    return pd.DataFrame({"class": list(class_names), "class_index": range(k), "samples": samples.tolist(),
                         "correct": correct.tolist(), "accuracy": accuracy})


def misclassified_frame(labels: torch.Tensor, probabilities: torch.Tensor, class_names: tuple[str, ...],
                        limit: int | None = 24) -> pd.DataFrame:
    """The wrongly classified samples, most confident mistakes first.

    Columns: index (position in the split), true, predicted (names), true_index, predicted_index,
    p_predicted (the model's probability of its wrong answer), p_true (its probability of the truth).
    """
    predictions = probabilities.argmax(dim=1) if len(probabilities) else torch.empty(0, dtype=torch.long)
    wrong = torch.nonzero(predictions != labels.cpu()).flatten()
    p_pred = probabilities[wrong, predictions[wrong]] if len(wrong) else torch.empty(0)
    p_true = probabilities[wrong, labels[wrong]] if len(wrong) else torch.empty(0)
    frame = pd.DataFrame({
        "index": wrong.tolist(),
        "true": [class_names[i] for i in labels[wrong].tolist()],
        "predicted": [class_names[i] for i in predictions[wrong].tolist()],
        "true_index": labels[wrong].tolist(),
        "predicted_index": predictions[wrong].tolist(),
        "p_predicted": p_pred.tolist(),
        "p_true": p_true.tolist(),
    })
    frame = frame.sort_values("p_predicted", ascending=False, kind="stable").reset_index(drop=True)
    return frame if limit is None else frame.head(limit)


def display_images(data: Dataset, images: torch.Tensor, scale: int = 3) -> list[np.ndarray]:
    """Normalized N x C x H x W images as uint8 H*scale x W*scale (x 3) arrays for st.image (nearest upscaling)."""
    pixels = data.denormalize(images.cpu())  # N x C x H x W in [0, 1]
    pixels = pixels.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    out = (pixels * 255).round().to(torch.uint8)
    if out.shape[1] == 1:
        return [img[0].numpy() for img in out]
    return [img.permute(1, 2, 0).numpy() for img in out]
