"""Confusion matrix, per-class accuracy and misclassified examples of a trained model."""
from __future__ import annotations

import pytest
import torch

from cnn_core import TrainConfig, TrainingRun, evaluate, load_dataset
from cnn_core.training.evaluation import (confusion_frame, display_images, evaluate_split, misclassified_frame,
                                          per_class_accuracy)

NAMES = ("cat", "dog", "fox")


def test_confusion_frame_counts_every_pair_exactly():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    preds = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0, 2])
    frame = confusion_frame(labels, preds, NAMES)
    assert len(frame) == 9  # all K x K pairs, zeros included
    counts = {(r.true, r.predicted): r.count for r in frame.itertuples()}
    assert counts[("cat", "cat")] == 2 and counts[("cat", "dog")] == 1 and counts[("cat", "fox")] == 0
    assert counts[("dog", "fox")] == 1 and counts[("fox", "cat")] == 1 and counts[("fox", "fox")] == 3
    assert frame["count"].sum() == 9
    shares = frame[frame["true"] == "fox"].set_index("predicted")["fraction"]
    assert shares["fox"] == pytest.approx(0.75) and shares["cat"] == pytest.approx(0.25)


def test_per_class_accuracy_and_a_class_without_samples():
    labels = torch.tensor([0, 0, 1, 1, 1])
    preds = torch.tensor([0, 1, 1, 1, 0])
    frame = per_class_accuracy(labels, preds, NAMES).set_index("class")
    assert frame.loc["cat", "accuracy"] == pytest.approx(0.5)
    assert frame.loc["dog", "accuracy"] == pytest.approx(2 / 3)
    assert frame.loc["fox", "samples"] == 0 and frame["accuracy"].isna()["fox"]


def test_misclassified_are_sorted_by_confidence_with_both_probabilities():
    probs = torch.tensor([[0.9, 0.05, 0.05],   # right
                          [0.2, 0.7, 0.1],     # true 0, predicted 1 with 0.7
                          [0.05, 0.05, 0.9],   # true 1, predicted 2 with 0.9
                          [0.1, 0.6, 0.3]])    # right
    labels = torch.tensor([0, 0, 1, 1])
    frame = misclassified_frame(labels, probs, NAMES)
    assert list(frame["index"]) == [2, 1]
    assert list(frame["true"]) == ["dog", "cat"] and list(frame["predicted"]) == ["fox", "dog"]
    assert frame["p_predicted"].tolist() == pytest.approx([0.9, 0.7])
    assert frame["p_true"].tolist() == pytest.approx([0.05, 0.2])
    assert len(misclassified_frame(labels, probs, NAMES, limit=1)) == 1


def test_evaluation_of_a_trained_model_agrees_with_evaluate():
    data = load_dataset(per_class=20)
    run = TrainingRun(TrainConfig(epochs=1, per_class=20), data)
    list(run.records())
    run.model.train()
    result = evaluate_split(run.model, data, "test")
    assert run.model.training, "train/eval mode restored"
    _, accuracy = evaluate(run.model, data.test_x, data.test_y)
    assert result.accuracy == pytest.approx(accuracy)
    confusion = result.confusion()
    assert confusion["count"].sum() == len(data.test_y) == 500
    diagonal = confusion[confusion["true_index"] == confusion["predicted_index"]]["count"].sum()
    assert diagonal / 500 == pytest.approx(accuracy)
    per_class = result.per_class()
    assert per_class["samples"].sum() == 500 and per_class["correct"].sum() == diagonal
    mistakes = result.mistakes(limit=None)
    assert len(mistakes) == 500 - diagonal
    assert (mistakes["true_index"] != mistakes["predicted_index"]).all()
    assert (mistakes["p_predicted"] >= mistakes["p_true"]).all()
    images = display_images(data, data.test_x[:2])
    assert images[0].shape == (84, 84) and images[0].dtype.name == "uint8" and images[0].max() > 200
