"""Several runs of one architecture trained as one batched network: run k's channels side by side with the others'.

Six optimizers on LeNet-5 are six small networks; each of their convolutions has too few channels to keep a
CPU busy. Put run k's 6 C1 channels next to the others' (one convolution with 36 output channels), run C3 as a
grouped convolution (groups = runs: run k's 16 maps see only run k's 6), and every linear layer as one batched
matrix product. Each run still has its own parameters, optimizer, schedule and random streams (its own
TrainingRun): the batched weights are concatenated from the runs' parameters at every step, so backward puts
each run's gradient on that run's parameters and `torch.optim` steps them as it would alone. The records equal
the runs trained one by one up to float rounding (tests/test_ensemble.py); on 2 CPU cores a 6-optimizer
comparison takes about half as long (benchmarks/compare_optimizers.py).

A tensor between layers is in one of three layouts:
- "shared": N x ... , the same input for every run (runs with one seed see the same batches);
- "channels": N x (K*C) x H x W, run k's C channels at [k*C, (k+1)*C);
- "runs": K x N x F, run k's features at [k].
Only layers that act on each channel (or unit) alone can run in these layouts; any other layer (dropout,
transposed convolution, attention, a model whose forward is not its layers in order) makes a comparison run
the ordinary way, and `why_not_grouped` says why.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Hashable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cnn_core.data import Dataset
from cnn_core.errors import BudgetExceeded
from cnn_core.experiments.compare import make_runs
from cnn_core.inspect.hooks import eval_mode
from cnn_core.models import build_model
from cnn_core.models.activations import ACTIVATION_TYPES
from cnn_core.training import Record, RunStatus, TrainConfig, TrainingRun
from cnn_core.training.budget import check_runs
from cnn_core.training.losses import compute_loss

# Layers with no parameters that act on each channel / unit on its own: they run unchanged in every layout.
PER_CHANNEL = (*ACTIVATION_TYPES, nn.Identity, nn.ReLU6, nn.Hardtanh, nn.SiLU, nn.Softplus, nn.Mish,
               nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
PROBE_TOLERANCE = dict(rtol=1e-4, atol=1e-5)  # grouped vs one-by-one forward on a probe batch


class NotGroupable(ValueError):
    """These models cannot run as one batched network (the message says why)."""


def leaf_layers(model: nn.Module) -> list[nn.Module]:
    """The model's modules without children, in registration order (its forward, for a sequential model)."""
    return [m for m in model.modules() if not list(m.children())]


def _check_layer(layer: nn.Module) -> None:
    if isinstance(layer, nn.Conv2d):
        if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            raise NotGroupable(f"{layer} pads with '{layer.padding_mode}' / '{layer.padding}'")
    elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if layer.track_running_stats and layer.momentum is None:
            raise NotGroupable(f"{layer} keeps a cumulative average (momentum=None)")
    elif isinstance(layer, nn.Flatten):
        if layer.start_dim != 1 or layer.end_dim != -1:
            raise NotGroupable(f"{layer} does not flatten from dimension 1")
    elif not isinstance(layer, (nn.Linear, *PER_CHANNEL)) or (
            isinstance(layer, PER_CHANNEL) and (list(layer.parameters()) or list(layer.buffers()))):
        raise NotGroupable(f"{type(layer).__name__} layers cannot run side by side")


def _to_runs(x: torch.Tensor, layout: str, runs: int) -> torch.Tensor:
    """Any layout -> K x N x F (a flattened feature map keeps PyTorch's C, H, W order per run)."""
    if layout == "runs":
        return x
    if layout == "shared":
        return x.flatten(1).unsqueeze(0).expand(runs, -1, -1)
    return x.reshape(x.shape[0], runs, -1).transpose(0, 1)  # N x (K*C) x H x W -> K x N x (C*H*W)


def _to_channels(x: torch.Tensor, layout: str, runs: int) -> torch.Tensor:
    """'shared' N x C x H x W -> N x (K*C) x H x W (each run its own copy, for a layer with per-run state)."""
    return x.repeat(1, runs, 1, 1) if layout == "shared" else x


class GroupedNetwork:
    """K models of one sequential architecture computed as one network; call it on K batches of one size."""

    def __init__(self, models: Sequence[nn.Module], channels_last: bool = False) -> None:
        if not models:
            raise NotGroupable("no models")
        self.models = list(models)
        self.layers = [leaf_layers(m) for m in self.models]  # layers[k][i]: run k's i-th layer
        kinds = [[type(layer) for layer in layers] for layers in self.layers]
        if any(k != kinds[0] for k in kinds):
            raise NotGroupable("the runs' networks differ")
        for layer in self.layers[0]:
            _check_layer(layer)
        self.channels_last = channels_last  # the runs' models are channels_last (TrainingRun on the CPU)

    def __call__(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """One batch per run (N x C x H x W each) -> K x N x classes logits."""
        runs = len(self.models)
        if all(x is xs[0] or torch.equal(x, xs[0]) for x in xs[1:]):
            x, layout = xs[0], "shared"  # one seed: every run sees the same batch; compute its first layer once
        elif xs[0].dim() == 4:
            x, layout = torch.cat(list(xs), dim=1), "channels"  # N x (K*C) x H x W
        else:
            x, layout = torch.stack(list(xs)), "runs"
        for index, layer in enumerate(self.layers[0]):
            column = [layers[index] for layers in self.layers]
            x, layout = self._apply(layer, column, x, layout)
        return _to_runs(x, layout, runs)

    def _apply(self, layer: nn.Module, column: list[nn.Module], x: torch.Tensor,
               layout: str) -> tuple[torch.Tensor, str]:
        runs = len(column)
        if isinstance(layer, nn.Conv2d):
            return self._conv(layer, column, x, layout), "channels"
        if isinstance(layer, nn.Linear):
            return self._linear(column, x, layout), "runs"
        if isinstance(layer, nn.Flatten):
            return (x.flatten(1), layout) if layout == "shared" else (_to_runs(x, layout, runs), "runs")
        if isinstance(layer, nn.BatchNorm2d):
            return self._batch_norm(column, _to_channels(x, layout, runs)), "channels"
        if isinstance(layer, nn.BatchNorm1d):
            stacked = _to_runs(x, layout, runs)  # K x N x F
            n = stacked.shape[1]
            flat = self._batch_norm(column, stacked.transpose(0, 1).reshape(n, -1))  # N x (K*F)
            return flat.reshape(n, runs, -1).transpose(0, 1), "runs"
        return layer(x), layout  # PER_CHANNEL: acts on each channel / unit alone

    def _conv(self, layer: nn.Conv2d, column: list[nn.Module], x: torch.Tensor, layout: str) -> torch.Tensor:
        weight = torch.cat([c.weight for c in column])  # (K*C_out) x (C_in/groups) x kh x kw
        if self.channels_last:
            weight = weight.contiguous(memory_format=torch.channels_last)
        bias = torch.cat([c.bias for c in column]) if layer.bias is not None else None
        groups = layer.groups
        if layout == "shared" and groups > 1:
            x, layout = _to_channels(x, layout, len(column)), "channels"
        if layout == "channels":
            groups *= len(column)  # run k's output maps see only run k's input maps
        return F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation, groups)

    @staticmethod
    def _linear(column: list[nn.Module], x: torch.Tensor, layout: str) -> torch.Tensor:
        runs = len(column)
        if layout == "shared":  # N x F @ F x (K*O): one matrix product for every run
            weight = torch.cat([c.weight for c in column])
            bias = torch.cat([c.bias for c in column]) if column[0].bias is not None else None
            out = F.linear(x.flatten(1), weight, bias)  # N x (K*O)
            return out.reshape(out.shape[0], runs, -1).transpose(0, 1)  # K x N x O
        x = _to_runs(x, layout, runs)  # K x N x F
        weight = torch.stack([c.weight for c in column]).transpose(1, 2)  # K x F x O
        if column[0].bias is None:
            return torch.bmm(x, weight)
        bias = torch.stack([c.bias for c in column]).unsqueeze(1)  # K x 1 x O
        return torch.baddbmm(bias, x, weight)

    @staticmethod
    def _batch_norm(column: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
        # Batch norm is per channel, so K runs' C channels are one batch norm over K*C channels. Its running
        # statistics are updated in a concatenated copy, then written back to each run's own buffers.
        first = column[0]
        tracked = first.running_mean is not None
        mean = torch.cat([c.running_mean for c in column]) if tracked else None
        var = torch.cat([c.running_var for c in column]) if tracked else None
        weight = torch.cat([c.weight for c in column]) if first.affine else None
        bias = torch.cat([c.bias for c in column]) if first.affine else None
        training = first.training or not tracked
        out = F.batch_norm(x, mean, var, weight, bias, training, first.momentum or 0.0, first.eps)
        if tracked and first.training:
            with torch.no_grad():
                for c, m, v in zip(column, mean.chunk(len(column)), var.chunk(len(column))):
                    c.running_mean.copy_(m)
                    c.running_var.copy_(v)
                    c.num_batches_tracked.add_(1)
        return out

    def verify(self, sample: torch.Tensor) -> None:
        """Raise NotGroupable unless the grouped forward equals every model's own (eval mode, a probe batch)."""
        with torch.no_grad(), contextlib.ExitStack() as stack:
            for model in self.models:
                stack.enter_context(eval_mode(model))
            alone = torch.stack([model(sample) for model in self.models])
            try:
                grouped = self([sample] * len(self.models))
            except Exception as exc:  # e.g. a shape mismatch: the layers in registration order do not compose
                raise NotGroupable("the network's forward is not its layers in order") from exc
        if grouped.shape != alone.shape or not torch.allclose(grouped, alone, **PROBE_TOLERANCE):
            raise NotGroupable("the network's forward is not its layers in order")


def why_not_grouped(configs: Mapping[Hashable, TrainConfig]) -> str | None:
    """Why these configs cannot train as one batched network (None: they can), from the configs alone."""
    if len(configs) < 2:
        return "one run"
    first = next(iter(configs.values()))
    same = ("model", "model_options", "dataset", "per_class", "batch_size", "device")
    for name in same:
        if any(getattr(c, name) != getattr(first, name) for c in configs.values()):
            return f"the runs differ in {name.replace('_', ' ')}"
    if first.model_options.dropout > 0:
        return "dropout draws each run's own random masks"
    return None


def groupable(configs: Mapping[Hashable, TrainConfig]) -> str | None:
    """Why these configs cannot train as one batched network (None: they can): their configs, their memory held
    at once (a search is budgeted one trial at a time; a batched network holds them all), then their layers
    (built on the meta device: no memory). The forward pass itself is checked when the runs are built."""
    reason = why_not_grouped(configs)
    if reason:
        return reason
    try:
        check_runs(configs, together=True)
    except BudgetExceeded as exc:
        return f"together they are over the memory budget ({exc})"
    first = next(iter(configs.values()))
    try:
        with torch.device("meta"):
            layers = leaf_layers(build_model(first.model, first.model_options))
        for layer in layers:
            _check_layer(layer)
    except NotGroupable as exc:
        return str(exc)
    except Exception as exc:  # a config the model factory refuses: the run itself will say so
        return f"{type(exc).__name__}: {exc}"
    return None


def grouped_step(runs: Sequence[TrainingRun], net: GroupedNetwork,
                 batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[float, float, float] | None]:
    """One optimizer step of every run (TrainingRun._train_step, batched): a result per run, None if it diverged."""
    logits = net([x for x, _ in batches])  # K x N x classes
    terms = [run.loss_terms(logits[k], y) for k, (run, (_, y)) in enumerate(zip(runs, batches))]
    values = torch.stack([total.detach() for _, total in terms]).tolist()  # one sync for every run's loss
    going = [k for k, run in enumerate(runs) if not run.diverges(values[k])]
    if not going:
        return [None] * len(runs)
    for k in going:
        runs[k].optimizer.zero_grad(set_to_none=True)
    # Run k's loss depends only on run k's parameters, so the gradient of the sum is each run's own gradient.
    torch.stack([terms[k][1] for k in going]).sum().backward()
    results: list[tuple[float, float, float] | None] = [None] * len(runs)
    for k in going:
        results[k] = runs[k].apply_gradients(logits[k], batches[k][1], terms[k][0])
    return results


@torch.no_grad()
def grouped_evaluate(runs: Sequence[TrainingRun], net: GroupedNetwork, data: Dataset,
                     images: int = 1000) -> list[tuple[float, float]]:
    """(validation loss, accuracy) of every run, as training.loop.evaluate computes them, in one pass
    (chunks of `images` / runs images, so the batched activations are the size one run's would be)."""
    labels = data.val_y
    batch_size = max(1, images // len(runs))
    if len(labels) == 0:
        return [(math.nan, math.nan)] * len(runs)
    with contextlib.ExitStack() as stack:
        for run in runs:
            stack.enter_context(eval_mode(run.model))
        device = runs[0].device
        chunks = [net([data.val_x[i:i + batch_size].to(device)] * len(runs)).cpu()
                  for i in range(0, len(labels), batch_size)]
    logits = torch.cat(chunks, dim=1)  # K x N_val x classes
    return [(compute_loss(run.config.loss, logits[k], labels).item(),
             (logits[k].argmax(dim=1) == labels).float().mean().item()) for k, run in enumerate(runs)]


class EnsembleTraining:
    """TrainingRuns of one architecture advanced in lock-step, each step one batched forward and backward."""

    def __init__(self, runs: Mapping[Hashable, TrainingRun]) -> None:
        self.runs = dict(runs)
        self._nets: dict[tuple, GroupedNetwork] = {}
        first = next(iter(self.runs.values()))
        self._net(tuple(self.runs)).verify(first.data.train_x[:4].to(first.device))

    def _net(self, labels: tuple) -> GroupedNetwork:
        if labels not in self._nets:  # the runs still going (a diverged run drops out)
            runs = [self.runs[label] for label in labels]
            self._nets[labels] = GroupedNetwork([run.model for run in runs], runs[0].channels_last)
        return self._nets[labels]

    def records(self) -> Iterator[tuple[Hashable, Record]]:
        """Train every run for its config's epochs, yielding (label, record) as TrainingRun.records would."""
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[tuple[Hashable, Record]]]:
        """The records in the lock-step's units: every run's record of one step, or of one epoch's end. A
        consumer that stops between units (Stop) leaves every run's history matching its weights."""
        epochs_left = {label: run.config.epochs for label, run in self.runs.items() if run.start()}
        while epochs_left:
            going = list(epochs_left)
            for label in going:
                self.runs[label].begin_epoch()
            while going:
                batches = {label: self.runs[label].next_batch() for label in going}
                going = [label for label in going if batches[label] is not None]
                if not going:
                    break
                runs = [self.runs[label] for label in going]
                lrs = [run.optimizer.param_groups[0]["lr"] for run in runs]
                results = grouped_step(runs, self._net(tuple(going)), [batches[label] for label in going])
                step = [(label, run.finish_step(result, lr, len(batches[label][1])))
                        for label, run, lr, result in zip(going, runs, lrs, results)]
                for label, record in step:
                    if record.kind == "diverged":
                        going.remove(label)
                        del epochs_left[label]
                yield step
            ended = list(epochs_left)  # every run still going has finished this epoch's batches
            if not ended:
                return
            runs = [self.runs[label] for label in ended]
            scores = grouped_evaluate(runs, self._net(tuple(ended)), runs[0].data)
            epoch = []
            for label, run, val in zip(ended, runs, scores):
                epoch += [(label, record) for record in run.end_epoch(val)]
                epochs_left[label] -= 1
                if run.status == RunStatus.EARLY_STOPPED:
                    del epochs_left[label]
                elif epochs_left[label] == 0:
                    run.status = RunStatus.FINISHED
                    del epochs_left[label]
            yield epoch


def ensemble_runs(configs: Mapping[Hashable, TrainConfig], data: Dataset | None = None) -> EnsembleTraining:
    """The configs' runs as one batched network; raises NotGroupable (with the reason) when they cannot be."""
    reason = why_not_grouped(configs)
    if reason:
        raise NotGroupable(reason)
    runs = make_runs(configs, data)
    if any(run.stochastic for run in runs.values()):
        raise NotGroupable("a layer draws random numbers in its forward pass")
    return EnsembleTraining(runs)
