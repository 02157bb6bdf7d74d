"""The Optimizers page's rules are what torch runs: NAdam by hand vs torch.optim.NAdam, one-cycle vs OneCycleLR."""
from __future__ import annotations

import math

import pytest
import torch

from cnn_core.training.optimizers import (OPTIMIZERS, OptimizerConfig, ScheduleConfig, lr_factor, make_optimizer,
                                          make_scheduler)


def nadam_by_hand(grads: list[torch.Tensor], theta: torch.Tensor, lr: float, beta1: float = 0.9,
                  beta2: float = 0.999, eps: float = 1e-8, psi: float = 0.004) -> list[torch.Tensor]:
    """Dozat's NAdam as the page writes it: mu_t = beta1 (1 - 0.5 * 0.96^(psi t)), products of the mus."""
    m, v, product, out = torch.zeros_like(theta), torch.zeros_like(theta), 1.0, []
    for t, g in enumerate(grads, start=1):
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        product *= mu_t
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_hat = v / (1 - beta2 ** t)
        step = (1 - mu_t) * g / (1 - product) + mu_next * m / (1 - product * mu_next)
        theta = theta - lr * step / (v_hat.sqrt() + eps)
        out.append(theta.clone())
    return out


def test_nadam_rule_equals_torch_for_several_steps():
    torch.manual_seed(0)
    grads = [torch.randn(5, dtype=torch.float64) for _ in range(8)]
    start = torch.randn(5, dtype=torch.float64)
    lr = 0.002
    param = torch.nn.Parameter(start.clone())
    opt = make_optimizer([param], OptimizerConfig("nadam", lr=lr))
    assert isinstance(opt, torch.optim.NAdam)
    seen = []
    for g in grads:
        param.grad = g.clone()
        opt.step()
        seen.append(param.detach().clone())
    for by_torch, by_hand in zip(seen, nadam_by_hand(grads, start, lr)):
        # torch keeps the product of the mus as a float32 tensor: agreement to ~1e-7 relative
        assert torch.allclose(by_torch, by_hand, rtol=1e-6, atol=1e-9)


def test_nadam_first_step_moves_about_1_06_lr():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = make_optimizer([param], OptimizerConfig("nadam", lr=1e-3))
    param.grad = torch.tensor([0.37])
    opt.step()
    moved = -param.item() / 1e-3
    assert moved == pytest.approx(1.0565, abs=1e-3)
    # the constant-beta1 Adam-style rule the page used to show would move (0.9 * 0.1 / 0.1 + 0.1 / 0.1) = 1.9 lr
    rule = OPTIMIZERS["nadam"].update_rule
    assert r"\mu_t" in rule and "0.96" in rule and r"\prod" in rule and r"\mu_{t+1}" in rule


@pytest.mark.parametrize("total, floor", [(100, 0.0), (37, 0.1), (8, 0.0)])
def test_onecycle_equals_torch_onecycle_lr(total, floor):
    base = 0.3
    ours = make_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimizerConfig("sgd", lr=base))
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    final_div = 1 / (25 * floor) if floor else 1e4
    reference = torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=base, total_steps=total, cycle_momentum=False,
                                                    final_div_factor=final_div)
    config = ScheduleConfig("onecycle", min_factor=floor)
    scheduler = make_scheduler(ours, config, total)
    a, b = [], []
    for step in range(total):
        a.append(ours.param_groups[0]["lr"])
        b.append(theirs.param_groups[0]["lr"])
        assert base * lr_factor(step, total, config) == pytest.approx(b[-1], rel=1e-9, abs=1e-15)
        ours.step(), theirs.step()
        scheduler.step()
        if step < total - 1:
            reference.step()
    assert a == pytest.approx(b, rel=1e-12, abs=1e-15)
    assert b[-1] == pytest.approx(base * floor if floor else base / 25 / 1e4)
    for _ in range(3):  # training on past the planned steps (Continue) stays at the floor instead of raising
        ours.step()
        scheduler.step()
    assert ours.param_groups[0]["lr"] == pytest.approx(a[-1])
    assert math.isfinite(lr_factor(total + 5, total, config))


def test_onecycle_keeps_momentum_untouched():
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(1))], OptimizerConfig("momentum", lr=0.1))
    scheduler = make_scheduler(opt, ScheduleConfig("onecycle"), 10)
    for _ in range(5):
        opt.step()
        scheduler.step()
    assert opt.param_groups[0]["momentum"] == 0.9
