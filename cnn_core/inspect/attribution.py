"""What the network looks at: saliency (input gradients) and Grad-CAM, and overlays on the image.

Gradients are taken with torch.autograd.grad with respect to a copy of the input (and, for Grad-CAM,
one layer's output) only: no parameter's .grad is written, no requires_grad flag or train/eval mode
of the (possibly shared) model is touched. The Grad-CAM hook is removed in a finally block and the
pass runs under the model's lock, so concurrent callers never see each other's hooks.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.inspect.feature_maps import colorize, model_lock
from cnn_core.inspect.hooks import CapturedCall, capture_forward


def _check(model: nn.Module, x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[0] != 1:
        raise InvalidConfig(f"Attribution takes one image as a 1 x C x H x W tensor, got {tuple(x.shape)}")
    if any(m.training for m in model.modules()):
        raise InvalidConfig("Put the model in eval mode first: attributions of a model in train mode would "
                            "depend on dropout and batch statistics")


def _class_score(logits: torch.Tensor, class_index: int) -> torch.Tensor:
    if logits.ndim != 2 or not 0 <= class_index < logits.shape[1]:
        raise InvalidConfig(f"Class {class_index} is not an output of this model (output shape {tuple(logits.shape)})")
    return logits[0, class_index]  # the score before softmax, as in Simonyan et al. and Grad-CAM


def saliency(model: nn.Module, x: torch.Tensor, class_index: int) -> np.ndarray:
    """H x W saliency map: max over channels of |d score_c / d x| (Simonyan et al. 2014)."""
    _check(model, x)
    image = x.detach().clone().requires_grad_(True)  # our own leaf: the only thing we differentiate for
    with model_lock(model), torch.enable_grad():
        score = _class_score(model(image), class_index)
        (grad,) = torch.autograd.grad(score, image)
    return grad[0].abs().amax(dim=0).numpy()  # C x H x W -> H x W


@contextlib.contextmanager
def _layer_outputs(model: nn.Module, name: str) -> Iterator[list[CapturedCall]]:
    """Keep (with their graph) the outputs of every call of one named module; the hook is always removed."""
    try:
        model.get_submodule(name)
    except AttributeError as exc:
        raise InvalidConfig(f"The model has no layer '{name}'") from exc
    with capture_forward(model, [name], eval_mode=False, keep_graph=True) as calls:
        yield calls


def grad_cam(model: nn.Module, x: torch.Tensor, layer: str, class_index: int) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) at one layer: h x w map, ReLU(sum_k alpha_k A_k).

    `layer` is a module name, optionally with '#n' for the module's n-th call in the forward
    pass (a module used twice). alpha_k = mean over positions of d score_c / d A_k.
    """
    _check(model, x)
    name, _, call = layer.partition("#")
    index = int(call) - 1 if call else 0
    image = x.detach().clone().requires_grad_(True)  # keeps A in the graph even if the weights are frozen
    with model_lock(model), torch.enable_grad(), _layer_outputs(model, name) as outputs:
        score = _class_score(model(image), class_index)
        if index >= len(outputs):
            raise InvalidConfig(f"Layer '{layer}' was not called {index + 1} time(s) in the forward pass")
        activation = outputs[index].output  # 1 x K x h x w
        if activation.ndim != 4:
            raise InvalidConfig(f"Grad-CAM needs a layer with feature maps; '{layer}' outputs "
                                f"{tuple(activation.shape)}")
        (grad,) = torch.autograd.grad(score, activation)
    alpha = grad.mean(dim=(2, 3), keepdim=True)                   # 1 x K x 1 x 1
    cam = torch.relu((alpha * activation.detach()).sum(dim=1))[0]  # h x w
    return cam.numpy()


def upsample(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an h x w map to (width, height) = size, scaled to [0, 1]."""
    tensor = torch.as_tensor(np.asarray(heat, dtype=np.float32))[None, None]
    big = F.interpolate(tensor, size=(size[1], size[0]), mode="bilinear", align_corners=False)[0, 0]
    lo, hi = float(big.min()), float(big.max())
    return ((big - lo) / (hi - lo) if hi > lo else torch.zeros_like(big)).numpy()


def robust_unit(heat: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scale a non-negative map to [0, 1], clipping at a percentile (saliency has a few extreme pixels)."""
    top = float(np.percentile(heat, percentile)) or float(heat.max()) or 1.0
    return np.clip(heat / top, 0.0, 1.0)


def heatmap_image(heat: np.ndarray, cmap: str = "inferno") -> Image.Image:
    """A [0, 1] map as a colour image."""
    return Image.fromarray(colorize(heat, 0.0, 1.0, cmap))


def overlay(image: Image.Image, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet",
            size: int | None = None) -> Image.Image:
    """Blend a heat map (any resolution, scaled to [0, 1]) over an RGB image; enlarge small images to `size`."""
    if not 0 <= alpha <= 1:
        raise InvalidConfig(f"alpha must be in [0, 1], got {alpha}")
    base = image.convert("RGB")
    if size and max(base.size) < size:
        factor = -(-size // max(base.size))
        base = base.resize((base.width * factor, base.height * factor), Image.NEAREST)
    unit = upsample(heat, base.size)
    color = colorize(unit, 0.0, 1.0, cmap).astype(np.float32)
    blended = (1 - alpha) * np.asarray(base, dtype=np.float32) + alpha * color
    return Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8))
