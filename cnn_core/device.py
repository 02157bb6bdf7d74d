"""Device choice and seeding."""
from __future__ import annotations

import random

import numpy as np
import torch


def pick_device(preference: str = "auto") -> torch.device:
    """Return CUDA when available (or when asked for and present), else CPU."""
    if preference == "cpu":
        return torch.device("cpu")
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def device_label(device: torch.device | None = None) -> str:
    """A human-readable name of the device in use, e.g. 'CPU (2 threads)'."""
    device = device or pick_device()
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'' if threads == 1 else 's'} per operation)"


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
