"""Weights across a process boundary: a model's state as CPU tensors, and as bytes that torch can load safely.

Worker processes and Ray tasks send a finished run's weights to the server as bytes (torch.save), and
the server reads them with `weights_only=True`, so a worker can hand back tensors but never code.
"""
from __future__ import annotations

import io

import torch
from torch import nn


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the model's state dict (safe to keep after the model trains on)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def state_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """The state dict serialized by torch.save (what a worker sends)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def state_from_bytes(data: bytes) -> dict[str, torch.Tensor]:
    """The state dict back from `state_bytes`, loaded with weights_only=True (tensors only, no pickled code)."""
    return torch.load(io.BytesIO(data), weights_only=True)
