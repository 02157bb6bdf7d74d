"""The lecture's ConvNet (both forms), an MLP baseline, and deep plain nets for init experiments."""
from __future__ import annotations

import torch
from torch import nn

from cnn_core.models.activations import make_activation


class LectureConvNet(nn.Module):
    """The lecture's ConvNet in nn.Module style (corrected: nn.ReLU, input 3 x 12 x 12)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 60, image_size: int = 12) -> None:
        super().__init__()
        self.side = (image_size - 2) // 2  # conv 3x3 (no padding) then 2x2 pooling: 12 -> 10 -> 5
        self.pool = nn.AvgPool2d(2, 2)
        self.conv = nn.Conv2d(in_channels, 16, 3)
        self.fc = nn.Linear(16 * self.side * self.side, num_classes)  # 16 * 5 * 5 = 400 for 12 x 12
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x 12 x 12 -> N x 60."""
        x = self.pool(self.relu(self.conv(x)))  # N x 16 x 5 x 5
        x = x.view(-1, 16 * self.side * self.side)  # N x 400
        return self.fc(x)


class LectureConvNetSequential(nn.Module):
    """The same ConvNet written with nn.Sequential, as in the lecture's second listing."""

    def __init__(self, in_channels: int = 3, num_classes: int = 60, image_size: int = 12) -> None:
        super().__init__()
        self.side = (image_size - 2) // 2
        self.backbone = nn.Sequential(nn.Conv2d(in_channels, 16, 3), nn.ReLU(), nn.AvgPool2d(2, 2))
        self.fc = nn.Linear(16 * self.side * self.side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 3 x 12 x 12 -> N x 60."""
        x = self.backbone(x)
        x = x.view(-1, 16 * self.side * self.side)
        return self.fc(x)


class MLP(nn.Module):
    """The lecture's ANN: flatten the image, then fully-connected layers."""

    def __init__(self, in_features: int = 784, num_classes: int = 10, width: int = 256, depth: int = 2,
                 activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        size = in_features
        for _ in range(depth):
            layers.append(nn.Linear(size, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            size = width
        layers.append(nn.Linear(size, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> N x num_classes."""
        return self.net(x)


class PlainCNN(nn.Module):
    """`depth` 3x3 convolutions of `width` channels (no skip connections), global pooling, linear head."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, depth: int = 10,
                 activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(depth):
            layers.append(nn.Conv2d(channels, width, 3, padding=1))  # keeps H x W
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(make_activation(activation))
            channels = width
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # N x width
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> N x num_classes."""
        return self.classifier(self.features(x))
