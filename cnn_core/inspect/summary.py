"""A per-layer summary (type, output shape, parameters, multiply-adds, receptive field) as a DataFrame."""
from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from cnn_core.inspect.hooks import capture_forward


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


def mult_adds(module: nn.Module, output_shape: tuple[int, ...]) -> int:
    """Multiply-accumulate operations of one forward pass of one sample (conv and linear layers only)."""
    per_sample = output_shape[1:]  # drop the batch dimension
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        out_elems = int(torch.tensor(per_sample).prod())
        return out_elems * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        rows = int(torch.tensor(per_sample[:-1]).prod()) if len(per_sample) > 1 else 1
        return rows * module.in_features * module.out_features
    return 0


def layer_summary(model: nn.Module, input_shape: tuple[int, ...]) -> pd.DataFrame:
    """One row per executed leaf layer: name, type, output shape, params, mult-adds, receptive field.

    The receptive field (in input pixels) and the jump (input pixels between neighbouring outputs)
    are tracked in execution order through convolutions and pooling (padding can make the field
    larger than the image); after a Flatten or Linear layer every output sees the whole image. The model is left untouched (hooks removed, mode
    restored); the pass runs in eval mode on one zero image on the model's device.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with capture_forward(model, keep_outputs=False) as calls, torch.no_grad():
        model(torch.zeros(1, *input_shape, device=device))
    rows = []
    rf, jump = 1, 1
    full = False
    height = input_shape[1] if len(input_shape) == 3 else None
    for call in calls:
        module = call.module
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k = _pair(module.kernel_size)[0]
            s = _pair(module.stride)[0]
            d = _pair(getattr(module, "dilation", 1))[0]
            rf += (k - 1) * d * jump
            jump *= s
        elif isinstance(module, (nn.Flatten, nn.Linear, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            full = True
        params = sum(p.numel() for p in module.parameters(recurse=False))
        trainable = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        rows.append({
            "layer": call.name,
            "type": type(module).__name__,
            "output_shape": "x".join(str(v) for v in call.output_shape[1:]),
            "params": params,
            "trainable": trainable,
            "mult_adds": mult_adds(module, call.output_shape),
            "receptive_field": max(rf, height or 0) if full else rf,
            "activations": int(torch.tensor(call.output_shape[1:]).prod()),
        })
    return pd.DataFrame(rows, columns=["layer", "type", "output_shape", "params", "trainable", "mult_adds",
                                       "receptive_field", "activations"])


def summary_totals(summary: pd.DataFrame, model: nn.Module, bytes_per_value: int = 4) -> dict[str, float]:
    """Totals for a summary: parameters (counted on the model itself), mult-adds, activation memory in MB."""
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "mult_adds": int(summary["mult_adds"].sum()),
        "activation_mb": float(summary["activations"].sum() * bytes_per_value / 2**20),
    }
