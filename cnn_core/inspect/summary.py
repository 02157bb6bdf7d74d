"""A per-layer summary (type, output shape, parameters, multiply-adds, receptive field) as a DataFrame.

Works for any model, not only plain stacks: one forward pass runs under a torch function mode that
follows every tensor through every op (residual additions, concatenations, functional pooling), so

- the receptive field of a layer is the side of the largest square of input pixels one of its units
  can reach, over every path (cnn_core.inspect.field_trace: transposed convs and upsampling read the
  source pixels PyTorch really reads; an addition or concatenation takes the union of its branches);
- multiply-adds are counted where convolutions and matrix products really run (functional calls
  and Conv2d subclasses included) and charged to the innermost layer that has a row.

A layer has a row when it has no children or owns parameters itself (e.g. EfficientNet's
`Conv2dStaticSamePadding`, a Conv2d with a padding child), so the rows' parameters sum to the model's.
"""
from __future__ import annotations

import pandas as pd
import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from cnn_core.inspect.field_trace import FieldTracer
from cnn_core.inspect.hooks import eval_mode

COLUMNS = ["layer", "type", "output_shape", "params", "trainable", "mult_adds", "receptive_field", "activations"]

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


class _Tracer(FieldTracer):
    """Follows receptive fields through every torch op and charges multiply-adds to the running layer."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[int] = []   # indices of the rows being run (innermost last)
        self.macs: dict[int, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if name in ("conv2d", "conv_transpose2d", "linear", "matmul", "mm", "addmm", "bmm") and outputs and self.stack:
            self.macs[self.stack[-1]] = self.macs.get(self.stack[-1], 0) + self._macs(name, args, kwargs, outputs[0])
        self.record(name, args, kwargs, out)
        return out

    @staticmethod
    def _macs(name: str, args: tuple, kwargs: dict, out: torch.Tensor) -> int:
        if name == "conv2d":
            weight = args[1]  # C_out x C_in/groups x kh x kw
            return out.numel() * int(weight[0].numel())
        if name == "conv_transpose2d":
            weight = args[1]  # C_in x C_out/groups x kh x kw: every input value is spread over C_out/groups x k x k
            return int(args[0].numel()) * int(weight[0].numel())
        if name == "linear":
            return out.numel() * int(args[1].shape[-1])
        inner = int(args[0].shape[-1]) if name != "addmm" else int(args[1].shape[-1])
        return out.numel() * inner


def _row_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that get a row: leaves, and modules that own parameters themselves."""
    return [(name, m) for name, m in model.named_modules()
            if name and (not list(m.children()) or any(True for _ in m.parameters(recurse=False)))]


def layer_summary(model: nn.Module, input_shape: tuple[int, ...]) -> pd.DataFrame:
    """One row per executed layer: name, type, output shape, params, mult-adds, receptive field, activations.

    The receptive field is in input pixels (padding can make it larger than the image): the largest
    field of any unit of the layer, over every path from the input; after a Flatten, Linear or global
    pooling every output sees the whole image. mult_adds per sample, as torch.utils.flop_counter counts
    them (/2). The model is left untouched (hooks removed, modes restored); the pass runs in eval mode
    on one zero image.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    height = input_shape[1] if len(input_shape) == 3 else 0
    tracer = _Tracer()
    rows: list[dict] = []
    finished: list[int] = []  # rows in the order their layers return: the execution order of their own work
    handles = []

    def pre_hook(module: nn.Module, inputs: tuple) -> None:
        rows.append({"module": module})  # the row is filled when the layer returns
        tracer.stack.append(len(rows) - 1)

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output) -> None:
            index = tracer.stack.pop()
            finished.append(index)
            first = next((t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)), None)
            node = tracer.node_of(first) if first is not None else None
            shape = tuple(first.shape[1:]) if first is not None else ()
            own = list(module.parameters(recurse=False))
            rows[index] = {
                "layer": name, "type": type(module).__name__,
                "output_shape": "x".join(str(v) for v in shape),
                "params": sum(p.numel() for p in own),
                "trainable": sum(p.numel() for p in own if p.requires_grad),
                "mult_adds": tracer.macs.get(index, 0),
                "receptive_field": node,  # a node of the traced graph until the pass is over
                "activations": int(first[0].numel()) if first is not None and first.dim() > 0 else 0,
            }
        return hook

    try:
        for name, module in _row_modules(model):
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(make_hook(name)))
        x = torch.zeros(1, *input_shape, device=device)
        tracer.mark_input(x)
        with eval_mode(model), torch.no_grad(), tracer:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    # A conv that pads through a child module (EfficientNet's static "same" padding) enters first but convolves
    # after its padding has run: the return order lists the padding first, as it executes.
    rows = [rows[i] for i in finished if "layer" in rows[i]]  # a layer whose forward raised has no row
    sizes = tracer.field_sizes([r["receptive_field"] for r in rows if r["receptive_field"] is not None], height)
    for row in rows:
        row["receptive_field"] = sizes.get(row["receptive_field"], 1)  # an output no input reaches: 1
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_totals(summary: pd.DataFrame, model: nn.Module, bytes_per_value: int = 4) -> dict[str, float]:
    """Totals for a summary: parameters (counted on the model itself), mult-adds, activation memory in MB."""
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "mult_adds": int(summary["mult_adds"].sum()),
        "activation_mb": float(summary["activations"].sum() * bytes_per_value / 2**20),
    }
