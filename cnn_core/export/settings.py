"""A TrainConfig as the plain values and PyTorch code an exported script needs (no cnn_core at run time)."""
from __future__ import annotations

import functools
import math
import re
from dataclasses import replace

import torch

from cnn_core.data import DATASETS
from cnn_core.errors import ArchitectureError, InvalidConfig
from cnn_core.inspect.codegen import module_code, specs_from_model
from cnn_core.models import ACTIVATIONS, MODELS, build_model
from cnn_core.training.config import TrainConfig
from cnn_core.training.optimizers import FOREACH_BIT_IDENTICAL, OPTIMIZERS, OptimizerConfig

# (channels, height, width) of each dataset's images: known without loading (or downloading) the data
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {"mnist-5k": (1, 28, 28), "mnist": (1, 28, 28),
                                                 "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
TORCHVISION_CLASSES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}

# The torch.nn.init call of each INIT_SCHEMES entry, for one layer `m`; `gain` is the activation's torch name.
INIT_CODE: dict[str, str] = {
    "zeros": "nn.init.zeros_(m.weight)",
    "constant": "nn.init.constant_(m.weight, 0.05)",
    "normal-small": "nn.init.normal_(m.weight, 0.0, 0.01)",
    "normal-large": "nn.init.normal_(m.weight, 0.0, 1.0)",
    "uniform": "nn.init.uniform_(m.weight, -0.05, 0.05)",
    "xavier-uniform": "nn.init.xavier_uniform_(m.weight, gain=1.0)",
    "xavier-normal": "nn.init.xavier_normal_(m.weight, gain=1.0)",
    "xavier-uniform-gain": "nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain(gain))",
    "xavier-normal-gain": "nn.init.xavier_normal_(m.weight, gain=nn.init.calculate_gain(gain))",
    "kaiming-uniform-fan-in": 'nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity=gain)',
    "kaiming-normal-fan-in": 'nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity=gain)',
    "kaiming-normal-fan-out": 'nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity=gain)',
    "kaiming-uniform-fan-out": 'nn.init.kaiming_uniform_(m.weight, mode="fan_out", nonlinearity=gain)',
    "orthogonal": "nn.init.orthogonal_(m.weight, gain=nn.init.calculate_gain(gain))",
}


def check_exportable(config: TrainConfig) -> None:
    """Raise InvalidConfig with a clear message when a config cannot be written as a plain script."""
    config.validate()
    if config.dataset not in IMAGE_SHAPES:
        raise InvalidConfig(f"Dataset '{config.dataset}' cannot be exported: use one of {', '.join(IMAGE_SHAPES)}")
    if config.init != "default" and config.init not in INIT_CODE:
        raise InvalidConfig(f"Init scheme '{config.init}' has no plain-PyTorch export")
    optimizer = config.optimizer
    if optimizer.name not in OPTIMIZERS:
        raise InvalidConfig(f"Unknown optimizer '{optimizer.name}'. Choose one of: {', '.join(OPTIMIZERS)}")
    # make_optimizer's checks, without building an optimizer (the first one imports torch's compiler: seconds)
    if not (math.isfinite(optimizer.resolved_lr()) and 0 < optimizer.resolved_lr() <= 100):
        raise InvalidConfig(f"Learning rate must be in (0, 100], got {optimizer.resolved_lr()}")
    if not (math.isfinite(optimizer.weight_decay) and 0 <= optimizer.weight_decay <= 1):
        raise InvalidConfig(f"Weight decay must be in [0, 1], got {optimizer.weight_decay}")
    config.schedule.validate()


def init_gain(config: TrainConfig) -> str:
    """The nonlinearity name torch.nn.init uses for the config's activation (as build_initialized_model does)."""
    activation = config.model_options.activation or ("tanh" if config.model in ("lenet5-classic", "lenet5-1998")
                                                     else "relu")
    if activation in ACTIVATIONS:
        return ACTIVATIONS[activation].init_gain_name
    return "linear" if activation == "linear" else "relu"


def optimizer_call(config: OptimizerConfig) -> tuple[str, dict]:
    """(torch.optim class name, keyword arguments) exactly as cnn_core's make_optimizer builds them."""
    spec = OPTIMIZERS[config.name]
    kwargs = {**spec.defaults, **dict(config.extra), "lr": config.resolved_lr()}
    if config.weight_decay or "weight_decay" not in spec.defaults:
        kwargs["weight_decay"] = config.weight_decay
    if spec.cls in FOREACH_BIT_IDENTICAL:
        kwargs.setdefault("foreach", True)  # multi-tensor kernel: bit-identical to the loop on the CPU, faster
    return spec.cls.__name__, kwargs


@functools.lru_cache(maxsize=64)
def model_class_code(config: TrainConfig, class_name: str = "Net") -> str:
    """The config's model as an nn.Module class (the Architecture page's code generator), imports left out.

    The layers are created in the order cnn_core creates them, so the same seed gives the same weights.
    """
    shape = IMAGE_SHAPES[config.dataset]
    options = replace(config.model_options, in_channels=shape[0], image_size=shape[1],
                      num_classes=len(DATASETS[config.dataset].class_names))
    try:
        if config.model == "custom" and options.layers:
            specs = options.layers
        else:
            with torch.random.fork_rng(devices=[]):  # building draws random weights: keep the caller's stream
                specs = specs_from_model(build_model(config.model, options), shape)
        code = module_code(specs, shape, class_name)
    except ArchitectureError as exc:
        raise InvalidConfig(f"{MODELS[config.model].label} cannot be exported as plain PyTorch layers ({exc}); "
                            "export LeNet-5, an MLP or a network from the Architecture page instead") from exc
    body = code.split("\n\n\n", 1)[1]  # drop the imports: the script has its own
    # reshape, not view: the CPU trains in channels_last layout (see use_channels_last), where view cannot flatten
    return re.sub(r"x = x\.view\((-1, [^)]*)\)( *)",
                  lambda m: f"x = x.reshape({m[1]}){m[2][3:] if len(m[2]) > 4 else '  '}", body)


def run_settings(config: TrainConfig, class_name: str) -> dict:
    """The plain values of one run, as the exported script's RUNS entry holds them."""
    name, kwargs = optimizer_call(config.optimizer)
    reg, schedule, augment = config.regularization, config.schedule, config.regularization.augment
    return {
        "seed": config.seed, "dataset": config.dataset, "per_class": config.per_class, "model": class_name,
        "init": config.init, "init_gain": init_gain(config),
        "loss": config.loss, "label_smoothing": reg.label_smoothing, "l1": reg.l1, "l2_penalty": reg.l2_penalty,
        "optimizer": name, "optimizer_kwargs": kwargs,
        "schedule": {"name": schedule.name, "warmup_steps": schedule.warmup_steps, "step_every": schedule.step_every,
                     "gamma": schedule.gamma, "min_factor": schedule.min_factor},
        "batch_size": config.batch_size, "epochs": config.epochs, "max_grad_norm": config.max_grad_norm,
        "early_stopping_patience": reg.early_stopping_patience,
        "augment": ({"shift": augment.shift, "rotate": augment.rotate, "hflip": augment.hflip,
                     "min_scale": augment.min_scale} if augment.enabled() else None),
        "divergence_loss": config.divergence_loss, "divergence_factor": config.divergence_factor,
    }


def settings_literal(settings: dict, indent: str = "    ") -> str:
    """A run's settings as a readable dict(...) literal (the model as a class name, not a string)."""
    lines = ["dict("]
    for key, value in settings.items():
        text = value if key == "model" else repr(value)
        lines.append(f"{indent}    {key}={text},")
    lines.append(f"{indent})")
    return "\n".join(lines)
