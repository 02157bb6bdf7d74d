"""What a model costs before it exists: parameters, activations and multiply-adds, measured on the meta device.

A model built under ``torch.device("meta")`` has shapes but no storage, so a forward pass of a
meta tensor costs microseconds and no memory whatever the sizes. Forward hooks on every leaf
layer read each output's shape; from those we count, per sample:

- activations: values each layer outputs (what autograd keeps for the backward pass),
- multiply-adds: conv = output values x (in_channels / groups) x k_h x k_w, linear = rows x in x out,
  any other layer = one operation per output value.

A layer list is priced by `checked_build.check_design` and a registry model by `registry.model_cost`;
this module knows no layer specs and no registry, only built models, so both can import it.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cnn_core.errors import ArchitectureError, BudgetExceeded
from cnn_core.settings import env_number

log = logging.getLogger(__name__)

BYTES_PER_VALUE = 4          # float32
MAX_LAYERS = 64              # a layer list longer than this is refused before anything is built
MAX_DESIGN_MACS = 5_000_000_000   # multiply-adds per image of one design: a few seconds of a laptop core
DEFAULT_MEMORY_MB = 1024     # the per-run memory budget (CNN_PLAYGROUND_MAX_RUN_MEMORY_MB)
DEFAULT_SECONDS = 600        # the per-run time budget (CNN_PLAYGROUND_MAX_RUN_SECONDS)
MEMORY_ENV, SECONDS_ENV = "CNN_PLAYGROUND_MAX_RUN_MEMORY_MB", "CNN_PLAYGROUND_MAX_RUN_SECONDS"
# Time of a step = STEP_OVERHEAD_S + multiply-adds / MACS_PER_SECOND + values x SECONDS_PER_VALUE, where
# values = inputs and outputs of every layer (small-channel layers are memory-bound: values set their pace).
# Fitted by benchmarks/calibrate_budget.py on the 2-core CPU host (one thread, busy neighbours; see the README).
MACS_PER_SECOND = 1.0e10       # multiply-adds per second (forward and backward work alike)
SECONDS_PER_VALUE = 5.0e-9     # per layer output value written or read (element-wise and memory-bound work)
STEP_OVERHEAD_S = 0.005        # fixed cost of one optimizer step (Python, optimizer, bookkeeping)
RATE_ENV = "CNN_PLAYGROUND_MACS_PER_SECOND"  # overrides MACS_PER_SECOND on a faster host

Shape = tuple[int, ...]


def memory_budget_bytes() -> int:
    """The per-run memory budget in bytes (env CNN_PLAYGROUND_MAX_RUN_MEMORY_MB, default 1024 MiB)."""
    return int(env_number(MEMORY_ENV, DEFAULT_MEMORY_MB) * 2**20)


def time_budget_seconds() -> float:
    """The per-run time budget in estimated seconds (env CNN_PLAYGROUND_MAX_RUN_SECONDS, default 600)."""
    return env_number(SECONDS_ENV, DEFAULT_SECONDS)


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB', 3.4e9 -> '3.2 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def human_seconds(s: float) -> str:
    """42 -> '42 s', 5400 -> '1.5 h'."""
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


@dataclass(frozen=True)
class LayerCost:
    """One executed leaf layer, per sample."""

    index: int            # 1-based position among the executed leaf layers
    name: str             # module name in the model, e.g. 'features.3'
    detail: str           # 'Conv2d 512->1024', 'Linear 802816->4096', 'ReLU'
    output_shape: Shape   # per sample (no batch dimension)
    params: int           # parameters owned by this layer
    activations: int      # values it outputs per sample
    macs: int             # multiply-adds (or element operations) per sample

    def label(self) -> str:
        """'layer 7 (Conv2d 512->1024)'."""
        return f"layer {self.index} ({self.detail})"


@dataclass(frozen=True)
class ModelCost:
    """A model's size and per-sample work, from one meta-device forward pass."""

    input_shape: Shape
    layers: tuple[LayerCost, ...]
    params: int                 # every parameter of the model (shared ones once)
    buffers: int                # values in buffers (batch-norm running statistics)

    @property
    def param_bytes(self) -> int:
        """float32 bytes of the weights."""
        return self.params * BYTES_PER_VALUE

    @property
    def activations(self) -> int:
        """Output values of all layers per sample (what a training step keeps for backward)."""
        return sum(layer.activations for layer in self.layers)

    @property
    def largest_activation(self) -> int:
        """The biggest single layer output per sample."""
        return max((layer.activations for layer in self.layers), default=0)

    @property
    def macs(self) -> int:
        """Multiply-adds of one forward pass of one sample."""
        return sum(layer.macs for layer in self.layers)

    def biggest(self, attribute: str) -> LayerCost | None:
        """The layer with the most `attribute` ('params', 'activations' or 'macs')."""
        return max(self.layers, key=lambda layer: getattr(layer, attribute), default=None)

    def forward_bytes(self, batch: int, keep_outputs: bool = True) -> int:
        """Memory of an inference pass: every layer's output kept (hooks of an analysis) or only two alive at once."""
        kept = self.activations + self.largest_activation if keep_outputs else 2 * self.largest_activation
        return self.param_bytes + BYTES_PER_VALUE * (self.buffers + batch * (kept + math.prod(self.input_shape)))

    def training_bytes(self, batch: int, optimizer_copies: int = 2) -> int:
        """Weights + gradients + optimizer state + kept activations + the backward pass's two largest buffers."""
        weights = self.param_bytes * (2 + optimizer_copies) + self.buffers * BYTES_PER_VALUE
        kept = batch * (self.activations + 2 * self.largest_activation + math.prod(self.input_shape))
        return weights + kept * BYTES_PER_VALUE


def _detail(module: nn.Module) -> str:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return f"{type(module).__name__} {module.in_channels}->{module.out_channels}"
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}->{module.out_features}"
    return type(module).__name__


def _macs(module: nn.Module, out_shape: Shape, in_shape: Shape) -> int:
    values = math.prod(out_shape)
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return values * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):  # every input value is spread over a k x k window of outputs
        kh, kw = module.kernel_size
        return math.prod(in_shape) * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return values * module.in_features
    return values


def _meta_inputs(model: nn.Module) -> dict[str, torch.Tensor]:
    """Meta stand-ins of every parameter and buffer (shapes only, no storage)."""
    named = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
    return {name: torch.empty_like(t, device="meta") for name, t in named}


def profile(model: nn.Module, input_shape: Shape) -> ModelCost:
    """Per-sample cost of `model` on one (C, H, W) input, measured by a meta-device forward pass.

    Works for a model on any device: a real model is run with meta stand-ins of its weights
    (torch.func.functional_call), so nothing is allocated. Hooks are added and modes switched for
    the pass: callers holding a shared model call this under its lock. Raises ArchitectureError if
    the forward pass fails (shapes that do not fit).
    """
    input_shape = tuple(int(v) for v in input_shape)
    layers: list[LayerCost] = []
    handles = []

    def record(name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                shape = tuple(int(v) for v in output.shape[1:])
                first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else output
                params = sum(p.numel() for p in module.parameters(recurse=False))
                layers.append(LayerCost(len(layers) + 1, name, _detail(module), shape, params, math.prod(shape),
                                        _macs(module, shape, tuple(first.shape[1:]))))
        return hook

    for name, module in model.named_modules():
        if not any(True for _ in module.children()):
            handles.append(module.register_forward_hook(record(name)))
    modes = {m: m.training for m in model.modules()}
    if any(modes.values()):
        model.eval()  # batch norm of a single sample is refused in training mode
    try:
        x = torch.empty(1, *input_shape, device="meta")  # 1 x C x H x W
        on_meta = all(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])
        with torch.no_grad():
            if on_meta:
                model(x)
            else:
                torch.func.functional_call(model, _meta_inputs(model), (x,), strict=False)
    except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError) as exc:
        log.info("meta forward pass failed: %s", exc)
        raise ArchitectureError("The network does not accept a "
                                f"{'x'.join(map(str, input_shape))} input (its layer shapes do not fit).") from exc
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():  # every submodule's own mode back, as it was
            module.training = training
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    return ModelCost(input_shape, tuple(layers), params, buffers)


def on_meta() -> bool:
    """True while torch's default device is 'meta' (we are already pricing: do not price again)."""
    return torch.get_default_device().type == "meta"


def macs_per_second() -> float:
    """The machine's multiply-add rate used for time estimates (env CNN_PLAYGROUND_MACS_PER_SECOND)."""
    return env_number(RATE_ENV, MACS_PER_SECOND)


def step_seconds(macs: float, values: float, steps: int = 1) -> float:
    """Estimated seconds of `steps` optimizer steps that each do `macs` multiply-adds over `values` outputs."""
    return steps * (STEP_OVERHEAD_S + macs / macs_per_second() + values * SECONDS_PER_VALUE)


def pass_seconds(cost: ModelCost, samples: int, backward: bool = False) -> float:
    """Estimated seconds of a forward (x3 with backward) pass of `samples` inputs, without step overhead."""
    factor = 3 if backward else 1
    values = (cost.activations + math.prod(cost.input_shape)) * samples * factor
    return cost.macs * samples * factor / macs_per_second() + values * SECONDS_PER_VALUE


@dataclass(frozen=True)
class Estimate:
    """What a piece of work is expected to cost."""

    what: str              # 'this training run', 'the comparison (3 runs)', ...
    memory_bytes: int
    seconds: float
    batch: int
    cost: ModelCost | None  # the (largest) model's per-sample cost
    weight_bytes: int = 0   # the part of memory_bytes that is weights, gradients and optimizer state
    runs: int = 1           # runs held at once (a comparison); the per-layer figures are the largest run's

    def describe(self) -> str:
        """'about 120 MiB and 40 s'."""
        return f"about {human_bytes(self.memory_bytes)} and {human_seconds(self.seconds)}"


TRAIN_TIME_HINT = "train fewer epochs or samples per class, or use fewer channels or a larger stride"


def refuse_over_budget(estimate: Estimate, time_hint: str = TRAIN_TIME_HINT) -> None:
    """Raise BudgetExceeded naming the biggest layer and what to change when `estimate` is over the budget."""
    memory_limit, seconds_limit = memory_budget_bytes(), time_budget_seconds()
    cost, batch = estimate.cost, estimate.batch
    if estimate.memory_bytes > memory_limit:
        hint = "lower the batch size or the channels"
        detail = ""
        if cost is not None and cost.layers:
            weights = cost.biggest("params")
            layer = cost.biggest("activations")
            if estimate.weight_bytes * 2 > estimate.memory_bytes:
                detail = (f"{human_bytes(estimate.weight_bytes)} of it are the {cost.params:,} weights (with their "
                          f"gradients and optimizer state while training); {weights.label()} holds "
                          f"{weights.params:,} of them")
                hint = "use fewer units, channels or layers, or add pooling before the largest layer"
            else:
                detail = (f"{layer.label()} alone needs {human_bytes(layer.activations * BYTES_PER_VALUE * batch)} of "
                          f"activations at batch {batch}, all {len(cost.layers)} layers "
                          f"{human_bytes(cost.activations * BYTES_PER_VALUE * batch)}"
                          + (f", in each of the {estimate.runs} runs" if estimate.runs > 1 else ""))
        raise BudgetExceeded(f"{estimate.what[:1].upper()}{estimate.what[1:]} needs about "
                             f"{human_bytes(estimate.memory_bytes)} of memory; the limit per run is "
                             f"{human_bytes(memory_limit)}" + (f": {detail}" if detail else "") + f". To fit, {hint}.")
    if estimate.seconds > seconds_limit:
        detail = ""
        if cost is not None and cost.macs:
            layer = cost.biggest("macs")
            detail = f"; {layer.label()} does {layer.macs / cost.macs:.0%} of the work"
        raise BudgetExceeded(f"{estimate.what[:1].upper()}{estimate.what[1:]} would take about "
                             f"{human_seconds(estimate.seconds)} on this machine; the limit per run is "
                             f"{human_seconds(seconds_limit)}{detail}. To fit, {time_hint}.")


def check_forward(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1, backward: bool = False,
                  what: str = "this analysis", repeats: int = 1,
                  time_hint: str = "use fewer or smaller images, or a smaller model") -> Estimate:
    """Refuse a forward (and backward) pass of `batch` inputs through an existing model beyond the budget.

    `repeats` counts passes done one after another (e.g. one per init scheme): time adds up,
    memory does not.
    """
    cost = profile(model, input_shape)
    memory = cost.training_bytes(batch, 0) if backward else cost.forward_bytes(batch)
    seconds = repeats * pass_seconds(cost, batch, backward)
    estimate = Estimate(what, memory, seconds, batch, cost, cost.param_bytes * (2 if backward else 1))
    refuse_over_budget(estimate, time_hint)
    return estimate
