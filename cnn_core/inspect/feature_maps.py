"""What every layer of a CNN does with one image: feature maps, their statistics, and pictures of them.

Models passed here may be shared between sessions (a Streamlit resource cache): this module never
changes their weights, flags or train/eval mode, and runs every forward pass that uses hooks under a
per-model lock, because a hook registered by one caller would also fire for another caller's pass.
"""
from __future__ import annotations

import io
import math
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.inspect.hooks import capture_forward
from cnn_core.models.cost import check_forward

MAX_MAP_SIDE = 64   # feature maps are stored downsampled (area average) to at most this many pixels a side
GRID_WIDTH = 760    # default width of a tile grid in pixels: fits the page's main column
GROUPS = ("conv", "activation", "pool", "norm", "linear", "block", "other")
_SKIPPED = (nn.Identity, nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d, nn.Dropout,
            nn.Dropout2d, nn.AlphaDropout, nn.Flatten, nn.Unflatten)
_SKIPPED_NAMES = ("Identity", "ZeroPad2d", "Dropout", "Flatten")  # same-named helpers of other packages
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)

_locks: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock that serializes hooked forward passes on one (possibly shared) model."""
    with _locks_guard:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.RLock()
        return lock


def layer_group(module: nn.Module) -> str:
    """conv / activation / pool / norm / linear / block / other: what kind of layer a module is."""
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                           nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        return "pool"
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
        return "norm"
    if type(module).__module__ == "torch.nn.modules.activation" or "swish" in type(module).__name__.lower():
        return "activation"
    if list(module.children()):
        return "block"
    return "other"


def visual_layers(model: nn.Module) -> list[str]:
    """Names of the modules whose outputs are worth showing, in registration order.

    Every leaf layer except identity, padding, dropout and flatten; layers with helper children
    (a Conv2d subclass that owns its padding module); and blocks that are not plain containers
    (residual and MBConv blocks: their output includes the skip connection that no leaf shows).
    """
    names = []
    for name, module in model.named_modules():
        if not name or isinstance(module, (*_SKIPPED, *_CONTAINERS)) or type(module).__name__ in _SKIPPED_NAMES:
            continue
        names.append(name)
    return names


@dataclass(frozen=True)
class LayerActivation:
    """One layer's output for one image: statistics at full resolution, maps downsampled for display."""

    key: str                  # module name; '#2', '#3' for a module's later calls (a module used twice)
    name: str                 # the module's qualified name
    kind: str                 # the module's class name
    group: str                # see GROUPS
    note: str                 # e.g. "depthwise: groups = 96"
    shape: tuple[int, ...]    # output shape of one image: C x H x W, or F for vectors
    maps: np.ndarray          # float16, C x h x w (h, w <= MAX_MAP_SIDE); vectors: F x 1 x 1
    strength: np.ndarray      # float32, C: mean |activation| of each channel at full resolution
    order: np.ndarray         # int64, C: channel indices, strongest first
    mean: float
    std: float
    zero_fraction: float      # fraction of exact zeros (what ReLU does)
    min: float
    max: float

    @property
    def has_maps(self) -> bool:
        """True for C x H x W outputs with more than one pixel per map."""
        return len(self.shape) == 3 and self.shape[1] * self.shape[2] > 1

    @property
    def label(self) -> str:
        """A one-line description for selectboxes."""
        shape = " x ".join(str(v) for v in self.shape)
        return f"{self.key} · {self.kind}" + (f" ({self.note})" if self.note else "") + f" → {shape}"


@dataclass(frozen=True)
class Analysis:
    """Everything one forward pass revealed: every layer's activations and the class probabilities."""

    layers: tuple[LayerActivation, ...]
    probabilities: np.ndarray       # float32, num_classes (softmax of the output)
    class_names: tuple[str, ...]
    seconds: float                  # time of the hooked forward pass plus the statistics

    def layer(self, key: str) -> LayerActivation:
        """The layer with this key (KeyError naming the available ones otherwise)."""
        for layer in self.layers:
            if layer.key == key:
                return layer
        raise KeyError(f"No layer '{key}'; layers: {', '.join(l.key for l in self.layers)}")

    def keys(self, group: str | None = None, maps_only: bool = False) -> list[str]:
        """Layer keys in execution order, optionally of one group and only layers with spatial maps."""
        return [l.key for l in self.layers if (group in (None, "all") or l.group == group)
                and (l.has_maps or not maps_only)]

    def top(self, k: int = 5) -> pd.DataFrame:
        """The k most probable classes: rank, class, index, probability."""
        k = min(k, len(self.probabilities))
        idx = np.argsort(-self.probabilities, kind="stable")[:k]
        return pd.DataFrame({"rank": np.arange(1, k + 1), "class": [self.class_name(int(i)) for i in idx],
                             "index": idx.astype(int), "probability": self.probabilities[idx].astype(float)})

    def class_name(self, index: int) -> str:
        """The name of class `index` (its number when the model has no names)."""
        return self.class_names[index] if index < len(self.class_names) else str(index)

    @property
    def predicted(self) -> int:
        """Index of the most probable class."""
        return int(np.argmax(self.probabilities))


def _note(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        if module.groups > 1 and module.groups == module.in_channels:
            return f"depthwise: groups = {module.groups}"
        if module.groups > 1:
            return f"groups = {module.groups}"
        if tuple(module.kernel_size) == (1, 1):
            return "pointwise 1x1"
    return ""


def downsample(maps: torch.Tensor, max_side: int = MAX_MAP_SIDE) -> torch.Tensor:
    """C x H x W -> C x h x w with max(h, w) <= max_side: average over k x k blocks (k an integer, aspect kept)."""
    h, w = maps.shape[1:]
    if max(h, w) <= max_side:
        return maps
    k = math.ceil(max(h, w) / max_side)
    return F.avg_pool2d(maps.unsqueeze(0), k, stride=k, ceil_mode=True)[0]


def _summarize(key: str, name: str, module: nn.Module, out: torch.Tensor, max_side: int) -> LayerActivation:
    # Statistics in NumPy (single-threaded loops): ~10 tiny OpenMP regions per layer in torch cost far more
    # than the arithmetic when the 2 cores are shared with other sessions.
    a = out.float().contiguous().numpy()
    if a.ndim == 3:              # C x H x W
        strength = np.abs(a).reshape(a.shape[0], -1).mean(axis=1)
        maps = downsample(out.float(), max_side).numpy()
    elif a.ndim == 1:            # F (a vector, e.g. a Linear layer)
        strength, maps = np.abs(a), a.reshape(-1, 1, 1)
    else:                        # anything else: statistics only
        strength, maps = np.abs(a).reshape(1, -1).mean(axis=1), np.zeros((1, 1, 1), np.float32)
    flat = a.reshape(-1)
    lo, hi = float(flat.min()), float(flat.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):  # inf/NaN somewhere: statistics of the finite values
        flat = flat[np.isfinite(flat)]
        lo, hi = (float(flat.min()), float(flat.max())) if flat.size else (math.nan, math.nan)
    n = flat.size
    mean = float(flat.sum(dtype=np.float64)) / n if n else math.nan
    var = max(float(np.dot(flat, flat)) / n - mean * mean, 0.0) * n / (n - 1) if n > 1 else 0.0
    zeros = (a.size - int(np.count_nonzero(a))) / a.size
    order = np.argsort(-strength, kind="stable")
    return LayerActivation(key, name, type(module).__name__, layer_group(module), _note(module), tuple(out.shape),
                           np.clip(maps, -6e4, 6e4).astype(np.float16), strength.astype(np.float32),
                           order.astype(np.int64), mean, math.sqrt(var) if n else math.nan, zeros, lo, hi)


def analyze(model: nn.Module, x: torch.Tensor, class_names: tuple[str, ...] = (), names: list[str] | None = None,
            max_side: int = MAX_MAP_SIDE) -> Analysis:
    """Run one image (1 x C x H x W) through the model and record every visual layer's output.

    The model is not modified: hooks are removed afterwards, a model already in eval mode is never
    switched (one in train mode is evaluated in eval mode and switched back), and concurrent
    callers of the same model wait for each other.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise InvalidConfig(f"analyze() takes one image as a 1 x C x H x W tensor, got {tuple(x.shape)}")
    names = visual_layers(model) if names is None else names
    start = time.perf_counter()
    with model_lock(model):
        check_forward(model, tuple(x.shape[1:]), what="analysing this image")  # BudgetExceeded before any work
        training = any(m.training for m in model.modules())
        inplace = any(getattr(m, "inplace", False) for m in model.modules())
        with capture_forward(model, names, eval_mode=training, clone_outputs=inplace) as calls, torch.no_grad():
            logits = model(x)
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise InvalidConfig(f"The model's output has shape {tuple(logits.shape)}, not 1 x classes")
    seen: dict[str, int] = {}
    layers = []
    for call in calls:
        seen[call.name] = seen.get(call.name, 0) + 1
        key = call.name if seen[call.name] == 1 else f"{call.name}#{seen[call.name]}"
        layers.append(_summarize(key, call.name, call.module, call.output[0], max_side))
    probabilities = torch.softmax(logits[0].float(), dim=0).numpy().astype(np.float32)
    return Analysis(tuple(layers), probabilities, tuple(class_names), time.perf_counter() - start)


def stats_frame(analysis: Analysis) -> pd.DataFrame:
    """Per-layer statistics in execution order: layer, type, group, output_shape, mean, std, zero_fraction, min, max."""
    return pd.DataFrame([{
        "layer": l.key, "type": l.kind + (f" ({l.note})" if l.note else ""), "group": l.group,
        "output_shape": "x".join(str(v) for v in l.shape), "mean": l.mean, "std": l.std,
        "zero_fraction": l.zero_fraction, "min": l.min, "max": l.max,
    } for l in analysis.layers], columns=["layer", "type", "group", "output_shape", "mean", "std", "zero_fraction",
                                          "min", "max"])


def default_layer(analysis: Analysis, for_cam: bool = False) -> str:
    """A sensible layer to show first: the first conv layer's maps, or (for Grad-CAM) the last spatial layer."""
    spatial = [l for l in analysis.layers if l.has_maps and l.group != "linear"]
    if not spatial:
        raise InvalidConfig("This model has no layer with spatial feature maps (is it a fully-connected network?)")
    if for_cam:
        deep = [l for l in spatial if min(l.shape[1:]) >= 2 and l.group in ("activation", "block", "conv", "pool")]
        return (deep or spatial)[-1].key
    convs = [l for l in spatial if l.group == "activation"] or spatial
    return convs[0].key


# ------------------------------------------------------------------ pictures

def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def colorize(values: np.ndarray, lo: float, hi: float, cmap: str = "viridis") -> np.ndarray:
    """Map an array of values to RGB uint8 (same shape + 3) with a matplotlib colormap over [lo, hi]."""
    from matplotlib import colormaps

    span = hi - lo if hi > lo else 1.0
    unit = np.clip((np.asarray(values, dtype=np.float32) - lo) / span, 0.0, 1.0)
    if hi <= lo:
        unit = np.full_like(unit, 0.5)
    lut = (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)  # 256 x 3
    return lut[np.round(unit * 255).astype(np.int64)]


def map_range(layer: LayerActivation, channels: list[int] | None = None,
              scale: str = "shared") -> list[tuple[float, float]]:
    """The (lo, hi) colour range of each shown channel: one range for the layer, or each map's own."""
    channels = list(range(layer.shape[0])) if channels is None else channels
    if scale == "shared":
        return [(layer.min, layer.max)] * len(channels)
    if scale != "per-map":
        raise InvalidConfig(f"scale must be 'shared' or 'per-map', got '{scale}'")
    maps = layer.maps.astype(np.float32)
    return [(float(maps[c].min()), float(maps[c].max())) for c in channels]


def tile_grid(tiles: list[np.ndarray], labels: list[str] | None = None, tile: int | None = None,
              columns: int | None = None, pad: int = 4,
              background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Arrange RGB uint8 tiles (h x w x 3) in a grid, each enlarged (nearest) to `tile` px, labels under them.

    Without `tile`, tiles are as large as fits GRID_WIDTH (24 to 128 px); without `columns`, the grid is square.
    """
    if not tiles:
        raise InvalidConfig("Nothing to draw: no channels selected")
    columns = columns or min(len(tiles), max(1, math.ceil(math.sqrt(len(tiles)))))
    tile = tile or int(np.clip((GRID_WIDTH - pad) // columns - pad, 24, 128))
    rows = math.ceil(len(tiles) / columns)
    label_h = 16 if labels else 0
    cell_w, cell_h = tile + pad, tile + pad + label_h
    canvas = Image.new("RGB", (columns * cell_w + pad, rows * cell_h + pad), background)
    draw = ImageDraw.Draw(canvas)
    font = _font(12)
    for i, pixels in enumerate(tiles):
        h, w = pixels.shape[:2]
        scale = tile / max(h, w)
        image = Image.fromarray(pixels).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.NEAREST)
        x, y = pad + (i % columns) * cell_w, pad + (i // columns) * cell_h
        canvas.paste(image, (x + (tile - image.width) // 2, y + (tile - image.height) // 2))
        if labels:
            draw.text((x + tile / 2, y + tile + 2), labels[i], fill=(40, 40, 40), font=font, anchor="mt")
    return canvas


def feature_grid(layer: LayerActivation, channels: list[int] | None = None, scale: str = "shared",
                 cmap: str = "viridis", tile: int | None = None, columns: int | None = None) -> Image.Image:
    """A layer's feature maps as one picture: the given channels (default: all, strongest first), labelled."""
    if not layer.has_maps:
        raise InvalidConfig(f"{layer.key} has no spatial feature maps (output {layer.shape})")
    channels = [int(c) for c in (layer.order if channels is None else channels)]
    ranges = map_range(layer, channels, scale)
    tiles = [colorize(layer.maps[c].astype(np.float32), lo, hi, cmap) for c, (lo, hi) in zip(channels, ranges)]
    return tile_grid(tiles, [f"ch {c}" for c in channels], tile=tile, columns=columns)


def strongest_channels(layer: LayerActivation, count: int) -> list[int]:
    """The `count` channels with the largest mean |activation|, strongest first."""
    return [int(c) for c in layer.order[:max(1, count)]]


def channel_image(layer: LayerActivation, channel: int, size: int = 320, scale: str = "shared",
                  cmap: str = "viridis") -> Image.Image:
    """One channel's map enlarged to about `size` px (nearest neighbour: each square is one activation)."""
    if not 0 <= channel < layer.shape[0]:
        raise InvalidConfig(f"{layer.key} has channels 0..{layer.shape[0] - 1}, not {channel}")
    lo, hi = map_range(layer, [channel], scale)[0]
    pixels = colorize(layer.maps[channel].astype(np.float32), lo, hi, cmap)
    h, w = pixels.shape[:2]
    factor = max(1, round(size / max(h, w)))
    return Image.fromarray(pixels).resize((w * factor, h * factor), Image.NEAREST)


def overview_tiles(analysis: Analysis, keys: list[str], cmap: str = "viridis") -> list[tuple[Image.Image, str]]:
    """The strongest channel of each listed layer (own colour scale), with a caption naming layer and channel."""
    out = []
    for key in keys:
        layer = analysis.layer(key)
        if not layer.has_maps:
            continue
        channel = int(layer.order[0])
        out.append((channel_image(layer, channel, size=96, scale="per-map", cmap=cmap),
                    f"{key} · ch {channel} · {layer.shape[1]}x{layer.shape[2]}"))
    return out


def png_bytes(image: Image.Image) -> bytes:
    """The image encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


# ------------------------------------------------------------------ filters (weights, not activations)

def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every Conv2d (including subclasses) with its qualified name, in registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def _weights(conv: nn.Conv2d) -> np.ndarray:
    return conv.weight.detach().float().cpu().numpy()  # out x in/groups x kh x kw (a copy: read-only use)


def first_layer_filters(conv: nn.Conv2d, max_filters: int = 64, scale: str = "shared",
                        tile: int | None = None) -> Image.Image:
    """The first layer's kernels as tiles: RGB when they see 3 input channels, grayscale otherwise.

    shared: one symmetric scale for the layer (gray / mid-colour = 0); per-map: each kernel min-max.
    """
    w = _weights(conv)[:max_filters]
    tiles = []
    bound = float(np.abs(w).max()) or 1.0
    for k in w:  # in x kh x kw
        if scale == "shared":
            unit = 0.5 + k / (2 * bound)
        else:
            span = float(k.max() - k.min()) or 1.0
            unit = (k - k.min()) / span
        pixels = np.round(np.clip(unit, 0, 1) * 255).astype(np.uint8)
        if k.shape[0] == 3:
            tiles.append(pixels.transpose(1, 2, 0))
        else:
            tiles.append(np.repeat(pixels[0][:, :, None], 3, axis=2))
    return tile_grid(tiles, [f"{i}" for i in range(len(tiles))], tile=tile,
                     columns=min(16, len(tiles)))


def kernel_slices(conv: nn.Conv2d, out_channel: int, max_inputs: int = 64, tile: int | None = None,
                  cmap: str = "RdBu_r") -> Image.Image:
    """One output channel's kernel, one tile per input channel it sees (red positive, blue negative)."""
    w = _weights(conv)
    if not 0 <= out_channel < w.shape[0]:
        raise InvalidConfig(f"This layer has output channels 0..{w.shape[0] - 1}, not {out_channel}")
    kernel = w[out_channel][:max_inputs]  # in/groups x kh x kw
    bound = float(np.abs(kernel).max()) or 1.0
    per_group = conv.in_channels // conv.groups
    first_input = (out_channel // (conv.out_channels // conv.groups)) * per_group
    tiles = [colorize(k, -bound, bound, cmap) for k in kernel]
    return tile_grid(tiles, [f"in {first_input + j}" for j in range(len(tiles))], tile=tile,
                     columns=min(16, len(tiles)))


def depthwise_filters(conv: nn.Conv2d, max_filters: int = 64, tile: int | None = None,
                      cmap: str = "RdBu_r") -> Image.Image:
    """A depthwise convolution's filters (one kernel per channel), each on its own symmetric scale."""
    w = _weights(conv)[:max_filters, 0]  # filters x kh x kw: filter i sees input channel i only
    tiles = [colorize(k, -(float(np.abs(k).max()) or 1.0), float(np.abs(k).max()) or 1.0, cmap) for k in w]
    return tile_grid(tiles, [f"ch {i}" for i in range(len(tiles))], tile=tile,
                     columns=min(16, len(tiles)))


def pointwise_matrix(conv: nn.Conv2d, max_side: int = 256, cmap: str = "RdBu_r") -> Image.Image:
    """A 1x1 convolution's weights as an out x in matrix picture (it is a linear layer applied at every pixel)."""
    w = _weights(conv)[:, :, 0, 0][:max_side, :max_side]
    bound = float(np.abs(w).max()) or 1.0
    pixels = colorize(w, -bound, bound, cmap)
    factor = max(1, 512 // max(w.shape))
    return Image.fromarray(pixels).resize((w.shape[1] * factor, w.shape[0] * factor), Image.NEAREST)
