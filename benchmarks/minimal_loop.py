"""The baseline every benchmark compares against: the shortest correct PyTorch training loop."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def minimal_train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epochs: int = 1,
                  batch_size: int = 64, lr: float = 1e-3, seed: int = 0, optimizer: str = "adam",
                  val_images: torch.Tensor | None = None, val_labels: torch.Tensor | None = None) -> float:
    """Train like pytorch/examples' mnist: batches, then one evaluation pass per epoch when a
    validation split is given (no records, no metrics kept); returns the last batch loss."""
    generator = torch.Generator().manual_seed(seed)
    opt = (torch.optim.Adam(model.parameters(), lr=lr) if optimizer == "adam"
           else torch.optim.SGD(model.parameters(), lr=lr))
    loss = torch.zeros(())
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(labels), generator=generator)
        for first in range(0, len(order), batch_size):
            idx = order[first:first + batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            loss.backward()
            opt.step()
        if val_images is not None:
            model.eval()
            with torch.no_grad():
                logits = model(val_images)
                F.cross_entropy(logits, val_labels).item()
                (logits.argmax(1) == val_labels).float().mean().item()
    return loss.item()
