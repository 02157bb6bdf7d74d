"""Forward hooks in context managers that always clean up (handles removed, train/eval restored)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every module without children, in registration order."""
    return [(name, m) for name, m in model.named_modules() if not list(m.children()) and name]


@contextlib.contextmanager
def eval_mode(model: nn.Module, training: bool | None = False) -> Iterator[nn.Module]:
    """Put the model (every submodule) in eval mode (train mode with training=True, unchanged with None)
    for the body, then restore each submodule's own flag, even when the body fails."""
    flags = [(m, m.training) for m in model.modules()]
    if training is not None:
        model.train(training)
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


_mode = eval_mode  # capture_forward's argument `eval_mode` shadows the name


@dataclass
class CapturedCall:
    """One forward call of a hooked module: its input and output shapes, and the output itself."""

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]
    output: torch.Tensor  # detached, on CPU (empty when keep_outputs=False); with keep_graph: the output itself
    output_shape: tuple[int, ...]


@contextlib.contextmanager
def capture_forward(model: nn.Module, names: list[str] | None = None, keep_outputs: bool = True,
                    eval_mode: bool = True, clone_outputs: bool = False,
                    keep_graph: bool = False) -> Iterator[list[CapturedCall]]:
    """Record every (or the named) leaf module's forward call, in execution order.

    Yields a list that fills while the caller runs the model. On exit every hook handle is
    removed and the model's train/eval flags are restored, even when the forward pass failed.
    `clone_outputs` copies each kept output, so a later in-place op (ReLU(inplace=True)) cannot change it.
    `keep_graph` keeps each output as it is (not detached, on its device, `retain_grad()` called when it
    requires grad), so that after `loss.backward()` `call.output.grad` holds dL/d(output).
    """
    modules = dict(leaf_modules(model)) if names is None else {n: model.get_submodule(n) for n in names}
    calls: list[CapturedCall] = []
    handles = []

    def kept(output: torch.Tensor) -> torch.Tensor:
        if keep_graph:
            if output.requires_grad:
                output.retain_grad()  # so .grad holds dL/d(output) after backward
            return output
        if not keep_outputs:
            return torch.empty(0)
        return output.detach().cpu().clone() if clone_outputs else output.detach().cpu()

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor):
                return
            first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            calls.append(CapturedCall(
                name, module,
                tuple(first.shape) if first is not None else (),
                kept(output),
                tuple(output.shape)))
        return hook

    with _mode(model, False if eval_mode else None):
        try:
            for name, module in modules.items():
                handles.append(module.register_forward_hook(make_hook(name)))
            yield calls
        finally:
            for handle in handles:
                handle.remove()
