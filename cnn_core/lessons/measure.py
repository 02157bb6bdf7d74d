"""Answers measured, never typed: shapes, parameters, receptive fields and multiply-adds from real layers.

Layers are built on the meta device (shapes without memory) and measured by torch itself and by
cnn_core's own tools (cost.profile, inspect.field_geometry), so an answer is what PyTorch does.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import pandas as pd
import torch
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.inspect.receptive_field import field_geometry
from cnn_core.lessons.core import Structure
from cnn_core.models.cost import profile
from cnn_core.models.registry import ModelOptions, build_model


def _module(kind: str, o: dict[str, Any], channels: int, features: int) -> nn.Module:
    """One nn layer of a Structure item, given the channels / features it receives."""
    if kind == "conv":
        return nn.Conv2d(channels, o["out"], o["k"], o.get("s", 1), o.get("p", 0), o.get("d", 1),
                         groups=o.get("g", 1), bias=o.get("bias", True))
    if kind == "convT":
        return nn.ConvTranspose2d(channels, o["out"], o["k"], o.get("s", 1), o.get("p", 0), o.get("op", 0),
                                  bias=o.get("bias", True))
    if kind == "maxpool":
        return nn.MaxPool2d(o["k"], o.get("s"), o.get("p", 0), o.get("d", 1), ceil_mode=o.get("ceil", False))
    if kind == "avgpool":
        return nn.AvgPool2d(o["k"], o.get("s"), o.get("p", 0), ceil_mode=o.get("ceil", False))
    if kind == "relu":
        return nn.ReLU()
    if kind == "flatten":
        return nn.Flatten()
    if kind == "linear":
        return nn.Linear(features, o["out"], bias=o.get("bias", True))
    raise InvalidConfig(f"Unknown layer kind '{kind}' in an exercise")


def build_layers(structure: Structure, device: str = "meta") -> nn.Sequential:
    """The structure's layers (its first `upto`) as an nn.Sequential, sizes inferred by a forward pass."""
    items = structure.layers[: structure.upto] if structure.upto is not None else structure.layers
    modules: list[nn.Module] = []
    with torch.device(device):
        x = torch.empty(1, *structure.input_shape)  # 1 x C x H x W (or 1 x F)
        for kind, options in items:
            module = _module(kind, dict(options), x.shape[1], x.shape[-1])
            modules.append(module)
            with torch.no_grad():
                x = module(x)
        return nn.Sequential(*modules)


def meta_model(name: str, options: ModelOptions) -> nn.Module:
    """A registry model built on the meta device: shapes and parameter counts, no memory."""
    with torch.device("meta"):
        return build_model(name, options)


def structure_model(structure: Structure) -> nn.Module:
    """The network a Structure describes, on the meta device."""
    if structure.model is not None:
        return meta_model(structure.model, ModelOptions(**dict(structure.options)))
    return build_layers(structure)


@lru_cache(maxsize=512)
def measure(structure: Structure) -> Any:
    """The structure's quantity: output_shape (tuple), params, receptive_field or macs (int)."""
    model = structure_model(structure)
    if structure.quantity == "output_shape":
        with torch.no_grad():
            out = model(torch.empty(1, *structure.input_shape, device="meta"))
        return tuple(int(v) for v in out.shape[1:])
    if structure.quantity == "params":
        return int(sum(p.numel() for p in model.parameters()))
    if structure.quantity == "receptive_field":
        geometry = field_geometry(model, tuple(structure.input_shape))
        return int(list(geometry.values())[-1].size)
    if structure.quantity == "macs":
        return int(profile(model, tuple(structure.input_shape)).macs)
    raise InvalidConfig(f"Unknown quantity '{structure.quantity}'")


def layer_params(kind: str, channels: int, **options: Any) -> int:
    """Parameters of one real nn layer (built on meta), e.g. layer_params('conv', 3, out=6, k=5)."""
    return int(sum(p.numel() for p in _meta_layer(kind, channels, tuple(sorted(options.items()))).parameters()))


@lru_cache(maxsize=256)
def _meta_layer(kind: str, channels: int, options: tuple) -> nn.Module:
    with torch.device("meta"):
        return _module(kind, dict(options), channels, channels)


# ------------------------------------------------------------------------------------------ a run's metrics


def run_metrics(run: Any) -> dict[str, float]:
    """Named numbers of a run: from a tidy records frame (run, epoch, step, split, metric, value) or a dict.

    From a frame: val_accuracy / train_accuracy / val_loss / train_loss (last epoch), best_val_accuracy,
    best_val_loss, gap (train - val accuracy), first_loss / last_loss (training steps), epochs, steps,
    diverged (1 when a step loss is not finite). A dict is taken as it is (numbers only); a dict with a
    'records' frame merges both, the dict's own numbers winning.
    """
    if isinstance(run, pd.DataFrame):
        return _frame_metrics(run)
    if isinstance(run, Mapping):
        merged: dict[str, float] = {}
        if isinstance(run.get("records"), pd.DataFrame):
            merged.update(_frame_metrics(run["records"]))
        for key, value in run.items():
            if isinstance(value, (int, float)):
                merged[str(key)] = float(value)
        if "gap" not in run and "train_accuracy" in merged and "val_accuracy" in merged:
            merged["gap"] = merged["train_accuracy"] - merged["val_accuracy"]
        return merged
    raise InvalidConfig("A run is a records frame or a dict of metrics")


def _frame_metrics(frame: pd.DataFrame) -> dict[str, float]:
    needed = {"epoch", "step", "split", "metric", "value"}
    if not needed <= set(frame.columns):
        raise InvalidConfig(f"A records frame needs the columns {', '.join(sorted(needed))}")
    out: dict[str, float] = {}
    for split in ("train", "val"):
        for metric in ("accuracy", "loss"):
            rows = frame[(frame["split"] == split) & (frame["metric"] == metric)].sort_values(["epoch", "step"])
            if len(rows):
                out[f"{split}_{metric}"] = float(rows["value"].iloc[-1])
                values = rows["value"].astype(float)
                out[f"best_{split}_{metric}"] = float(values.max() if metric == "accuracy" else values.min())
    steps = frame[(frame["split"] == "train_step") & (frame["metric"] == "loss")].sort_values("step")
    if len(steps):
        values = steps["value"].astype(float)
        out["first_loss"], out["last_loss"] = float(values.iloc[0]), float(values.iloc[-1])
        out["diverged"] = float(not all(math.isfinite(v) for v in values))
        out["steps"] = float(steps["step"].max())
    if len(frame):
        out["epochs"] = float(frame["epoch"].max())
    if "train_accuracy" in out and "val_accuracy" in out:
        out["gap"] = out["train_accuracy"] - out["val_accuracy"]
    return out
