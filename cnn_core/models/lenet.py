"""LeNet-5 as in the lecture: C1 6@28x28, S2, C3 16@10x10, S4, C5 120, F6 84, 10 outputs."""
from __future__ import annotations

import torch
from torch import nn

from cnn_core.models.activations import make_activation


class LeNet5(nn.Module):
    """LeNet-5; 'classic' = tanh + average pooling (1998), 'modern' = ReLU + max pooling.

    The first convolution pads 28x28 inputs by 2 so C1 is 6@28x28 exactly as for LeCun's 32x32
    inputs. C5 is a 5x5 convolution over the 5x5 S4 maps, so its output is 120@1x1.
    """

    def __init__(self, variant: str = "modern", in_channels: int = 1, num_classes: int = 10,
                 image_size: int = 28, dropout: float = 0.0, batch_norm: bool = False,
                 activation: str | None = None) -> None:
        super().__init__()
        act = activation or ("tanh" if variant == "classic" else "relu")
        pool = nn.AvgPool2d if variant == "classic" else nn.MaxPool2d
        pad = (32 - image_size) // 2  # 28 -> pad 2, 32 -> pad 0

        def conv_block(c_in: int, c_out: int, padding: int) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel_size=5, padding=padding)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(make_activation(act))
            return layers

        self.features = nn.Sequential(
            *conv_block(in_channels, 6, pad),   # C1: 6 x 28 x 28
            pool(kernel_size=2, stride=2),      # S2: 6 x 14 x 14
            *conv_block(6, 16, 0),              # C3: 16 x 10 x 10
            pool(kernel_size=2, stride=2),      # S4: 16 x 5 x 5
            *conv_block(16, 120, 0),            # C5: 120 x 1 x 1
        )
        head: list[nn.Module] = [nn.Flatten()]  # 120
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head += [nn.Linear(120, 84), make_activation(act)]  # F6: 84
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(84, num_classes))  # output: 10 logits
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x 28 x 28 images -> N x num_classes logits."""
        return self.classifier(self.features(x))
