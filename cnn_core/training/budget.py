"""A price for every piece of work before it starts: memory and time estimated on the meta device.

One student must not take a shared class server down. Every path that trains, analyses or loads
a model first asks this module; work beyond the per-run budget is refused with a BudgetExceeded
whose message names the biggest layer and what to change.

Budget (per run, teacher-configurable):
- memory: CNN_PLAYGROUND_MAX_RUN_MEMORY_MB (default 1024),
- time:   CNN_PLAYGROUND_MAX_RUN_SECONDS (default 600 estimated seconds on this machine).

Estimates (cnn_core.models.cost counts per sample and holds the machine's constants):
- training memory = weights x (1 + gradients + optimizer copies) + batch x (every layer's output
  + the two largest outputs again for the backward pass + the input), float32;
- training time = steps x step_seconds(3 x forward multiply-adds x batch, 3 x output values x batch)
  + validation forward passes each epoch, where a step costs STEP_OVERHEAD_S + macs / MACS_PER_SECOND
  + values x SECONDS_PER_VALUE (small-channel layers are memory-bound: their values, not their
  multiply-adds, set the pace). The constants were fitted once on this machine, one thread, by
  benchmarks/calibrate_budget.py (CNN_PLAYGROUND_MACS_PER_SECOND overrides the rate on a faster host).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, replace
from typing import Iterable, Mapping

from cnn_core.errors import BudgetExceeded
from cnn_core.models import MODELS, ModelOptions
from cnn_core.models.cost import (STEP_OVERHEAD_S, Estimate, ModelCost, check_forward, memory_budget_bytes, pass_seconds,
                                  refuse_over_budget)
from cnn_core.models.registry import meta_model, model_cost
from cnn_core.training.config import TrainConfig

# (train, validation) samples and image shape of each registry dataset, so a run is priced before
# its data is loaded; a loaded Dataset's own sizes win when one is given.
DATASET_SIZES: dict[str, tuple[int, int, tuple[int, int, int], int]] = {
    "mnist-5k": (4000, 500, (1, 28, 28), 10),
    "fashion-mnist": (54000, 6000, (1, 28, 28), 10),
    "mnist": (54000, 6000, (1, 28, 28), 10),
    "cifar10": (45000, 5000, (3, 32, 32), 10),
}
OPTIMIZER_COPIES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adadelta": 2,
                    "adam": 2, "adamw": 2, "nadam": 2}


def _sizes(config: TrainConfig, data: object | None) -> tuple[int, int, tuple[int, int, int], int]:
    if data is not None:
        sizes = data.sizes()
        return sizes["train"], sizes["val"], tuple(data.image_shape), data.num_classes
    train, val, shape, classes = DATASET_SIZES.get(config.dataset, DATASET_SIZES["cifar10"])
    if config.per_class is not None:
        train = min(train, config.per_class * classes)
    return train, val, shape, classes


def run_options(config: TrainConfig, data: object | None = None) -> ModelOptions:
    """The ModelOptions a run will build (input and classes from the dataset), without loading the data."""
    _, _, (c, h, _), classes = _sizes(config, data)
    return replace(config.model_options, in_channels=c, image_size=h, num_classes=classes)


@functools.lru_cache(maxsize=128)
def _model_cost(name: str, options: ModelOptions) -> ModelCost:
    # A meta-device forward pass costs ~15 ms; a comparison prices its runs twice (together, then each alone),
    # and ModelCost is frozen, so one profile per architecture serves every run of it.
    return model_cost(name, options)  # a design that cannot be built raises its own PlaygroundError


def estimate_run(config: TrainConfig, data: object | None = None) -> Estimate:
    """Memory and time of training `config` (all epochs), from a meta-device build of its model."""
    n_train, n_val, _, _ = _sizes(config, data)
    cost = _model_cost(config.model, run_options(config, data))
    batch = min(config.batch_size, max(n_train, 1))
    copies = OPTIMIZER_COPIES.get(config.optimizer.name, 2)
    memory = cost.training_bytes(batch, copies)
    steps = math.ceil(n_train / max(config.batch_size, 1)) * config.epochs
    train_s = steps * (STEP_OVERHEAD_S + pass_seconds(cost, batch, backward=True))
    eval_s = config.epochs * pass_seconds(cost, n_val)
    memory = max(memory, cost.forward_bytes(min(n_val, 1000), keep_outputs=False))  # evaluation: chunks of 1000
    return Estimate("this training run", memory, train_s + eval_s, batch, cost, cost.param_bytes * (2 + copies))


def check_run(config: TrainConfig, data: object | None = None) -> Estimate:
    """Refuse (BudgetExceeded) a training run beyond the budget; return its estimate otherwise."""
    estimate = estimate_run(config, data)
    refuse_over_budget(estimate)
    return estimate


def check_runs(configs: Iterable[TrainConfig] | Mapping[str, TrainConfig], data: object | None = None,
               together: bool = True, what: str | None = None) -> Estimate:
    """Refuse a set of runs whose summed time (and memory, when they are held `together`) is over budget.

    A side-by-side comparison holds every run at once (memory adds up); a search runs one trial
    after another (memory is the largest trial's).
    """
    configs = list(configs.values()) if isinstance(configs, Mapping) else list(configs)
    estimates = [estimate_run(c, data) for c in configs]
    if not estimates:
        return Estimate(what or "no runs", 0, 0.0, 0, None)
    memory = sum(e.memory_bytes for e in estimates) if together else max(e.memory_bytes for e in estimates)
    biggest = max(estimates, key=lambda e: e.memory_bytes)
    label = what or (f"the comparison ({len(configs)} runs)" if together else f"the search ({len(configs)} trials)")
    weights = sum(e.weight_bytes for e in estimates) if together else biggest.weight_bytes
    total = Estimate(label, memory, sum(e.seconds for e in estimates), biggest.batch, biggest.cost, weights,
                     len(estimates) if together else 1)
    refuse_over_budget(total)
    return total


@dataclass(frozen=True, eq=False)  # equal as mappings (Mapping.__eq__), like the dict of configs
class PricedRuns(Mapping):
    """Runs admitted by one pricing: the configs by label, read as a mapping, and the price they passed.

    Hand it to compare.make_runs (directly or through an executor, which passes the mapping on) and the runs are
    built without being priced again.
    """

    configs: Mapping[Hashable, object]
    estimate: Estimate

    def __getitem__(self, label: Hashable) -> object:
        return self.configs[label]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.configs)

    def __len__(self) -> int:
        return len(self.configs)


def price_runs(configs: Mapping[Hashable, TrainConfig], data: object | None = None,
               together: bool = True) -> PricedRuns:
    """check_runs once, keeping the configs with their price: BudgetExceeded before anything is built."""
    return PricedRuns(dict(configs), check_runs(configs, data, together))


def check_model(name: str, options: ModelOptions, what: str = "this model", batch: int = 1) -> Estimate:
    """Refuse a registry model whose weights (and a forward pass of `batch` images) do not fit the budget."""
    if name not in MODELS:
        raise BudgetExceeded(f"Unknown model '{name}'")
    cost = _model_cost(name, options)
    estimate = Estimate(what, cost.forward_bytes(batch), pass_seconds(cost, batch), batch, cost, cost.param_bytes)
    refuse_over_budget(estimate, "use a smaller model (fewer units or channels)")
    return estimate


def check_model_forward(name: str, options: ModelOptions, batch: int, backward: bool = True,
                        what: str = "this analysis", repeats: int = 1,
                        time_hint: str = "use a smaller batch, fewer schemes or a smaller model") -> Estimate:
    """check_forward for a registry model that is not built yet (priced on the meta device)."""
    model = meta_model(name, options)
    return check_forward(model, options.input_shape(), batch, backward, what, repeats, time_hint)


def max_checkpoint_bytes() -> int:
    """The largest legitimate checkpoint: the weights of the largest model a run may continue training.

    Continuing a checkpoint holds its weights about six times: the uploaded file (which the
    session keeps), the decoded tensors while they are checked, the weights, their gradients and
    Adam's two moment estimates. So a checkpoint above a sixth of the memory budget cannot be
    trained within it; the metadata adds at most 1 MiB. 1024 MiB -> 171.7 MiB.
    """
    return memory_budget_bytes() // 6 + 2**20
