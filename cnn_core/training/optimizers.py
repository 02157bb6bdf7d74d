"""Optimizer and learning-rate schedule registries (all torch.optim underneath)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

from cnn_core.errors import InvalidConfig


@dataclass(frozen=True)
class OptimizerSpec:
    """A registry entry: torch.optim class, default hyper-parameters, explanation and update rule."""

    label: str
    cls: type[torch.optim.Optimizer]
    defaults: dict[str, Any]  # including lr
    explanation: str
    update_rule: str  # LaTeX


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("SGD", torch.optim.SGD, {"lr": 0.05},
                         "Plain stochastic gradient descent: step against the mini-batch gradient.",
                         r"\theta \leftarrow \theta - \eta\, g"),
    "momentum": OptimizerSpec("SGD + momentum", torch.optim.SGD, {"lr": 0.02, "momentum": 0.9},
                              "Accumulates a velocity so steps keep going in consistent directions.",
                              r"v \leftarrow \mu v + g,\quad \theta \leftarrow \theta - \eta v"),
    "nesterov": OptimizerSpec("SGD + Nesterov", torch.optim.SGD, {"lr": 0.02, "momentum": 0.9, "nesterov": True},
                              "Momentum that looks ahead: the gradient step uses the velocity-corrected point.",
                              r"v \leftarrow \mu v + g,\quad \theta \leftarrow \theta - \eta (g + \mu v)"),
    "adagrad": OptimizerSpec("Adagrad", torch.optim.Adagrad, {"lr": 0.01},
                             "Per-parameter rates that shrink with the sum of past squared gradients.",
                             r"s \leftarrow s + g^2,\quad \theta \leftarrow \theta - \eta\, g / (\sqrt{s} + \epsilon)"),
    "rmsprop": OptimizerSpec("RMSprop", torch.optim.RMSprop, {"lr": 0.001, "alpha": 0.99},
                             "Divides by a running average of squared gradients (Adagrad that forgets).",
                             r"s \leftarrow \alpha s + (1-\alpha) g^2,\quad \theta \leftarrow \theta - \eta\, g / (\sqrt{s} + \epsilon)"),
    "adadelta": OptimizerSpec("Adadelta", torch.optim.Adadelta, {"lr": 1.0, "rho": 0.9},
                              "RMSprop whose step size is the running RMS of past updates (lr is a scale).",
                              r"s \leftarrow \rho s + (1-\rho) g^2,\ \Delta = \frac{\sqrt{u+\epsilon}}{\sqrt{s+\epsilon}}\, g,\ "
                              r"u \leftarrow \rho u + (1-\rho)\Delta^2,\ \theta \leftarrow \theta - \eta \Delta"),
    "adam": OptimizerSpec("Adam", torch.optim.Adam, {"lr": 0.001, "betas": (0.9, 0.999)},
                          "Momentum + RMSprop with bias correction: the default choice for most CNNs.",
                          r"m \leftarrow \beta_1 m + (1-\beta_1) g,\ v \leftarrow \beta_2 v + (1-\beta_2) g^2,\ "
                          r"\hat m = \frac{m}{1-\beta_1^t},\ \hat v = \frac{v}{1-\beta_2^t},\ "
                          r"\theta \leftarrow \theta - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)"),
    "adamw": OptimizerSpec("AdamW", torch.optim.AdamW, {"lr": 0.001, "betas": (0.9, 0.999), "weight_decay": 0.01},
                           "Adam with weight decay applied directly to the weights (decoupled), not via the gradient.",
                           r"\hat m, \hat v \text{ as in Adam},\ "
                           r"\theta \leftarrow \theta - \eta\,(\hat m / (\sqrt{\hat v} + \epsilon) + \lambda \theta)"),
    "nadam": OptimizerSpec("NAdam", torch.optim.NAdam, {"lr": 0.002, "betas": (0.9, 0.999)},
                           "Adam with Nesterov momentum and Dozat's warming-up momentum schedule mu_t (what "
                           "torch.optim.NAdam runs): the first step moves about 1.06 lr.",
                           r"\mu_t = \beta_1 \big(1 - \tfrac12\, 0.96^{0.004\, t}\big),\ "
                           r"m \leftarrow \beta_1 m + (1-\beta_1) g,\ v \leftarrow \beta_2 v + (1-\beta_2) g^2,\ "
                           r"\hat v = \frac{v}{1-\beta_2^t},\ "
                           r"\theta \leftarrow \theta - \eta \Big(\frac{(1-\mu_t)\, g}{1-\prod_{i=1}^{t} \mu_i}"
                           r" + \frac{\mu_{t+1}\, m}{1-\prod_{i=1}^{t+1} \mu_i}\Big)"
                           r" \Big/ \big(\sqrt{\hat v} + \epsilon\big)"),
}


_SHORT_NAMES = {"momentum": "μ", "alpha": "α", "rho": "ρ", "betas": "β", "weight_decay": "wd"}  # in labels


@dataclass(frozen=True)
class OptimizerConfig:
    """Which optimizer, its learning rate, weight decay and any other overrides (hashable)."""

    name: str = "adam"
    lr: float | None = None  # None = the registry default
    weight_decay: float = 0.0  # L2 through the optimizer (decoupled for AdamW)
    extra: tuple[tuple[str, Any], ...] = ()  # e.g. (("momentum", 0.95),)

    def label(self) -> str:
        """A compact run label for legends, e.g. 'Adam lr=0.001' or 'SGD + momentum lr=0.02 μ=0.95'."""
        spec = OPTIMIZERS.get(self.name)
        parts = [f"{spec.label if spec else self.name} lr={self.resolved_lr():g}"]
        if self.weight_decay:
            parts.append(f"wd={self.weight_decay:g}")
        for key, value in self.extra:
            values = value if isinstance(value, (tuple, list)) else (value,)
            shown = ",".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in values)
            parts.append(f"{_SHORT_NAMES.get(key, key)}={shown}")
        return " ".join(parts)

    def resolved_lr(self) -> float:
        """The learning rate that will be used."""
        if self.lr is not None:
            return float(self.lr)
        return float(OPTIMIZERS[self.name].defaults["lr"]) if self.name in OPTIMIZERS else 0.0


# Optimizers whose multi-tensor (foreach) kernels give exactly the weights of the per-parameter loop on the
# CPU (tests/test_optimizers.py checks it). NAdam's differs by ~3e-8 (it rounds the momentum-schedule
# product another way), so it keeps torch's default.
FOREACH_BIT_IDENTICAL = (torch.optim.SGD, torch.optim.Adagrad, torch.optim.RMSprop, torch.optim.Adadelta,
                         torch.optim.Adam, torch.optim.AdamW)


def make_optimizer(params: Iterable[torch.nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    """Instantiate a torch.optim optimizer from a config, validating the learning rate."""
    if config.name not in OPTIMIZERS:
        raise InvalidConfig(f"Unknown optimizer '{config.name}'. Choose one of: {', '.join(OPTIMIZERS)}")
    spec = OPTIMIZERS[config.name]
    lr = config.resolved_lr()
    if not (math.isfinite(lr) and 0 < lr <= 100):
        raise InvalidConfig(f"Learning rate must be in (0, 100], got {lr}")
    if not (math.isfinite(config.weight_decay) and 0 <= config.weight_decay <= 1):
        raise InvalidConfig(f"Weight decay must be in [0, 1], got {config.weight_decay}")
    kwargs = {**spec.defaults, **dict(config.extra), "lr": lr}
    if config.weight_decay or "weight_decay" not in spec.defaults:
        kwargs["weight_decay"] = config.weight_decay
    if spec.cls in FOREACH_BIT_IDENTICAL:
        # One multi-tensor kernel per update rule instead of a Python loop over parameters: torch picks it
        # by default on CUDA only; on the CPU it saves ~10 % of a LeNet-5 step and gives bit-identical weights.
        kwargs.setdefault("foreach", True)
    try:
        return spec.cls(params, **kwargs)
    except (TypeError, ValueError) as exc:
        raise InvalidConfig(f"{spec.label} refused these hyper-parameters: {exc}") from exc


@dataclass(frozen=True)
class ScheduleConfig:
    """A learning-rate schedule as a multiplier of the base rate, per optimizer step."""

    name: str = "none"       # none, step, cosine, onecycle, exponential
    warmup_steps: int = 0    # linear warm-up from 0 before the schedule starts
    step_every: int = 100    # 'step': multiply by gamma every this many steps
    gamma: float = 0.5       # 'step' factor; 'exponential' per-step factor is gamma ** (1 / step_every)
    min_factor: float = 0.0  # floor of cosine / one-cycle, as a fraction of the base rate

    def validate(self) -> None:
        """Raise InvalidConfig naming the first value that cannot run."""
        if self.name not in SCHEDULES:
            raise InvalidConfig(f"Unknown schedule '{self.name}'. Choose one of: {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup_steps <= 1_000_000:
            raise InvalidConfig(f"Warm-up steps must be 0 or more, got {self.warmup_steps}")
        if self.step_every < 1:
            raise InvalidConfig(f"Schedule 'every N steps' must be at least 1, got {self.step_every}")
        if not (math.isfinite(self.gamma) and 0 < self.gamma <= 1):
            raise InvalidConfig(f"Schedule gamma must be in (0, 1], got {self.gamma}")
        if not (math.isfinite(self.min_factor) and 0 <= self.min_factor <= 1):
            raise InvalidConfig(f"Schedule floor (min_factor) must be in [0, 1], got {self.min_factor}")


@dataclass(frozen=True)
class ScheduleSpec:
    """A registry entry: multiplier(step, total_steps, config) and an explanation."""

    label: str
    multiplier: Callable[[int, int, ScheduleConfig], float]
    explanation: str


def _cosine(step: int, total: int, c: ScheduleConfig) -> float:
    t = min(step / max(total, 1), 1.0)
    return c.min_factor + (1 - c.min_factor) * 0.5 * (1 + math.cos(math.pi * t))


ONECYCLE_PCT_START = 0.3   # torch's OneCycleLR defaults: rise over 30% of the steps ...
ONECYCLE_DIV_FACTOR = 25.0  # ... from max_lr / 25


def _onecycle_final_div(c: ScheduleConfig) -> float:
    # OneCycleLR ends at max_lr / (div_factor * final_div_factor); a floor of 0 = torch's default 1e4
    return 1.0 / (ONECYCLE_DIV_FACTOR * c.min_factor) if c.min_factor > 0 else 1e4


def _onecycle(step: int, total: int, c: ScheduleConfig) -> float:
    # torch.optim.lr_scheduler.OneCycleLR (cosine, 2 phases) written out as a multiplier of max_lr
    start = 1.0 / ONECYCLE_DIV_FACTOR
    floor = start / _onecycle_final_div(c)
    peak_at = float(ONECYCLE_PCT_START * total) - 1
    end_at = float(total - 1)
    step = min(step, total - 1)  # past the end: stay at the floor
    if step <= peak_at:
        pct, low, high = step / peak_at if peak_at > 0 else 1.0, start, 1.0
    else:
        pct, low, high = (step - peak_at) / (end_at - peak_at), 1.0, floor
    return high + (low - high) / 2.0 * (math.cos(math.pi * pct) + 1)


class _OneCycle(torch.optim.lr_scheduler.OneCycleLR):
    """torch's OneCycleLR (lr only: cycle_momentum off) that stays at its floor when training continues past the end."""

    def get_lr(self) -> list[float]:
        """torch's one-cycle rate, or the current (floor) rate once the planned steps are done."""
        if self.last_epoch >= self.total_steps:
            return [group["lr"] for group in self.optimizer.param_groups]
        return super().get_lr()


SCHEDULES: dict[str, ScheduleSpec] = {
    "none": ScheduleSpec("Constant", lambda s, t, c: 1.0, "The same learning rate throughout."),
    "step": ScheduleSpec("Step decay", lambda s, t, c: c.gamma ** (s // max(c.step_every, 1)),
                         "Multiply the rate by gamma every N steps."),
    "cosine": ScheduleSpec("Cosine annealing", _cosine, "Half a cosine from the base rate down to the floor."),
    "onecycle": ScheduleSpec("One-cycle", _onecycle,
                             "torch's OneCycleLR: rise from lr/25 to the peak over 30% of training, then cosine down "
                             "to the floor (lr/25/10^4 with floor 0)."),
    "exponential": ScheduleSpec("Exponential", lambda s, t, c: c.gamma ** (s / max(c.step_every, 1)),
                                "Shrink the rate smoothly by gamma every N steps."),
}


def lr_factor(step: int, total_steps: int, config: ScheduleConfig) -> float:
    """The multiplier of the base learning rate at an optimizer step (0-based), warm-up included."""
    if config.name not in SCHEDULES:
        raise InvalidConfig(f"Unknown schedule '{config.name}'. Choose one of: {', '.join(SCHEDULES)}")
    if config.warmup_steps > 0 and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    shifted = step - config.warmup_steps
    return SCHEDULES[config.name].multiplier(shifted, max(total_steps - config.warmup_steps, 1), config)


def make_scheduler(optimizer: torch.optim.Optimizer, config: ScheduleConfig,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """A scheduler stepped once per optimizer step: torch's OneCycleLR for 'onecycle', else a LambdaLR of lr_factor."""
    config.validate()
    if config.name == "onecycle" and config.warmup_steps == 0 and total_steps >= 2:
        base = optimizer.param_groups[0]["lr"]
        return _OneCycle(optimizer, max_lr=base, total_steps=total_steps, pct_start=ONECYCLE_PCT_START,
                         anneal_strategy="cos", cycle_momentum=False, div_factor=ONECYCLE_DIV_FACTOR,
                         final_div_factor=_onecycle_final_div(config))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, config))


# ---------------------------------------------------------------- knobs shown next to each optimizer

@dataclass(frozen=True)
class HyperParameter:
    """A tunable hyper-parameter besides lr and weight decay: its symbol, bounds and a one-liner."""

    symbol: str  # the Greek letter used in the update rules
    low: float
    high: float
    explanation: str


HYPERPARAMETERS: dict[str, HyperParameter] = {
    "momentum": HyperParameter("μ", 0.0, 0.999, "How much of the previous velocity is kept each step."),
    "alpha": HyperParameter("α", 0.0, 0.9999, "Decay of the running average of squared gradients."),
    "rho": HyperParameter("ρ", 0.0, 0.9999, "Decay of the running averages of squared gradients and updates."),
    "beta1": HyperParameter("β₁", 0.0, 0.999, "Decay of the running mean of gradients (the momentum)."),
    "beta2": HyperParameter("β₂", 0.0, 0.99999, "Decay of the running mean of squared gradients."),
}


def tunables(name: str) -> dict[str, float]:
    """The optimizer's tunable hyper-parameters (HYPERPARAMETERS keys) with their registry defaults."""
    if name not in OPTIMIZERS:
        raise InvalidConfig(f"Unknown optimizer '{name}'. Choose one of: {', '.join(OPTIMIZERS)}")
    defaults = OPTIMIZERS[name].defaults
    out: dict[str, float] = {}
    for key, value in defaults.items():
        if key == "betas":
            out["beta1"], out["beta2"] = float(value[0]), float(value[1])
        elif key in HYPERPARAMETERS:
            out[key] = float(value)
    return out


def default_weight_decay(name: str) -> float:
    """The weight decay an optimizer uses when none is given (0.01 for AdamW, else 0)."""
    return float(OPTIMIZERS[name].defaults.get("weight_decay", 0.0)) if name in OPTIMIZERS else 0.0


def configure(name: str, lr: float | None = None, weight_decay: float | None = None,
              **hyper: float) -> OptimizerConfig:
    """An OptimizerConfig from plain values (lr None = the registry default, written out).

    `hyper` takes HYPERPARAMETERS keys (beta1/beta2 become torch's `betas`). Values equal to the
    defaults are left out of `extra`: labels stay short and equal settings are equal configs (one
    cache entry).
    """
    defaults = tunables(name)
    unknown = set(hyper) - set(defaults)
    if unknown:
        raise InvalidConfig(f"{OPTIMIZERS[name].label} has no hyper-parameter {', '.join(sorted(unknown))}; "
                            f"it takes {', '.join(defaults) or 'only lr and weight decay'}")
    for key, value in hyper.items():
        spec = HYPERPARAMETERS[key]
        if not (math.isfinite(value) and spec.low <= value <= spec.high):
            raise InvalidConfig(f"{key} must be in [{spec.low:g}, {spec.high:g}], got {value}")
    values = {**defaults, **{k: float(v) for k, v in hyper.items()}}
    extra: list[tuple[str, Any]] = []
    for key in ("momentum", "alpha", "rho"):
        if key in values and values[key] != defaults[key]:
            extra.append((key, values[key]))
    if "beta1" in values and (values["beta1"], values["beta2"]) != (defaults["beta1"], defaults["beta2"]):
        extra.append(("betas", (values["beta1"], values["beta2"])))
    decay = 0.0
    if weight_decay is not None and weight_decay != default_weight_decay(name):
        if weight_decay == 0.0:  # OptimizerConfig's 0.0 means "the registry default": say 0 explicitly
            extra.append(("weight_decay", 0.0))
        else:
            decay = float(weight_decay)
    lr = float(OPTIMIZERS[name].defaults["lr"]) if lr is None else float(lr)
    return OptimizerConfig(name, lr, decay, tuple(extra))


def settings_of(config: OptimizerConfig) -> dict[str, float]:
    """The full settings of a config (lr, weight_decay and every tunable), defaults filled in: configure()'s inverse."""
    if config.name not in OPTIMIZERS:
        raise InvalidConfig(f"Unknown optimizer '{config.name}'. Choose one of: {', '.join(OPTIMIZERS)}")
    extra = dict(config.extra)
    out = {"lr": config.resolved_lr(),
           "weight_decay": float(config.weight_decay or extra.get("weight_decay", default_weight_decay(config.name)))}
    values = tunables(config.name)
    for key in ("momentum", "alpha", "rho"):
        if key in values and key in extra:
            values[key] = float(extra[key])
    if "beta1" in values and "betas" in extra:
        values["beta1"], values["beta2"] = (float(v) for v in extra["betas"])
    return {**out, **values}
