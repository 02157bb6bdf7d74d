"""The lecture's "issues with ANNs", measured: parameter growth with image size, and shifted digits.

Parameter counts come from real PyTorch modules built on the 'meta' device (shapes only, no
memory), so a 1024 x 1024 RGB fully-connected layer can be counted without allocating it.
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd
import torch
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.inspect.hooks import eval_mode
from cnn_core.training import TrainConfig, evaluate

DIRECTIONS: dict[str, tuple[int, int]] = {"right": (0, 1), "down": (1, 0), "diagonal": (1, 1)}  # (rows, cols)
SHIFT_MODES = {
    "pad": "move the digit and fill the uncovered border with background (nothing wraps around)",
    "roll": "torch.roll: what leaves one side comes back on the other",
}


def count_params(module: nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def fc_vs_conv_params(sizes: Iterable[int], channels: Iterable[int] = (1, 3), hidden: int = 256,
                      filters: int = 16, kernel: int = 3) -> pd.DataFrame:
    """Parameters of a first fully-connected layer vs a first conv layer on size x size images.

    FC: nn.Linear(C*H*W, hidden) -- every hidden unit has a weight per input pixel, so it grows
    with the image. Conv: nn.Conv2d(C, filters, kernel) -- the same small kernels slide over every
    position (weight sharing), so it does not depend on the image size. Returns a tidy frame
    (size, channels, layer, params, inputs).
    """
    if not 1 <= hidden <= 100_000 or not 1 <= filters <= 4096 or not 1 <= kernel <= 31:
        raise InvalidConfig("hidden units must be 1..100000, filters 1..4096, kernel 1..31")
    rows = []
    for c in channels:
        conv = count_params(nn.Conv2d(c, filters, kernel, device="meta"))
        for s in sizes:
            if not 1 <= s <= 8192:
                raise InvalidConfig("Image sizes must be 1..8192 pixels")
            fc = count_params(nn.Linear(c * s * s, hidden, device="meta"))
            color = "RGB" if c == 3 else ("grayscale" if c == 1 else f"{c} channels")
            rows.append({"size": s, "channels": c, "color": color, "layer": f"fully-connected, {hidden} units",
                         "params": fc, "inputs": c * s * s})
            rows.append({"size": s, "channels": c, "color": color,
                         "layer": f"conv {kernel}x{kernel}, {filters} filters", "params": conv, "inputs": c * s * s})
    return pd.DataFrame(rows)


def shift_images(images: torch.Tensor, shift: int, direction: str = "right", mode: str = "pad",
                 fill: float = 0.0) -> torch.Tensor:
    """Translate N x C x H x W images by `shift` pixels (right / down / diagonal).

    mode 'pad': the content moves, the uncovered rows/columns get `fill` (use the normalized
    background value), what moves out is lost. mode 'roll': torch.roll, content wraps around.
    """
    if direction not in DIRECTIONS:
        raise InvalidConfig(f"Direction must be one of {', '.join(DIRECTIONS)}")
    if mode not in SHIFT_MODES:
        raise InvalidConfig(f"Shift mode must be one of {', '.join(SHIFT_MODES)}")
    height, width = images.shape[-2:]
    if not 0 <= shift < min(height, width):
        raise InvalidConfig(f"Shift must be 0..{min(height, width) - 1} pixels for {height}x{width} images")
    dy, dx = (shift * d for d in DIRECTIONS[direction])
    if mode == "roll":
        return torch.roll(images, shifts=(dy, dx), dims=(-2, -1))
    out = torch.full_like(images, fill)
    out[..., dy:, dx:] = images[..., :height - dy, :width - dx]
    return out


def translation_accuracy(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor,
                         shifts: Iterable[int], direction: str = "right", mode: str = "pad",
                         fill: float = 0.0) -> pd.DataFrame:
    """Accuracy of each model on the images shifted by each amount: tidy (model, shift, accuracy)."""
    rows = []
    for shift in shifts:
        moved = shift_images(images, shift, direction, mode, fill)
        for name, model in models.items():
            _, accuracy = evaluate(model, moved, labels)
            rows.append({"model": name, "shift": int(shift), "accuracy": accuracy})
    return pd.DataFrame(rows)


def translation_experiment(configs: dict[str, TrainConfig] | None = None, shifts: Iterable[int] = range(0, 9),
                           direction: str = "right", mode: str = "pad") -> tuple[pd.DataFrame, dict[str, dict]]:
    """Train (or load from the disk cache) each config's model and measure test accuracy vs shift.

    Default configs: the MLP and LeNet-5 of cnn_core.training.pretrained (mnist-5k). The test split of the
    configs' dataset is shifted; the fill is the normalized value of a black pixel. Returns the
    tidy frame and each model's training metrics.
    """
    from cnn_core.data import load_dataset
    from cnn_core.training.pretrained import LENET5_MNIST, MLP_MNIST, trained_model

    configs = configs or {"MLP": MLP_MNIST, "LeNet-5": LENET5_MNIST}
    datasets = {(c.dataset, c.per_class) for c in configs.values()}
    if len({name for name, _ in datasets}) != 1:
        raise InvalidConfig("All models of the translation experiment must use the same dataset")
    dataset_name = next(iter(datasets))[0]
    data = load_dataset(dataset_name)
    models, metrics = {}, {}
    for label, config in configs.items():
        models[label], metrics[label] = trained_model(config)
    background = (0.0 - data.mean[0]) / data.std[0]  # a black pixel after normalization
    frame = translation_accuracy(models, data.test_x, data.test_y, shifts, direction, mode, background)
    return frame, metrics


@torch.no_grad()
def predict_shifted(models: dict[str, nn.Module], image: torch.Tensor, shift: int, direction: str = "right",
                    mode: str = "pad", fill: float = 0.0) -> tuple[torch.Tensor, pd.DataFrame]:
    """Shift one C x H x W image and ask each model: returns (shifted image, frame model/prediction/confidence)."""
    moved = shift_images(image[None], shift, direction, mode, fill)  # 1 x C x H x W
    rows = []
    for name, model in models.items():
        with eval_mode(model):
            probs = torch.softmax(model(moved), dim=1)[0]  # K
        rows.append({"model": name, "prediction": int(probs.argmax()), "confidence": float(probs.max())})
    return moved[0], pd.DataFrame(rows)


def size_range(low: int, high: int, points: int = 24) -> list[int]:
    """About `points` image sizes spaced evenly on a log scale from low to high, both ends included."""
    if not 1 <= low <= high:
        raise InvalidConfig(f"Need 1 <= low <= high, got {low} and {high}")
    if low == high:
        return [low]
    ratio = high / low
    return sorted({round(low * ratio ** (i / (points - 1))) for i in range(points)} | {low, high})


def first_layer_params(growth: pd.DataFrame, size: int, channels: int = 3) -> tuple[int, int]:
    """(fully-connected, conv) parameter counts of a fc_vs_conv_params frame at one image size and channel count."""
    rows = growth[(growth["size"] == size) & (growth["channels"] == channels)]
    fc = rows["layer"].str.startswith("fully-connected")
    if fc.sum() != 1 or (~fc).sum() != 1:
        raise InvalidConfig(f"No parameter counts for {channels} x {size} x {size} images")
    return int(rows.loc[fc, "params"].iloc[0]), int(rows.loc[~fc, "params"].iloc[0])


def accuracy_change(frame: pd.DataFrame, shift: int) -> dict[str, tuple[float, float]]:
    """Per model of a translation_experiment frame: (accuracy at `shift`, change from shift 0)."""
    wide = frame.pivot(index="shift", columns="model", values="accuracy")
    return {model: (float(wide.loc[shift, model]), float(wide.loc[shift, model] - wide.loc[0, model]))
            for model in wide.columns}
