"""A per-layer summary (type, output shape, parameters, multiply-adds, receptive field) as a DataFrame.

Works for any model, not only plain stacks: one forward pass runs under a torch function mode that
follows every tensor through every op (residual additions, concatenations, functional pooling), so

- the receptive field of a tensor is the *longest* path from the input to it (an addition or
  concatenation takes the largest field of its inputs, with that input's jump);
- multiply-adds are counted where convolutions and matrix products really run (functional calls
  and Conv2d subclasses included) and charged to the innermost layer that has a row.

A layer has a row when it has no children or owns parameters itself (e.g. EfficientNet's
`Conv2dStaticSamePadding`, a Conv2d with a padding child), so the rows' parameters sum to the model's.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from cnn_core.inspect.hooks import eval_mode

COLUMNS = ["layer", "type", "output_shape", "params", "trainable", "mult_adds", "receptive_field", "activations"]
_FULL_OPS = {"linear", "flatten", "adaptive_avg_pool2d", "adaptive_max_pool2d", "matmul", "mm", "addmm", "bmm"}
_POOL_OPS = {"max_pool2d", "avg_pool2d", "max_pool2d_with_indices", "lp_pool2d"}


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


@dataclass(frozen=True)
class _Field:
    """Receptive field of a tensor: size in input pixels, jump (input pixels between neighbours), global flag."""

    size: float = 1      # a transposed conv / upsampling makes the jump (and so the size) fractional
    jump: float = 1
    full: bool = False


def _arg(args: tuple, kwargs: dict, index: int, name: str, default):
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index and args[index] is not None else default


class _Tracer(TorchFunctionMode):
    """Follows receptive fields through every torch op and charges multiply-adds to the running layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[int, tuple[_Field, torch.Tensor]] = {}  # id -> (field, the tensor, kept alive)
        self.stack: list[int] = []   # indices of the rows being run (innermost last)
        self.macs: dict[int, int] = {}

    def field(self, tensor: torch.Tensor) -> _Field | None:
        """The tracked field of a tensor (None for weights and constants)."""
        entry = self.fields.get(id(tensor))
        return entry[0] if entry is not None and entry[1] is tensor else None

    def mark(self, tensor: torch.Tensor, field: _Field) -> None:
        """Remember a tensor's field."""
        self.fields[id(tensor)] = (field, tensor)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        inputs = [f for f in (self.field(t) for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor))
                  if f is not None]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if name in ("conv2d", "conv_transpose2d", "linear", "matmul", "mm", "addmm", "bmm") and outputs and self.stack:
            self.macs[self.stack[-1]] = self.macs.get(self.stack[-1], 0) + self._macs(name, args, kwargs, outputs[0])
        if not inputs or not outputs:
            return out
        longest = max(inputs, key=lambda f: (f.full, f.size))  # the longest path into this op
        field = longest
        if name == "conv2d":
            k = int(args[1].shape[2])
            s = _pair(_arg(args, kwargs, 3, "stride", 1))[0]
            d = _pair(_arg(args, kwargs, 5, "dilation", 1))[0]
            field = _Field(longest.size + (k - 1) * d * longest.jump, longest.jump * s, longest.full)
        elif name == "conv_transpose2d":  # outputs step 1/s input pixels apart; k taps of them widen the field
            k = int(args[1].shape[2])
            s = _pair(_arg(args, kwargs, 3, "stride", 1))[0]
            d = _pair(_arg(args, kwargs, 6, "dilation", 1))[0]
            jump = longest.jump / s
            field = _Field(longest.size + (k - 1) * d * jump, jump, longest.full)
        elif name == "interpolate" and outputs[0].dim() == 4 and args and isinstance(args[0], torch.Tensor):
            scale = outputs[0].shape[-1] / args[0].shape[-1]  # upsampling: neighbours 1/scale as far apart
            field = _Field(longest.size, longest.jump / scale, longest.full)
        elif name in _POOL_OPS:
            k = _pair(_arg(args, kwargs, 1, "kernel_size", 1))[0]
            s = _pair(_arg(args, kwargs, 2, "stride", k) or k)[0]
            d = _pair(_arg(args, kwargs, 4, "dilation", 1))[0] if "max" in name else 1
            field = _Field(longest.size + (k - 1) * d * longest.jump, longest.jump * s, longest.full)
        elif name in _FULL_OPS:
            field = _Field(longest.size, longest.jump, True)
        for tensor in outputs:
            self.mark(tensor, field)
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

    The receptive field is in input pixels (padding can make it larger than the image) along the
    longest path from the input; after a Flatten, Linear or adaptive pooling every output sees the
    whole image. mult_adds per sample, as torch.utils.flop_counter counts them (/2). The model is
    left untouched (hooks removed, modes restored); the pass runs in eval mode on one zero image.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    height = input_shape[1] if len(input_shape) == 3 else 0
    tracer = _Tracer()
    rows: list[dict] = []
    handles = []

    def pre_hook(module: nn.Module, inputs: tuple) -> None:
        rows.append({"module": module})  # the row is filled when the layer returns
        tracer.stack.append(len(rows) - 1)

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output) -> None:
            index = tracer.stack.pop()
            first = next((t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)), None)
            field = tracer.field(first) if first is not None else None
            field = field or _Field()
            shape = tuple(first.shape[1:]) if first is not None else ()
            own = list(module.parameters(recurse=False))
            rows[index] = {
                "layer": name, "type": type(module).__name__,
                "output_shape": "x".join(str(v) for v in shape),
                "params": sum(p.numel() for p in own),
                "trainable": sum(p.numel() for p in own if p.requires_grad),
                "mult_adds": tracer.macs.get(index, 0),
                "receptive_field": max(round(field.size), height) if field.full else round(field.size),
                "activations": int(first[0].numel()) if first is not None and first.dim() > 0 else 0,
            }
        return hook

    try:
        for name, module in _row_modules(model):
            handles.append(module.register_forward_pre_hook(pre_hook))
            handles.append(module.register_forward_hook(make_hook(name)))
        x = torch.zeros(1, *input_shape, device=device)
        tracer.mark(x, _Field())
        with eval_mode(model), torch.no_grad(), tracer:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    rows = [r for r in rows if "layer" in r]  # a layer whose forward raised has no row
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_totals(summary: pd.DataFrame, model: nn.Module, bytes_per_value: int = 4) -> dict[str, float]:
    """Totals for a summary: parameters (counted on the model itself), mult-adds, activation memory in MB."""
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "mult_adds": int(summary["mult_adds"].sum()),
        "activation_mb": float(summary["activations"].sum() * bytes_per_value / 2**20),
    }
