"""Saliency and Grad-CAM against hand-written references; the model is never modified."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnn_core.errors import InvalidConfig
from cnn_core.inspect import attribution as attr


def tiny_cam_model() -> nn.Sequential:
    """conv(1 -> 2, 3x3) -> ReLU -> global average pool -> linear(2 -> 3): a CAM-style network."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[[[1., 0., -1.], [2., 0., -2.], [1., 0., -1.]]],     # Sobel x
                                            [[[1., 2., 1.], [0., 0., 0.], [-1., -2., -1.]]]]))  # Sobel y
        model[0].bias.copy_(torch.tensor([0.1, -0.2]))
        model[4].weight.copy_(torch.tensor([[1.5, -0.5], [-1.0, 2.0], [0.3, 0.3]]))
        model[4].bias.zero_()
    return model.eval()


def reference_conv(image: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Valid cross-correlation written with loops: K x (H-2) x (W-2)."""
    k, _, kh, kw = weight.shape
    h, w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((k, h, w))
    for c in range(k):
        for i in range(h):
            for j in range(w):
                out[c, i, j] = np.sum(image[i:i + kh, j:j + kw] * weight[c, 0]) + bias[c]
    return out


def reference_grad_cam(model: nn.Sequential, image: np.ndarray, class_index: int, at_relu: bool) -> np.ndarray:
    """Grad-CAM by hand: score = sum_k W[c, k] * mean(ReLU(Z_k)), so dscore/dA_k = W[c, k] / (h w)."""
    z = reference_conv(image, model[0].weight.detach().numpy().astype(np.float64),
                       model[0].bias.detach().numpy().astype(np.float64))
    a = np.maximum(z, 0.0)
    hw = z.shape[1] * z.shape[2]
    w_c = model[4].weight.detach().numpy()[class_index].astype(np.float64)
    if at_relu:  # A = ReLU output: the gradient is the constant W[c, k] / hw
        grads, acts = np.stack([np.full(a[0].shape, w_c[k] / hw) for k in range(2)]), a
    else:        # A = conv output Z: the gradient also passes the ReLU's mask
        grads, acts = np.stack([(z[k] > 0) * w_c[k] / hw for k in range(2)]), z
    alpha = grads.mean(axis=(1, 2))
    return np.maximum((alpha[:, None, None] * acts).sum(axis=0), 0.0)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(9, 9))


@pytest.mark.parametrize("class_index", [0, 1, 2])
@pytest.mark.parametrize("layer, at_relu", [("1", True), ("0", False)])
def test_grad_cam_equals_hand_written_reference(image, class_index, layer, at_relu):
    model = tiny_cam_model()
    x = torch.tensor(image, dtype=torch.float32)[None, None]
    cam = attr.grad_cam(model, x, layer, class_index)
    expected = reference_grad_cam(model, image, class_index, at_relu)
    assert cam.shape == (7, 7)
    np.testing.assert_allclose(cam, expected, rtol=1e-4, atol=1e-6)
    assert cam.max() > 0, "a non-trivial map: the test would notice a wrong sign or weighting"


def test_saliency_of_a_linear_model_is_its_weights():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
    sal = attr.saliency(model, torch.randn(1, 2, 4, 4), 2)
    expected = model[1].weight.detach()[2].view(2, 4, 4).abs().amax(dim=0).numpy()  # max over channels
    np.testing.assert_allclose(sal, expected, rtol=1e-6)


def test_attribution_leaves_the_shared_model_untouched(image, monkeypatch):
    model = tiny_cam_model()
    flags = [p.requires_grad for p in model.parameters()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []
    monkeypatch.setattr(nn.Module, "train", lambda self, mode=True: calls.append(mode))
    x = torch.tensor(image, dtype=torch.float32)[None, None]
    attr.grad_cam(model, x, "1", 0)
    attr.saliency(model, x, 0)
    assert calls == [], "no train()/eval() calls on a shared model"
    assert all(p.grad is None for p in model.parameters()), "gradients only w.r.t. the input"
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
    assert x.grad is None and not x.requires_grad, "the caller's tensor is not touched either"


def test_grad_cam_works_with_frozen_weights_and_in_place_relu():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    cam = attr.grad_cam(model, torch.randn(1, 3, 10, 10), "0", 1)
    assert cam.shape == (8, 8) and np.isfinite(cam).all()


def test_grad_cam_of_a_module_used_twice_picks_the_call():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.act = nn.ReLU()
            self.head = nn.Linear(2, 2)

        def forward(self, x):
            x = self.act(self.conv(x))
            x = self.act(x - 0.1)
            return self.head(x.mean(dim=(2, 3)))

    model, x = Twice().eval(), torch.randn(1, 1, 6, 6)
    first, second = attr.grad_cam(model, x, "act", 0), attr.grad_cam(model, x, "act#2", 0)
    assert first.shape == second.shape == (6, 6)
    with pytest.raises(InvalidConfig, match="not called 3"):
        attr.grad_cam(model, x, "act#3", 0)


def test_bad_requests_give_clear_errors():
    model = tiny_cam_model()
    x = torch.zeros(1, 1, 9, 9)
    with pytest.raises(InvalidConfig, match="no layer"):
        attr.grad_cam(model, x, "nope", 0)
    with pytest.raises(InvalidConfig, match="feature maps"):
        attr.grad_cam(model, x, "4", 0)
    with pytest.raises(InvalidConfig, match="Class 7"):
        attr.saliency(model, x, 7)
    with pytest.raises(InvalidConfig, match="eval mode"):
        attr.saliency(model.train(), x, 0)


def test_overlay_and_heatmap_images():
    base = Image.new("RGB", (28, 28), (10, 20, 30))
    heat = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert attr.overlay(base, heat, alpha=0.0).tobytes() == base.tobytes()
    big = attr.overlay(base, heat, alpha=0.5, size=224)
    assert big.size == (224, 224) and big.tobytes() != base.resize((224, 224)).tobytes()
    unit = attr.upsample(heat, (8, 8))
    assert unit.shape == (8, 8) and unit.min() == 0.0 and unit.max() == pytest.approx(1.0)
    assert attr.robust_unit(np.array([0.0, 1.0, 100.0]), percentile=50).tolist() == [0.0, 1.0, 1.0]
    assert attr.heatmap_image(np.zeros((5, 6))).size == (6, 5)
    with pytest.raises(InvalidConfig):
        attr.overlay(base, heat, alpha=2.0)
