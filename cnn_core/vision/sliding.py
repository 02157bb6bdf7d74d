"""Sliding window vs fully convolutional: LeNet-5's fully-connected layers rewritten as convolutions.

LeNet-5 pads its 28 x 28 input by 2, so it really looks at a 32 x 32 window. C5 is already a 5 x 5
convolution over the 5 x 5 S4 maps; F6 (120 -> 84) and the output layer (84 -> 10) become 1 x 1
convolutions with the same weights. The result takes a scene of any size and returns a score map:
position (i, j) holds the classifier's logits for the 32 x 32 window at (4i, 4j) of the scene padded by 2,
because the two 2 x 2 poolings give the network a stride of 4.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

WINDOW = 32  # the 28 x 28 digit frame plus LeNet's 2-pixel padding
STRIDE = 4  # two 2 x 2 poolings


def _unpadded_features(features: nn.Sequential) -> nn.Sequential:
    """A copy of LeNet's feature extractor whose first convolution has no padding (the window brings it)."""
    feats = copy.deepcopy(features)
    first = next(m for m in feats if isinstance(m, nn.Conv2d))
    first.padding = (0, 0)
    return feats


def window_classifier(lenet: nn.Module) -> nn.Module:
    """LeNet-5 as a classifier of 32 x 32 windows: N x 1 x 32 x 32 -> N x 10 (same weights, C1 unpadded)."""
    return nn.Sequential(_unpadded_features(lenet.features), copy.deepcopy(lenet.classifier)).eval()


def fully_convolutional(lenet: nn.Module) -> nn.Module:
    """LeNet-5 with F6 and the output layer as 1 x 1 convolutions: N x 1 x H x W -> N x 10 x (H-28)/4 x (W-28)/4."""
    layers: list[nn.Module] = list(_unpadded_features(lenet.features))
    for module in lenet.classifier:
        if isinstance(module, nn.Linear):
            conv = nn.Conv2d(module.in_features, module.out_features, kernel_size=1)
            with torch.no_grad():
                conv.weight.copy_(module.weight.view(module.out_features, module.in_features, 1, 1))
                conv.bias.copy_(module.bias)
            layers.append(conv)
        elif not isinstance(module, (nn.Flatten, nn.Dropout)):
            layers.append(copy.deepcopy(module))  # activations
    return nn.Sequential(*layers).eval()


def pad_scene(scene: torch.Tensor, background: float) -> torch.Tensor:
    """N x 1 x H x W normalized scene -> padded by 2 on every side with the background value."""
    return F.pad(scene, (2, 2, 2, 2), value=background)


def windows(scene: torch.Tensor, size: int = WINDOW, stride: int = STRIDE) -> torch.Tensor:
    """1 x 1 x H x W -> (rows * cols) x 1 x size x size crops, row-major (what a sliding window feeds the classifier)."""
    patches = scene.unfold(2, size, stride).unfold(3, size, stride)  # 1 x 1 x rows x cols x size x size
    return patches.reshape(-1, 1, size, size)


@torch.no_grad()
def sliding_scores(classifier: nn.Module, scene: torch.Tensor, stride: int = STRIDE, batch: int = 1024) -> torch.Tensor:
    """Run the window classifier on every window: 1 x 1 x H x W -> 10 x rows x cols logits."""
    crops = windows(scene, WINDOW, stride)
    rows = (scene.shape[2] - WINDOW) // stride + 1
    cols = (scene.shape[3] - WINDOW) // stride + 1
    logits = torch.cat([classifier(crops[i:i + batch]) for i in range(0, len(crops), batch)])
    return logits.T.reshape(-1, rows, cols)


@torch.no_grad()
def fcn_scores(fcn: nn.Module, scene: torch.Tensor) -> torch.Tensor:
    """One pass of the fully convolutional network: 1 x 1 x H x W -> 10 x rows x cols logits."""
    return fcn(scene)[0]


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of Conv2d and Linear layers for one input of this shape (run on the meta device)."""
    total = 0

    def hook(module: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        """Add this layer's weight multiply-adds for its output."""
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += out.numel() * k
        elif isinstance(module, nn.Linear):
            total += out.numel() * module.in_features

    meta = copy.deepcopy(model).to("meta")
    handles = [m.register_forward_hook(hook) for m in meta.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            meta(torch.zeros(input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total


@dataclass(frozen=True)
class CostComparison:
    """Sliding window vs one fully convolutional pass over one scene, for the same score map."""

    scene_size: tuple[int, int]
    positions: int  # windows = score-map cells
    sliding_macs: int
    fcn_macs: int
    sliding_seconds: float
    fcn_seconds: float
    max_difference: float  # largest |logit difference| between the two score maps

    @property
    def mac_ratio(self) -> float:
        """FCN multiply-adds / sliding-window multiply-adds."""
        return self.fcn_macs / self.sliding_macs

    @property
    def time_ratio(self) -> float:
        """FCN time / sliding-window time."""
        return self.fcn_seconds / self.sliding_seconds


def compare_costs(lenet: nn.Module, scene: torch.Tensor, repeats: int = 3) -> CostComparison:
    """Both ways on a padded, normalized 1 x 1 x H x W scene: multiply-adds, best-of-`repeats` time, difference."""
    classifier, fcn = window_classifier(lenet), fully_convolutional(lenet)
    slide_t, fcn_t = float("inf"), float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        slide = sliding_scores(classifier, scene)
        slide_t = min(slide_t, time.perf_counter() - start)
        start = time.perf_counter()
        dense = fcn_scores(fcn, scene)
        fcn_t = min(fcn_t, time.perf_counter() - start)
    positions = slide.shape[1] * slide.shape[2]
    return CostComparison((scene.shape[2], scene.shape[3]), positions,
                          positions * count_macs(classifier, (1, 1, WINDOW, WINDOW)),
                          count_macs(fcn, tuple(scene.shape)), slide_t, fcn_t,
                          float((slide - dense).abs().max()))
