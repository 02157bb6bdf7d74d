"""LeNet-5 as published (LeCun et al. 1998) against the paper's own numbers (Section II.B, Table I)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnn_core import TrainConfig, TrainingRun, load_dataset
from cnn_core.models import MODELS, ModelOptions, build_model, lenet_differences
from cnn_core.models.lenet import TABLE_I, EuclideanRBF, ScaledTanh, Subsampling, TableIConv, paper_loss

# The paper's trainable parameters per layer (Section II.B) and its total of 60,000.
PAPER = {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164, "output": 0}

# Table I of the paper, row = S2 map, X = connected C3 maps (transcribed from the figure, not from TABLE_I).
TABLE_I_ROWS = {0: "X   XXX  XXXX XX", 1: "XX   XXX  XXXX X", 2: "XXX   XXX  X XXX",
                3: " XXX  XXXX  X XX", 4: "  XXX  XXXX XX X", 5: "   XXX  XXXX XXX"}


def _trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_parameters_per_layer_equal_the_paper():
    model = build_model("lenet5-1998")
    f, c = model.features, model.classifier
    layers = {"C1": f[1], "S2": f[3], "C3": f[5], "S4": f[7], "C5": f[9], "F6": c[1], "output": c[3]}
    assert {k: _trainable(m) for k, m in layers.items()} == PAPER
    assert _trainable(model) == sum(PAPER.values()) == 60_000
    assert isinstance(layers["S2"], Subsampling) and isinstance(layers["C3"], TableIConv)
    assert isinstance(layers["output"], EuclideanRBF) and not list(layers["output"].parameters())


def test_shapes_32x32_field_for_mnist_digits():
    model = build_model("lenet5-1998")
    x = torch.randn(2, 1, 28, 28)
    shapes = []
    for layer in model.features:
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes[0] == (1, 32, 32)                          # padded by 2
    assert shapes[1] == (6, 28, 28) and shapes[3] == (6, 14, 14)
    assert shapes[5] == (16, 10, 10) and shapes[7] == (16, 5, 5) and shapes[9] == (120, 1, 1)
    assert build_model("lenet5-1998", ModelOptions(image_size=32))(torch.zeros(1, 1, 32, 32)).shape == (1, 10)


def test_c3_connections_are_table_i():
    # Which S2 maps influence which C3 map, found by autograd (independent of how C3 is built).
    torch.manual_seed(0)
    c3 = TableIConv()
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    out = c3(x)
    connected = torch.zeros(6, 16, dtype=torch.bool)
    for j in range(16):
        (grad,) = torch.autograd.grad(out[0, j].sum(), x, retain_graph=True)
        connected[:, j] = grad[0].abs().sum(dim=(1, 2)) > 0
    expected = torch.tensor([[ch == "X" for ch in TABLE_I_ROWS[i]] for i in range(6)])
    assert torch.equal(connected, expected)
    assert [len(m) for m in TABLE_I] == [3] * 6 + [4] * 9 + [6]


def test_c3_multiply_adds_are_only_real_connections():
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        TableIConv()(torch.zeros(1, 6, 14, 14))
    # 1,500 weights, each used at 10 x 10 positions: the paper's 150,000 (+1,600 bias adds) connections
    assert counter.get_total_flops() == 2 * 1500 * 100


def test_squashing_subsampling_and_rbf_follow_the_paper():
    f = ScaledTanh()
    assert f(torch.tensor([1.0, -1.0])).tolist() == pytest.approx([1.0, -1.0], abs=1e-4)  # f(+-1) = +-1
    assert f(torch.tensor(50.0)).item() == pytest.approx(1.7159)
    s = Subsampling(2)
    with torch.no_grad():
        s.weight.copy_(torch.tensor([0.5, 2.0]))
        s.bias.copy_(torch.tensor([1.0, -1.0]))
    x = torch.arange(32.0).view(1, 2, 4, 4)
    by_hand = torch.tensor([[x[0, c, 2 * i:2 * i + 2, 2 * k:2 * k + 2].sum() for k in range(2)] for c in range(2)
                            for i in range(2)]).view(1, 2, 2, 2)
    by_hand = by_hand * torch.tensor([0.5, 2.0]).view(1, 2, 1, 1) + torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)
    assert torch.allclose(s(x), by_hand)
    rbf = EuclideanRBF(10, 84)
    codes = rbf.codes
    assert set(codes.unique().tolist()) == {-1.0, 1.0} and len({tuple(r) for r in codes.tolist()}) == 10
    assert torch.equal(codes, EuclideanRBF(10, 84).codes)  # fixed by a seed
    h = torch.randn(3, 84)
    assert torch.allclose(rbf(h), -torch.cdist(h, codes) ** 2, atol=1e-3)
    assert rbf(codes[4:5]).argmax().item() == 4


def test_paper_loss_tends_to_cross_entropy():
    torch.manual_seed(0)
    logits, labels = -torch.rand(5, 10) * 20, torch.tensor([0, 3, 9, 2, 2])
    ce = nn.functional.cross_entropy(logits, labels)
    assert paper_loss(logits, labels, j=1e4).item() == pytest.approx(ce.item(), rel=1e-6)
    assert paper_loss(logits, labels, j=0.0).item() > ce.item()


def test_registry_captions_are_honest():
    assert "1998" in MODELS["lenet5-1998"].label and "as published" in MODELS["lenet5-1998"].label
    assert "as published" not in MODELS["lenet5-classic"].label + MODELS["lenet5-classic"].explanation
    rows = lenet_differences()
    assert [r["layer"] for r in rows][:8] == ["Input", "C1", "S2", "C3", "S4", "C5", "F6", "Output"]
    assert all(r["why"] and r["difference"] for r in rows)
    modern = sum(p.numel() for p in build_model("lenet5-modern").parameters())
    assert f"{modern:,}" in rows[-1]["lenet5_modern"] and "60,000" in rows[-1]["lenet5_1998"]


@pytest.mark.slow
def test_trains_on_mnist_5k():
    data = load_dataset("mnist-5k")  # 3,500 training digits, padded to 32 x 32 by the model
    run = TrainingRun(TrainConfig(model="lenet5-1998", epochs=2, batch_size=32), data)
    records = list(run.records())
    steps = [r for r in records if r.kind == "step"]
    assert run.status == "finished"
    assert sum(r.train_loss for r in steps[-5:]) / 5 < 0.5 * sum(r.train_loss for r in steps[:5]) / 5
    assert run.test_metrics()[1] > 0.90
