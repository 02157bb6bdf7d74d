"""Statistics at initialization: what each init scheme does to activations and gradients, layer by layer.

No training happens here. A fixed, seeded batch of real images goes through a freshly built model
once per scheme; we record every weighted layer's activation (the output of the non-linearity that
follows it, or the logits for the last layer), the gradient of the loss with respect to that
activation (the back-propagated signal) and the gradient with respect to the layer's weights, after
one backward pass. Everything comes back as tidy pandas frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from cnn_core.data import Dataset, load_dataset
from cnn_core.errors import InvalidConfig
from cnn_core.experiments.regularization import trained_models
from cnn_core.inspect.hooks import capture_forward, eval_mode, leaf_modules
from cnn_core.models import ACTIVATIONS, MODELS, ModelOptions
from cnn_core.models.activations import ACTIVATION_TYPES
from cnn_core.models.init_schemes import INIT_SCHEMES, expected_std
from cnn_core.training import TrainConfig, build_initialized_model, epoch_records, summarize_run
from cnn_core.training.budget import check_model_forward, run_options

KINDS = ("activation", "activation gradient", "weight gradient")
INIT_MODELS = ("lenet5-modern", "plain-cnn", "deep-mlp")  # the networks the init page offers
QUANTILE_SAMPLE = 200_000  # values drawn per tensor to estimate the histogram range


@dataclass(frozen=True)
class InitStatsConfig:
    """One at-initialization experiment (hashable: a cache key)."""

    model: str = "deep-mlp"        # a MODELS key
    depth: int = 10                # hidden layers of plain-cnn / deep-mlp (ignored by LeNet-5)
    width: int | None = None       # channels / units per hidden layer (None = the model's default)
    activation: str = "relu"       # an ACTIVATIONS key
    schemes: tuple[str, ...] = ("normal-small", "xavier-normal", "kaiming-normal-fan-in")
    dataset: str = "mnist-5k"
    batch_size: int = 256          # images in the fixed batch
    seed: int = 0                  # the same seed = the same batch and the same initial weights
    bins: int = 40                 # histogram bins per (scheme, kind)

    def validate(self) -> None:
        """Raise InvalidConfig naming the first value that cannot run."""
        if self.model not in MODELS or MODELS[self.model].fixed_input is not None:
            raise InvalidConfig(f"Unknown or fixed-input model '{self.model}'")
        if self.activation not in ACTIVATIONS:
            raise InvalidConfig(f"Unknown activation '{self.activation}'")
        if not 1 <= len(self.schemes) <= len(INIT_SCHEMES):
            raise InvalidConfig("Pick at least one initialization scheme")
        unknown = [s for s in self.schemes if s not in INIT_SCHEMES]
        if unknown:
            raise InvalidConfig(f"Unknown init scheme(s): {', '.join(unknown)}")
        if not 1 <= self.depth <= 50:
            raise InvalidConfig(f"Depth must be 1..50, got {self.depth}")
        if not 2 <= self.batch_size <= 2048:
            raise InvalidConfig(f"Batch size must be 2..2048, got {self.batch_size}")
        if not 5 <= self.bins <= 200:
            raise InvalidConfig(f"Histogram bins must be 5..200, got {self.bins}")

    def train_config(self, scheme: str) -> TrainConfig:
        """The TrainConfig whose initial model these statistics describe (same seed, same weights)."""
        options = ModelOptions(activation=self.activation, depth=self.depth, width=self.width)
        return TrainConfig(dataset=self.dataset, model=self.model, model_options=options, init=scheme,
                           seed=self.seed)


@dataclass
class InitStats:
    """The results: tidy frames over schemes and layers."""

    config: InitStatsConfig
    layers: pd.DataFrame       # scheme, label, layer, layer_name, kind, mean, std, abs_mean, zero_fraction,
    #                            rms, dead_units, saturated, nonfinite, numel
    histograms: pd.DataFrame   # scheme, label, layer, layer_name, kind, bin, left, right, center, fraction
    weights: pd.DataFrame      # scheme, label, layer, layer_name, fan_in, fan_out, weight_std, expected_std
    outputs: pd.DataFrame      # scheme, label, loss, accuracy, logit_std (the first forward pass)
    extras: dict = field(default_factory=dict)


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module, str | None]]:
    """(name, conv/linear module, name of the activation module that follows it or None) in forward order."""
    out: list[list] = []
    for name, module in leaf_modules(model):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            out.append([name, module, None])
        elif isinstance(module, ACTIVATION_TYPES) and out and out[-1][2] is None:
            out[-1][2] = name
    return [tuple(item) for item in out]  # type: ignore[misc]


def fixed_batch(data: Dataset, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded batch of real training images (N x C x H x W) and their labels (N)."""
    generator = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.train_y), generator=generator)[:batch_size]
    return data.train_x[idx], data.train_y[idx]


def _saturation(values: torch.Tensor, activation: str) -> float:
    # Fraction of outputs in the flat tails of a squashing non-linearity (NaN where there are none).
    tails = ACTIVATIONS[activation].saturation if activation in ACTIVATIONS else None
    if tails is None:
        return math.nan
    return float(((values < tails[0]) | (values > tails[1])).double().mean())


def _finite(t: torch.Tensor) -> torch.Tensor:
    # The finite values of a tensor, flattened, float32 (no copy when all are finite).
    flat = t.detach().cpu().float().flatten()
    mask = torch.isfinite(flat)
    return flat if bool(mask.all()) else flat[mask]


def tensor_stats(t: torch.Tensor, activation: str | None = None) -> dict[str, float]:
    """mean, std, rms, abs_mean, zero_fraction, dead_units (units zero for every input), saturated, nonfinite, numel."""
    t = t.detach().cpu().float()
    finite = _finite(t)
    numel = t.numel()
    zero = t == 0
    if t.ndim >= 2:  # a unit = one channel (conv) or one neuron (linear), over the batch and all positions
        per_unit = zero.reshape(t.shape[0], t.shape[1], -1).all(dim=2).all(dim=0)  # C
        dead_units = float(per_unit.float().mean())
    else:
        dead_units = math.nan
    if finite.numel():
        scale = float(finite.abs().max()) or 1.0  # divide first so squares of huge values cannot overflow
        scaled = finite / scale
        mean, std = float(scaled.mean()) * scale, float(scaled.std(unbiased=False)) * scale
        rms, abs_mean = float(scaled.square().mean().sqrt()) * scale, float(scaled.abs().mean()) * scale
    else:
        mean = std = rms = abs_mean = math.nan
    return {
        "mean": mean, "std": std, "rms": rms, "abs_mean": abs_mean,
        "zero_fraction": float(zero.float().mean()),
        "dead_units": dead_units,
        "saturated": _saturation(finite, activation) if activation else math.nan,
        "nonfinite": 1.0 - finite.numel() / max(numel, 1),
        "numel": numel,
    }


def _range(tensors: list[torch.Tensor], seed: int) -> tuple[float, float]:
    # A common histogram range for several tensors: the widest 0.5 / 99.5 % quantiles (outliers clipped).
    generator = torch.Generator().manual_seed(seed)
    lows, highs = [], []
    for t in tensors:
        flat = t.detach().cpu().flatten()
        if flat.numel() > QUANTILE_SAMPLE:  # a random sample estimates the quantiles well enough
            flat = flat[torch.randint(flat.numel(), (QUANTILE_SAMPLE,), generator=generator)]
        flat = flat.double()
        flat = flat[torch.isfinite(flat)]
        if flat.numel() == 0:
            continue
        lo, hi = torch.quantile(flat, torch.tensor([0.005, 0.995], dtype=torch.float64)).tolist()
        lows.append(lo)
        highs.append(hi)
    if not lows:
        return -1.0, 1.0
    lo, hi = min(lows), max(highs)
    if not hi > lo:  # all values equal (e.g. the zero init): a unit-wide window around them
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def histogram(t: torch.Tensor, lo: float, hi: float, bins: int, drop_zeros: bool = False) -> torch.Tensor:
    """Fraction of the finite values of `t` in each of `bins` equal bins over [lo, hi] (outliers in the edge bins).

    `drop_zeros` leaves exact zeros out of the counts (not of the total): for ReLU outputs, whose zeros
    are counted separately and would otherwise hide the shape of the rest.
    """
    flat = _finite(t)
    total = flat.numel()
    if drop_zeros:
        flat = flat[flat != 0]
    if flat.numel() == 0:
        return torch.zeros(bins, dtype=torch.float64)
    if abs(lo) > 1e30 or abs(hi) > 1e30:  # beyond float32's comfort: bin in float64
        flat = flat.double()
    counts = torch.histc(flat.clamp(lo, hi), bins=bins, min=lo, max=hi)
    return counts.double() / total


def _one_scheme(config: InitStatsConfig, scheme: str, data: Dataset, x: torch.Tensor, y: torch.Tensor):
    """Forward and backward once; returns per-layer tensors by kind, the weight table rows and output stats."""
    model = build_initialized_model(config.train_config(scheme), data)
    layers = weighted_layers(model)
    targets = {act_name or name: name for name, _, act_name in layers}  # hooked module -> weighted layer
    with capture_forward(model, list(targets), eval_mode=False, keep_graph=True) as calls, \
            eval_mode(model, training=True):
        logits = model(x)  # N x K
        loss = F.cross_entropy(logits, y)
        model.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()  # fills each captured output's .grad with dL/d(output)
    captured = {targets[call.name]: call.output for call in calls}
    tensors: dict[str, list[tuple[str, torch.Tensor]]] = {kind: [] for kind in KINDS}
    weight_rows = []
    for index, (name, module, act_name) in enumerate(layers, start=1):
        label = f"{index}: {type(module).__name__}" + ("" if act_name else " (logits)")
        out = captured[name]
        tensors["activation"].append((label, out.detach()))
        grad_out = out.grad if out.grad is not None else torch.zeros_like(out)
        tensors["activation gradient"].append((label, grad_out.detach()))
        grad_w = module.weight.grad if module.weight.grad is not None else torch.zeros_like(module.weight)
        tensors["weight gradient"].append((label, grad_w.detach()))
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(module.weight)
        weight_rows.append({"layer": index, "layer_name": label, "fan_in": fan_in, "fan_out": fan_out,
                            "weight_std": float(module.weight.detach().double().std()),
                            "expected_std": expected_std(scheme, module.weight, config.activation)})
    with torch.no_grad():
        accuracy = float((logits.argmax(dim=1) == y).double().mean())
        logit_std = float(logits.detach().double().std())
    output = {"loss": float(loss.detach()), "accuracy": accuracy, "logit_std": logit_std}
    return tensors, weight_rows, output


def init_statistics(config: InitStatsConfig, data: Dataset | None = None) -> InitStats:
    """Activation and gradient statistics per layer for every scheme of the config (no training)."""
    config.validate()
    check_model_forward(config.model, run_options(config.train_config(config.schemes[0]), data), config.batch_size,
                        what="computing these initialization statistics", repeats=len(config.schemes))
    data = data if data is not None else load_dataset(config.dataset)
    x, y = fixed_batch(data, config.batch_size, config.seed)  # N x C x H x W, N
    layer_rows, hist_rows, weight_rows, output_rows = [], [], [], []
    for scheme in config.schemes:
        label = INIT_SCHEMES[scheme].label
        tensors, weights, output = _one_scheme(config, scheme, data, x, y)
        weight_rows += [{"scheme": scheme, "label": label, **row} for row in weights]
        output_rows.append({"scheme": scheme, "label": label, **output})
        for kind, items in tensors.items():
            # one x range per (scheme, kind), set by the hidden layers: the logits (and their gradient, which
            # global pooling does not spread over positions) would otherwise squash every hidden histogram
            hidden = [t for name, t in items if not name.endswith("(logits)")]
            lo, hi = _range(hidden or [t for _, t in items], config.seed)
            edges = torch.linspace(lo, hi, config.bins + 1, dtype=torch.float64).tolist()
            for index, (layer_name, t) in enumerate(items, start=1):
                is_logits = layer_name.endswith("(logits)")
                stats = tensor_stats(t, config.activation if kind == "activation" and not is_logits else None)
                layer_rows.append({"scheme": scheme, "label": label, "layer": index, "layer_name": layer_name,
                                   "kind": kind, **stats})
                drop = kind == "activation" and config.activation == "relu" and not is_logits
                fractions = histogram(t, lo, hi, config.bins, drop_zeros=drop).tolist()
                for b, fraction in enumerate(fractions):
                    hist_rows.append({"scheme": scheme, "label": label, "layer": index, "layer_name": layer_name,
                                      "kind": kind, "bin": b, "left": edges[b], "right": edges[b + 1],
                                      "center": (edges[b] + edges[b + 1]) / 2, "fraction": fraction})
    return InitStats(config, pd.DataFrame(layer_rows), pd.DataFrame(hist_rows), pd.DataFrame(weight_rows),
                     pd.DataFrame(output_rows))


def scale_ratio(layers: pd.DataFrame, scheme: str, kind: str = "activation", statistic: str = "std") -> float:
    """How much a statistic changes from the first to the last hidden layer (last / first; 1 = kept its scale)."""
    rows = layers[(layers["scheme"] == scheme) & (layers["kind"] == kind)
                  & ~layers["layer_name"].str.endswith("(logits)")].sort_values("layer")
    if rows.empty:
        raise InvalidConfig(f"No {kind} statistics for scheme '{scheme}'")
    first, last = float(rows[statistic].iloc[0]), float(rows[statistic].iloc[-1])
    return last / first if first else math.nan


def identical_units(model: nn.Module, atol: float = 0.0) -> Mapping[str, bool]:
    """Per conv/linear layer: True when all its output units have identical weights (symmetry unbroken)."""
    result = {}
    for name, module in leaf_modules(model):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            w = module.weight.detach().reshape(module.weight.shape[0], -1)  # units x fan_in
            result[name] = bool(torch.allclose(w, w[:1].expand_as(w), atol=atol, rtol=0))
    return result


def symmetric_hidden_layers(model: nn.Module) -> tuple[int, int]:
    """(hidden conv/linear layers whose units all have identical weights, hidden conv/linear layers).

    The output layer is left out: its units (one per class) get different gradients even from a
    symmetric network. With the zero or constant init every hidden layer stays symmetric forever.
    """
    flags = list(identical_units(model).values())[:-1]
    return sum(flags), len(flags)


def training_summary(histories: Mapping[str, list], target_acc: float = 0.9,
                     planned: Mapping[str, int] | None = None) -> pd.DataFrame:
    """One row per run: status (stopped when it has fewer than its `planned` epochs), the step it diverged at,
    epochs, final and best validation accuracy, the first epoch reaching target_acc."""
    if not 0 < target_acc <= 1:
        raise InvalidConfig(f"Target accuracy must be in (0, 1], got {target_acc}")
    rows = []
    for label, records in histories.items():
        summary = summarize_run(records, planned.get(label) if planned else None)
        hit = next((r.epoch for r in epoch_records(records) if r.val_acc >= target_acc - 1e-6), None)  # float32
        rows.append({"run": label, "status": summary.status.label, "diverged_at_step": summary.diverged_step,
                     "epochs": summary.epochs, "final_val_acc": summary.final_val_acc,
                     "best_val_acc": summary.best_val_acc, "epochs_to_target": hit,
                     "final_train_loss": summary.final_train_loss})
    return pd.DataFrame(rows)


def symmetry_after_training(configs: Mapping[str, TrainConfig], states: Mapping[str, Mapping[str, torch.Tensor]],
                            data: Dataset) -> dict[str, tuple[int, int] | None]:
    """Per run: symmetric_hidden_layers of its trained weights, or None for a run without a final state.

    Each model is rebuilt from a copy of its state, so the (possibly shared, cached) states are not touched.
    """
    models = trained_models(configs, states, data)
    return {label: symmetric_hidden_layers(models[label]) if label in models else None for label in configs}


def spread_layers(layers: Sequence[int], count: int = 12) -> list[int]:
    """At most `count` of the given layer numbers, evenly spaced, first and last kept (for small multiples)."""
    shown = sorted(set(layers))
    if len(shown) <= count:
        return shown
    return sorted({shown[round(i * (len(shown) - 1) / (count - 1))] for i in range(count)})
