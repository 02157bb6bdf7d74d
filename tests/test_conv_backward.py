"""The backward pass written out by hand (cnn_core.teaching.conv_backward) equals torch.autograd."""
import pytest
import torch
import torch.nn.functional as F

from cnn_core.errors import InvalidConfig
from cnn_core.teaching.conv_backward import conv_backward, pool_backward, upstream_gradient, weight_grad_terms
from cnn_core.teaching.layer_ops import ConvSettings, PoolSettings


def _autograd_conv(x, w, settings, g):
    x = x.clone().requires_grad_(True)
    w = w.clone().requires_grad_(True)
    b = torch.tensor([settings.bias], requires_grad=True)
    y = F.conv2d(x[None, None], w[None, None], b, stride=settings.stride, padding=settings.padding,
                 dilation=settings.dilation)[0, 0]
    return torch.autograd.grad((y * g).sum(), (w, x, b))


def _random_conv_cases(count, seed=0):
    gen = torch.Generator().manual_seed(seed)
    cases = []
    while len(cases) < count:
        h, w = (int(v) for v in torch.randint(4, 15, (2,), generator=gen))
        k, s, p, d = (int(torch.randint(lo, hi, (1,), generator=gen)) for lo, hi in ((1, 6), (1, 4), (0, 4), (1, 4)))
        if d * (k - 1) + 1 > min(h, w) + 2 * p:
            continue
        cases.append((h, w, k, ConvSettings(s, p, d, float(torch.randn(1, generator=gen)))))
    return cases


@pytest.mark.parametrize("case", range(60))
def test_conv_gradients_equal_autograd_on_random_settings(case):
    h, w, k, settings = _random_conv_cases(60)[case]
    gen = torch.Generator().manual_seed(100 + case)
    x, kernel = torch.randn(h, w, generator=gen), torch.randn(k, k, generator=gen)
    y_shape = F.conv2d(x[None, None], kernel[None, None], stride=settings.stride, padding=settings.padding,
                       dilation=settings.dilation).shape[2:]
    g = torch.randn(*y_shape, generator=gen)
    mine = conv_backward(x, kernel, settings, g)
    gw, gx, gb = _autograd_conv(x, kernel, settings, g)
    assert mine.grad_weight.shape == gw.shape and mine.grad_input.shape == gx.shape
    torch.testing.assert_close(mine.grad_weight, gw, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mine.grad_input, gx, rtol=1e-4, atol=1e-4)
    assert mine.grad_bias == pytest.approx(float(gb), rel=1e-5, abs=1e-5)


def test_stride_two_leaves_unread_rows_without_gradient():
    # 6 x 6 input, k = 3, stride 2, no padding: windows start at 0 and 2, so row/col 5 is never read
    x, kernel = torch.arange(36.0).view(6, 6), torch.ones(3, 3)
    out = conv_backward(x, kernel, ConvSettings(stride=2), torch.ones(2, 2))
    assert out.grad_input[5].abs().sum() == 0 and out.grad_input[:, 5].abs().sum() == 0
    assert out.grad_input[2, 2] == 4  # the centre pixel of the overlap belongs to all four windows
    assert out.spread_upstream.shape == (3 + 4, 3 + 4)  # 2x2 spread by stride 2 -> 3x3, padded by 2 all round
    torch.testing.assert_close(out.flipped_kernel, torch.ones(3, 3))


def test_weight_grad_terms_sum_to_the_kernel_gradient():
    x, kernel, settings = torch.randn(7, 7), torch.randn(3, 3), ConvSettings(2, 1, 1, 0.0)
    g = upstream_gradient((4, 4), "random", seed=3)
    grads = conv_backward(x, kernel, settings, g)
    text, value = weight_grad_terms(x, settings, g, 3, 1, 2)
    assert value == pytest.approx(float(grads.grad_weight[1, 2]), abs=1e-5)
    assert "more terms" in text  # 16 terms, 12 written out


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", range(40))
def test_pool_gradients_equal_autograd(kind, case):
    gen = torch.Generator().manual_seed(case)
    while True:  # draw settings until PyTorch accepts them (a window must fit the padded map)
        n = int(torch.randint(4, 11, (1,), generator=gen))
        k = int(torch.randint(1, 5, (1,), generator=gen))
        s = int(torch.randint(1, 4, (1,), generator=gen))
        p = int(torch.randint(0, k // 2 + 1, (1,), generator=gen))
        d = int(torch.randint(1, 3, (1,), generator=gen)) if kind == "max" else 1
        settings = PoolSettings(k, s, p, d, ceil_mode=bool(case % 2))
        try:
            settings.validate(n, n, kind)
            break
        except InvalidConfig:
            continue
    v = torch.randn(n, n, generator=gen).requires_grad_(True)
    y = (F.max_pool2d(v[None, None], k, s, p, d, ceil_mode=settings.ceil_mode) if kind == "max"
         else F.avg_pool2d(v[None, None], k, s, p, ceil_mode=settings.ceil_mode))[0, 0]
    g = torch.randn(*y.shape, generator=gen)
    (reference,) = torch.autograd.grad((y * g).sum(), v)
    torch.testing.assert_close(pool_backward(v.detach(), kind, settings, g), reference, rtol=1e-5, atol=1e-6)


def test_max_pool_routes_everything_to_the_winner():
    values = torch.tensor([[1.0, 5.0], [2.0, 3.0]])
    grad = pool_backward(values, "max", PoolSettings(2), torch.tensor([[7.0]]))
    assert grad.tolist() == [[0.0, 7.0], [0.0, 0.0]]
    shared = pool_backward(values, "avg", PoolSettings(2), torch.tensor([[8.0]]))
    assert shared.tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_bad_upstream_shape_is_a_clear_error():
    with pytest.raises(InvalidConfig, match="shape"):
        conv_backward(torch.zeros(5, 5), torch.ones(3, 3), ConvSettings(), torch.ones(2, 2))
    with pytest.raises(InvalidConfig):
        upstream_gradient((2, 2), "sideways")


def test_a_unit_gradient_gives_the_patch_and_the_placed_kernel():
    # L = Y[r, c]: dL/dW is the window the step-through shows, dL/dX is the kernel placed on that window
    from cnn_core.teaching.layer_ops import patch_product

    x, kernel, settings = torch.randn(9, 9), torch.randn(3, 3), ConvSettings(2, 1, 2, 0.0)
    out = F.conv2d(x[None, None], kernel[None, None], stride=2, padding=1, dilation=2)[0, 0]
    g = upstream_gradient(tuple(out.shape), "unit", at=(1, 2))
    assert g.sum() == 1 and g[1, 2] == 1
    grads = conv_backward(x, kernel, settings, g)
    step = patch_product(x, kernel, settings, 1, 2)
    torch.testing.assert_close(grads.grad_weight, step.patch)
    inside_r = [i for i, r in enumerate(step.rows) if 0 <= r < 9]  # taps outside the image read the padding
    inside_c = [j for j, c in enumerate(step.cols) if 0 <= c < 9]
    expected = torch.zeros(9, 9)
    for i in inside_r:
        for j in inside_c:
            expected[step.rows[i], step.cols[j]] = kernel[i, j]
    torch.testing.assert_close(grads.grad_input, expected)
