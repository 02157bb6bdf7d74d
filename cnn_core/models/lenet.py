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


# ---------------------------------------------------------------- LeNet-5 as published (LeCun et al. 1998)

# Table I of the paper: which S2 maps (0..5) feed each C3 map (0..15). Maps 0-5 take 3 neighbouring maps,
# 6-11 take 4 neighbouring maps, 12-14 take 4 non-neighbouring maps, 15 takes all 6.
TABLE_I: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)
RBF_CODE_SEED = 1998  # seed of the substitute output codes (the paper's 7x12 bitmaps are not available)


class ScaledTanh(nn.Module):
    """The paper's squashing function f(a) = 1.7159 tanh(2a/3) (f(1) = 1, f(-1) = -1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Element-wise 1.7159 * tanh(2x/3), any shape."""
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """S2/S4: each unit sums its 2x2 inputs, times a trainable coefficient, plus a trainable bias (per map)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))   # C: one coefficient per feature map
        self.bias = nn.Parameter(torch.zeros(channels))    # C: one bias per feature map

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W -> N x C x H/2 x W/2."""
        summed = nn.functional.avg_pool2d(x, 2, 2) * 4  # sum of the 4 inputs
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class TableIConv(nn.Module):
    """C3: sixteen 5x5 feature maps, each connected only to the S2 maps Table I gives it (1,516 parameters).

    Implemented as grouped convolutions over gathered input channels: one group per C3 map, one
    Conv2d per fan-in (3, 4 neighbouring, 4 non-neighbouring, 6), so every multiply-add and
    every parameter is a real connection of the paper (torch's FLOP counter sees 150,000 multiply-adds per sample).
    """

    def __init__(self, table: tuple[tuple[int, ...], ...] = TABLE_I, kernel_size: int = 5) -> None:
        super().__init__()
        blocks = [(0, 6), (6, 12), (12, 15), (15, 16)]  # C3 maps sharing a fan-in and a contiguity
        self.convs = nn.ModuleList()
        for index, (first, last) in enumerate(blocks):
            maps = table[first:last]
            fan_in = len(maps[0])
            self.register_buffer(f"gather{index}", torch.tensor([c for m in maps for c in m]), persistent=False)
            self.convs.append(nn.Conv2d(fan_in * len(maps), len(maps), kernel_size, groups=len(maps)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 6 x 14 x 14 -> N x 16 x 10 x 10 (maps in Table I's order)."""
        outs = [conv(x.index_select(1, getattr(self, f"gather{i}"))) for i, conv in enumerate(self.convs)]
        return torch.cat(outs, dim=1)


def rbf_codes(num_classes: int = 10, width: int = 84, seed: int = RBF_CODE_SEED) -> torch.Tensor:
    """Fixed +-1 target codes, one row per class (num_classes x width), drawn with a seed.

    A named substitute: the paper's codes are 7x12 bitmaps of stylized characters, which are not
    published as data.
    """
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (num_classes, width), generator=gen).float() * 2 - 1


class EuclideanRBF(nn.Module):
    """The output layer: y_i = sum_j (x_j - w_ij)^2 with fixed +-1 weights; returns -y as logits."""

    def __init__(self, num_classes: int = 10, width: int = 84, seed: int = RBF_CODE_SEED) -> None:
        super().__init__()
        self.register_buffer("codes", rbf_codes(num_classes, width, seed))  # K x 84, not trained

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x 84 -> N x K negative squared distances (the largest = the nearest code = the prediction)."""
        return -(x.unsqueeze(1) - self.codes.unsqueeze(0)).pow(2).sum(dim=2)


def paper_loss(logits: torch.Tensor, labels: torch.Tensor, j: float = 10.0) -> torch.Tensor:
    """Eq. (9) of the paper on EuclideanRBF logits (-y): mean of y_D + log(e^-j + sum_i e^-y_i).

    As j grows this is exactly cross-entropy on the negative distances, which is what the
    playground trains with (the 'cross-entropy' loss on this model's logits).
    """
    distances = -logits  # N x K
    constant = torch.full_like(distances[:, :1], -j)
    return (distances.gather(1, labels.view(-1, 1)).squeeze(1)
            + torch.logsumexp(torch.cat([constant, logits], dim=1), dim=1)).mean()


class LeNet5Paper(nn.Module):
    """LeNet-5 as LeCun, Bottou, Bengio & Haffner (1998) published it: 60,000 trainable parameters.

    C1 6@28x28 (156) - S2 trainable sub-sampling (12) - C3 Table I (1,516) - S4 (32) - C5 120 (48,120)
    - F6 84 (10,164) - 10 Euclidean RBF units with fixed +-1 codes (0 trainable). Every layer up to F6
    is squashed by 1.7159 tanh(2a/3). Input 32x32; a 28x28 digit is padded by 2 with its border value
    (the background). Weights start uniform in +-2.4 / fan-in, as in the paper's Appendix A.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 code_seed: int = RBF_CODE_SEED) -> None:
        super().__init__()
        pad = (32 - image_size) // 2
        self.features = nn.Sequential(
            nn.ReplicationPad2d(pad) if pad else nn.Identity(),  # 1 x 32 x 32
            nn.Conv2d(in_channels, 6, 5), ScaledTanh(),          # C1: 6 x 28 x 28
            Subsampling(6), ScaledTanh(),                        # S2: 6 x 14 x 14
            TableIConv(), ScaledTanh(),                          # C3: 16 x 10 x 10
            Subsampling(16), ScaledTanh(),                       # S4: 16 x 5 x 5
            nn.Conv2d(16, 120, 5), ScaledTanh(),                 # C5: 120 x 1 x 1
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                        # 120
            nn.Linear(120, 84), ScaledTanh(),                    # F6: 84
            EuclideanRBF(num_classes, 84, code_seed),            # output: K negative distances
        )
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The paper's initialization: every weight and bias uniform in +-2.4 / F_i (F_i = the unit's fan-in)."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                for p in (module.weight, module.bias):
                    nn.init.uniform_(p, -2.4 / fan_in, 2.4 / fan_in)
            elif isinstance(module, Subsampling):
                nn.init.uniform_(module.weight, -2.4 / 4, 2.4 / 4)
                nn.init.uniform_(module.bias, -2.4 / 4, 2.4 / 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x 28 (or 32) x 28 (or 32) images -> N x K logits (negative RBF distances)."""
        return self.classifier(self.features(x))


def lenet_differences() -> list[dict[str, str]]:
    """Per-layer rows: LeNet-5 as published (1998) vs the playground's modern variant, with what changed and why."""
    rows = [
        ("Input", "32x32, background -0.1, ink 1.175", "28x28 MNIST, C1 zero-pads by 2",
         "same C1 size", "MNIST digits are 28x28; padding gives the 32x32 field the paper used."),
        ("C1", "6@28x28 conv 5x5, 156 params, 1.7159 tanh(2a/3)", "6@28x28 conv 5x5, 156 params, ReLU",
         "activation", "ReLU does not saturate: gradients do not vanish, training is faster (Nair & Hinton 2010)."),
        ("S2", "2x2 sum x trainable coefficient + bias per map (12 params), then squashing",
         "2x2 max pooling, 0 params", "parameter-free pooling",
         "Max pooling keeps the strongest response; the trained coefficient adds little."),
        ("C3", "16@10x10, Table I: each map sees 3, 4 or 6 of the S2 maps (1,516 params)",
         "16@10x10, every map sees all 6 S2 maps (2,416 params)", "full connections",
         "The sparse table broke symmetry and saved compute in 1998; today a dense layer is cheaper to run."),
        ("S4", "2x2 sum x coefficient + bias per map (32 params), then squashing", "2x2 max pooling, 0 params",
         "parameter-free pooling", "As S2."),
        ("C5", "120@1x1 conv 5x5, 48,120 params", "120@1x1 conv 5x5, 48,120 params, ReLU", "activation", "As C1."),
        ("F6", "84 units, 10,164 params, squashing", "84 units, 10,164 params, ReLU", "activation", "As C1."),
        ("Output", "10 Euclidean RBF units, fixed +-1 weights (7x12 bitmaps), 0 trainable",
         "Linear(84, 10), 850 params", "trainable linear output + softmax",
         "A learned linear layer with softmax cross-entropy is simpler and as accurate."),
        ("Loss", "RBF distance of the correct class + log(e^-j + sum e^-y_i) (eq. 9)",
         "softmax cross-entropy on the logits", "standard loss",
         "Cross-entropy is eq. 9 with j -> infinity on logits instead of negative distances."),
        ("Total", "60,000 trainable parameters", "61,706 trainable parameters", "+1,706",
         "C3's dense connections (+900) and the linear output (+850) minus the sub-sampling coefficients (-44)."),
    ]
    keys = ("layer", "lenet5_1998", "lenet5_modern", "difference", "why")
    return [dict(zip(keys, row)) for row in rows]
