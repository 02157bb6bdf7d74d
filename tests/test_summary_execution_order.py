"""layer_summary lists layers in the order they execute: a padding module inside a conv comes before the conv."""
from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from cnn_core.inspect.summary import layer_summary

efficientnet = pytest.importorskip("efficientnet_lite_pytorch")


class AtenLog(TorchDispatchMode):
    """Records the name of every aten operator that runs (torch's own dispatcher: the execution order)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.name().split("::")[-1].split(".")[0])
        return func(*args, **(kwargs or {}))


def test_static_same_padding_is_listed_before_its_convolution():
    model = efficientnet.EfficientNet.from_name("efficientnet-lite0").eval()
    with torch.no_grad(), AtenLog() as log:  # the stem on its own: which op really runs first
        model._conv_stem(torch.zeros(1, 3, 32, 32))
    assert log.ops.index("constant_pad_nd") < log.ops.index("convolution")

    layers = layer_summary(model, (3, 64, 64))["layer"].tolist()
    padded = [name for name, m in model.named_modules() if hasattr(m, "static_padding")
              and not isinstance(m.static_padding, torch.nn.Identity)]
    assert padded, "expected convolutions with a static padding module"
    for conv in padded:
        assert layers.index(f"{conv}.static_padding") == layers.index(conv) - 1, conv


def test_a_sequential_keeps_its_order():
    model = torch.nn.Sequential(torch.nn.ZeroPad2d(1), torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(2 * 8 * 8, 3))
    assert layer_summary(model, (1, 8, 8))["layer"].tolist() == [n for n, _ in model.named_children()]
