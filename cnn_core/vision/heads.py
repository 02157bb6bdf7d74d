"""One backbone, three heads: classification, localization (class + one box), dense detection (a grid).

The backbone turns a 1 x 64 x 64 scene into 64 x 8 x 8 features (stride 8). On top of it:

- ``ClassHead``: N x K class logits ("what is in the picture");
- ``LocalizationHead``: N x (K + 4): K class logits, then one box (cx, cy, w, h) as fractions of the image
  ("what, and where is the one object");
- ``DenseHead``: N x (5 + K) x S x S: every grid cell predicts [objectness, tx, ty, tw, th, K class logits]
  for an object whose centre falls in that cell ("how many objects, where, and what").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

HEADS = ("classification", "localization", "detection")


@dataclass(frozen=True)
class BackboneConfig:
    """Size of the shared backbone (hashable)."""

    in_channels: int = 1
    width: int = 16  # channels of the first block; they double at every pooling, up to 4 x width
    num_classes: int = 10
    prior: float = 16.0  # box size in pixels that tw = th = 0 means (a single anchor's size)


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class Backbone(nn.Module):
    """Conv-BN-ReLU blocks with three 2 x 2 max pools: N x C x H x W -> N x 4w x H/8 x W/8."""

    stride = 8

    def __init__(self, cfg: BackboneConfig = BackboneConfig()) -> None:
        super().__init__()
        w = cfg.width
        self.out_channels = 4 * w
        self.body = nn.Sequential(
            *_block(cfg.in_channels, w), nn.MaxPool2d(2),  # w x H/2
            *_block(w, 2 * w), nn.MaxPool2d(2),  # 2w x H/4
            *_block(2 * w, 4 * w), nn.MaxPool2d(2),  # 4w x H/8
            *_block(4 * w, 4 * w), *_block(4 * w, 4 * w),  # 4w x H/8, receptive field 54 px
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> N x 4w x H/8 x W/8 features."""
        return self.body(x)


class ClassHead(nn.Module):
    """Global average pool + linear: N x F x S x S -> N x K class logits."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """N x F x S x S -> N x K."""
        return self.fc(f.mean(dim=(2, 3)))


class LocalizationHead(nn.Module):
    """Pool to 4 x 4, flatten, linear: N x F x S x S -> N x (K + 4): class logits, then (cx, cy, w, h) in 0..1."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(channels * 16, num_classes + 4)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """N x F x S x S -> N x (K + 4); the 4 box numbers pass through a sigmoid (fractions of the image)."""
        out = self.fc(self.pool(f).flatten(1))
        return torch.cat([out[:, :self.num_classes], out[:, self.num_classes:].sigmoid()], dim=1)


class DenseHead(nn.Module):
    """A 3 x 3 conv and a 1 x 1 conv: N x F x S x S -> N x (5 + K) x S x S, one prediction per grid cell."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(*_block(channels, channels), nn.Conv2d(channels, 5 + num_classes, 1))
        nn.init.constant_(self.conv[-1].bias[:1], -4.0)  # start with "no object" everywhere (focal-loss habit)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        """N x F x S x S -> N x (5 + K) x S x S raw numbers: [objectness logit, tx, ty, tw, th, K logits]."""
        return self.conv(f)


class VisionNet(nn.Module):
    """The shared backbone with one of the three heads."""

    def __init__(self, head: str = "detection", cfg: BackboneConfig = BackboneConfig()) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, not {head!r}")
        self.head_name, self.cfg = head, cfg
        self.backbone = Backbone(cfg)
        c, k = self.backbone.out_channels, cfg.num_classes
        self.head = {"classification": ClassHead, "localization": LocalizationHead, "detection": DenseHead}[head](c, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W scenes -> the head's output (see the module docstring for the shapes)."""
        return self.head(self.backbone(x))


def output_meaning(head: str, num_classes: int = 10, grid: int = 8) -> list[tuple[str, str]]:
    """(slice of the output, what those numbers mean) for one head, for the page's tables."""
    k = num_classes
    if head == "classification":
        return [(f"[:, 0:{k}]", f"{k} class scores (logits); softmax -> probability of each digit")]
    if head == "localization":
        return [(f"[:, 0:{k}]", f"{k} class logits of the one object"),
                (f"[:, {k}]", "cx: box centre x as a fraction of the image width (0 = left, 1 = right)"),
                (f"[:, {k + 1}]", "cy: box centre y as a fraction of the image height"),
                (f"[:, {k + 2}]", "w: box width as a fraction of the image width"),
                (f"[:, {k + 3}]", "h: box height as a fraction of the image height")]
    if head == "detection":
        return [("[:, 0, i, j]", f"objectness logit of cell (i, j) of the {grid} x {grid} grid: sigmoid -> "
                                 "P(an object's centre lies in this cell)"),
                ("[:, 1:3, i, j]", "tx, ty: centre offset inside the cell, sigmoid -> 0..1 of the cell"),
                ("[:, 3:5, i, j]", "tw, th: log of box width / height relative to the prior size"),
                (f"[:, 5:{5 + k}, i, j]", f"{k} class logits of the object in that cell")]
    raise ValueError(f"head must be one of {HEADS}")
