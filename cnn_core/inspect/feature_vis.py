"""Feature visualization by activation maximization: what input makes one channel of a conv layer fire?

Start from faint seeded noise and climb the gradient of the channel's mean activation with respect
to the *input* (Erhan et al. 2009; Olah et al. 2017, "Feature Visualization"). Left alone, gradient
ascent finds high-frequency patterns that mean nothing to a person, so every step shifts the image by
a random jitter of a few pixels and every few steps blurs it a little (both are regularizers: a
pattern must survive small shifts and smoothing). Pixels stay in the valid range of the network's
input. The weights are never touched: gradients go to the image only, hooks are removed in `finally`,
and the pass runs under the model's lock.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.inspect.feature_maps import model_lock
from cnn_core.inspect.receptive_field import conv_layer_names


@dataclass(frozen=True)
class FeatureVisConfig:
    """How to optimize the inputs (hashable: a cache key together with model, layer, channel and seed)."""

    steps: int = 64             # gradient-ascent steps
    lr: float = 0.08            # Adam step size, in normalized input units
    jitter: int = 2             # random shift of up to this many pixels per step (0 = off)
    blur_every: int = 4         # blur the image every this many steps (0 = off)
    blur_sigma: float = 0.6     # Gaussian blur width in pixels
    size: int | None = None     # input side (None: the model's own input size); smaller = faster for big models
    seed: int = 0

    def validate(self) -> None:
        """InvalidConfig for settings outside the bounds the page offers."""
        if not 1 <= self.steps <= 1000 or not 0 < self.lr <= 1 or not 0 <= self.jitter <= 16:
            raise InvalidConfig("Feature visualization needs 1..1000 steps, a step size in (0, 1] and jitter 0..16 px")
        if self.blur_every < 0 or not 0 < self.blur_sigma <= 5 or (self.size is not None and not 8 <= self.size <= 512):
            raise InvalidConfig("Blur every >= 0 steps with sigma in (0, 5]; an input side of 8..512 px")


@dataclass(frozen=True)
class ChannelPicture:
    """The optimized input for one channel and how strongly the channel fires on it."""

    layer: str
    channel: int
    image: np.ndarray        # H x W x 3 uint8, contrast-stretched for display
    activation: float        # the channel's mean activation on the optimized input
    start_activation: float  # ... and on the starting noise


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, int(round(2 * sigma)))
    xs = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-xs ** 2 / (2 * sigma ** 2))
    return k / k.sum()  # 2r+1


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of N x C x H x W, channel by channel (reflect padding)."""
    k = _gaussian_kernel(sigma)
    c, r = x.shape[1], len(k) // 2
    horizontal = k.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    vertical = k.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), horizontal, groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), vertical, groups=c)


class _Reached(Exception):
    """Raised by a hook to stop the forward pass at the target layer (nothing after it is needed)."""


def _layer_output(model: nn.Module, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    outputs: list[torch.Tensor] = []

    def hook(_m: nn.Module, _i: tuple, out: torch.Tensor) -> None:
        outputs.append(out)
        raise _Reached

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    if not outputs:
        raise InvalidConfig("The chosen layer is not used in the forward pass")
    return outputs[0]  # N x K x h x w


def _display(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """C x H x W normalized input -> H x W x 3 uint8, stretched between the 1st and 99th percentile."""
    pixels = x * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)  # back to [0, 1]
    pixels = pixels.permute(1, 2, 0).numpy()
    lo, hi = np.percentile(pixels, 1), np.percentile(pixels, 99)
    unit = np.clip((pixels - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    if unit.shape[2] == 1:
        unit = np.repeat(unit, 3, axis=2)
    return np.round(unit * 255).astype(np.uint8)


def visualize_channels(model: nn.Module, layer: str, channels: list[int], input_shape: tuple[int, int, int],
                       mean: tuple[float, ...], std: tuple[float, ...],
                       config: FeatureVisConfig = FeatureVisConfig()) -> list[ChannelPicture]:
    """Optimize one input per channel (all in one batch) so that the channel's mean activation grows.

    Each channel's start noise is seeded by (config.seed, channel) and the jitter sequence by config.seed,
    so a channel's picture does not depend on which other channels are optimized with it.
    `input_shape` is C x H x W of the model; `mean` / `std` its per-channel input normalization.
    """
    config.validate()
    if layer not in conv_layer_names(model):  # also: InvalidConfig for a model without conv layers
        raise InvalidConfig(f"'{layer}' is not a convolution layer of this model")
    if any(m.training for m in model.modules()):
        raise InvalidConfig("Put the model in eval mode first (dropout and batch statistics change the result)")
    module = model.get_submodule(layer)
    if not channels or any(not 0 <= c < module.out_channels for c in channels):
        raise InvalidConfig(f"Channels must be in 0..{module.out_channels - 1}, got {channels}")
    c_in, side = input_shape[0], config.size or input_shape[-1]
    mean_t, std_t = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    low, high = (0 - mean_t) / std_t, (1 - mean_t) / std_t               # the valid range in normalized units
    starts = []
    for channel in channels:
        g = torch.Generator().manual_seed(config.seed * 100_003 + channel)
        starts.append(0.5 + 0.05 * torch.randn(1, c_in, side, side, generator=g))   # mid-gray + faint noise
    x = ((torch.cat(starts) - mean_t) / std_t).requires_grad_(True)    # N x C x side x side
    index = torch.tensor(channels)
    jitter = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam([x], lr=config.lr)

    def objective(image: torch.Tensor) -> torch.Tensor:
        out = _layer_output(model, module, image)                        # N x K x h x w
        return out[torch.arange(len(channels)), index].mean(dim=(1, 2))  # N

    with model_lock(model), torch.enable_grad():
        with torch.no_grad():
            before = objective(x.detach())
        for step in range(config.steps):
            shifted = x
            if config.jitter:
                dy, dx = (int(v) for v in torch.randint(-config.jitter, config.jitter + 1, (2,), generator=jitter))
                shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            loss = -objective(shifted).sum()
            (grad,) = torch.autograd.grad(loss, x)  # only the image gets a gradient: no parameter .grad is written
            x.grad = grad
            optimizer.step()
            with torch.no_grad():
                if config.blur_every and (step + 1) % config.blur_every == 0:
                    x.copy_(_blur(x, config.blur_sigma))
                x.copy_(torch.maximum(torch.minimum(x, high), low))
        with torch.no_grad():
            after = objective(x.detach())
    final = x.detach()
    return [ChannelPicture(layer, int(c), _display(final[i], mean, std), float(after[i]), float(before[i]))
            for i, c in enumerate(channels)]
