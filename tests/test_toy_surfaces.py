"""2-D test functions: minima, hand-written update rules against torch.optim, divergence, the contour grid."""
from __future__ import annotations

import math

import pytest
import torch

from cnn_core.errors import InvalidConfig
from cnn_core.teaching.toy_surfaces import SURFACES, Surface, compare_2d, optimize_2d, summary_2d, surface_grid
from cnn_core.training.optimizers import OptimizerConfig, ScheduleConfig, configure

KAPPA = 10.0
START = (-4.5, 2.0)
STEPS = 6


def bowl_grad(x: float, y: float) -> tuple[float, float]:
    """Gradient of f = (x^2 + kappa y^2) / 2."""
    return x, KAPPA * y


def path(frame) -> list[tuple[float, float]]:
    return list(zip(frame["x"], frame["y"]))


def assert_same_path(frame, expected):
    assert len(frame) == len(expected) == STEPS + 1
    for (x, y), (ex, ey) in zip(path(frame), expected):
        assert x == pytest.approx(ex, rel=1e-12, abs=1e-12) and y == pytest.approx(ey, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", list(SURFACES))
def test_every_minimum_has_zero_loss_and_zero_gradient(name):
    surface = Surface(name, KAPPA)
    for mx, my in surface.minima():
        point = torch.tensor([mx, my], dtype=torch.float64, requires_grad=True)
        loss = surface.value(point[0], point[1])
        loss.backward()
        assert loss.item() == pytest.approx(0.0, abs=1e-8)
        assert point.grad.norm().item() < 1e-3
    x0, x1 = SURFACES[name].x_range
    y0, y1 = SURFACES[name].y_range
    assert x0 <= SURFACES[name].start[0] <= x1 and y0 <= SURFACES[name].start[1] <= y1


def test_sgd_on_the_bowl_follows_the_hand_written_rule():
    lr = 0.15
    frame = optimize_2d(Surface("bowl", KAPPA), OptimizerConfig("sgd", lr=lr), START, STEPS)
    x, y = START
    expected = [(x, y)]
    for _ in range(STEPS):  # theta <- theta - lr * g
        gx, gy = bowl_grad(x, y)
        x, y = x - lr * gx, y - lr * gy
        expected.append((x, y))
    assert_same_path(frame, expected)
    assert set(frame["status"]) == {"ok"} and frame["lr"].iloc[0] == lr


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_on_the_bowl_follows_the_hand_written_rule(nesterov):
    lr, mu = 0.05, 0.8
    config = configure("nesterov" if nesterov else "momentum", lr=lr, momentum=mu)
    frame = optimize_2d(Surface("bowl", KAPPA), config, START, STEPS)
    x, y = START
    vx = vy = 0.0
    expected = [(x, y)]
    for _ in range(STEPS):  # v <- mu v + g ; theta <- theta - lr v   (Nesterov: theta <- theta - lr (g + mu v))
        gx, gy = bowl_grad(x, y)
        vx, vy = mu * vx + gx, mu * vy + gy
        if nesterov:
            x, y = x - lr * (gx + mu * vx), y - lr * (gy + mu * vy)
        else:
            x, y = x - lr * vx, y - lr * vy
        expected.append((x, y))
    assert_same_path(frame, expected)


def test_adam_on_the_bowl_follows_the_hand_written_rule():
    lr, b1, b2, eps = 0.3, 0.9, 0.999, 1e-8
    frame = optimize_2d(Surface("bowl", KAPPA), configure("adam", lr=lr), START, STEPS)
    theta = [START[0], START[1]]
    m, v = [0.0, 0.0], [0.0, 0.0]
    expected = [tuple(theta)]
    for t in range(1, STEPS + 1):
        g = bowl_grad(*theta)
        for i in range(2):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            m_hat, v_hat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)
            theta[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
        expected.append(tuple(theta))
    assert_same_path(frame, expected)
    # Adam's first step moves every coordinate by about lr, whatever the gradient's size: the
    # signature of per-parameter step sizes.
    first = frame.iloc[1]
    assert abs(first["x"] - START[0]) == pytest.approx(lr, rel=1e-6)
    assert abs(first["y"] - START[1]) == pytest.approx(lr, rel=1e-6)


def test_schedule_drives_the_2d_learning_rate():
    schedule = ScheduleConfig("step", step_every=3, gamma=0.5)
    frame = optimize_2d("bowl", OptimizerConfig("sgd", lr=0.1), START, 8, schedule)
    assert frame["lr"].iloc[:8].tolist() == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 2)


def test_a_too_large_rate_diverges_by_leaving_the_bound():
    # On the bowl SGD is stable only for lr < 2 / kappa = 0.2; at 0.25 the y coordinate grows by 1.5x per step.
    frame = optimize_2d(Surface("bowl", KAPPA), OptimizerConfig("sgd", lr=0.25), START, 200)
    assert set(frame["status"]) == {"diverged"}
    assert "Diverged" in frame.attrs["message"] and "left the area" in frame.attrs["message"]
    assert len(frame) < 20
    assert abs(frame["y"].iloc[-1]) > Surface("bowl").bound()


def test_an_overflowing_loss_diverges_too():
    frame = optimize_2d("rosenbrock", OptimizerConfig("sgd", lr=5.0), (-1.5, 2.0), 200)
    assert set(frame["status"]) == {"diverged"} and len(frame) < 10
    assert frame["loss"].map(math.isfinite).all()  # the non-finite point itself is not kept


def test_compare_2d_starts_every_run_at_the_same_point_and_one_diverging_run_leaves_others_alone():
    runs = {"sgd": configure("sgd", 0.1), "adam": configure("adam", 0.3), "wild": configure("sgd", 0.25)}
    frame = compare_2d(Surface("bowl", KAPPA), runs, START, 100)
    firsts = frame[frame["step"] == 0]
    assert len(firsts) == 3 and set(zip(firsts["x"], firsts["y"])) == {START}
    table = summary_2d(frame, Surface("bowl", KAPPA)).set_index("run")
    assert table.loc["wild", "status"] == "diverged"
    assert table.loc["sgd", "status"] == table.loc["adam", "status"] == "ok"
    assert table.loc["sgd", "steps"] == table.loc["adam", "steps"] == 100
    assert table.loc["sgd", "final_loss"] < 1e-6 and table.loc["sgd", "nearest_minimum"] == "(0, 0)"
    assert table.loc["sgd", "steps_to_tolerance"] > 0


def test_himmelblau_runs_report_their_nearest_of_four_minima():
    frame = compare_2d("himmelblau", {"sgd": configure("sgd", 0.01)}, (0.0, 0.0), 300)
    row = summary_2d(frame, "himmelblau").iloc[0]
    assert row["nearest_minimum"] == "(3, 2)" and row["distance"] < 1e-4


def test_surface_grid_covers_the_plotting_range():
    grid = surface_grid(Surface("bowl", KAPPA), resolution=20)
    assert len(grid) == 400
    assert grid["x_lo"].min() == pytest.approx(-5.0) and grid["x_hi"].max() == pytest.approx(5.0)
    assert grid["y_lo"].min() == pytest.approx(-3.0) and grid["y_hi"].max() == pytest.approx(3.0)
    expected = 0.5 * (grid["x"] ** 2 + KAPPA * grid["y"] ** 2)
    assert (grid["loss"] - expected).abs().max() < 1e-12
    assert grid["log10_loss"].min() < grid["log10_loss"].max()


@pytest.mark.parametrize("call", [
    lambda: optimize_2d("nope", OptimizerConfig("sgd"), None, 10),
    lambda: optimize_2d("bowl", OptimizerConfig("sgd"), None, 0),
    lambda: optimize_2d(Surface("bowl", 0.5), OptimizerConfig("sgd"), None, 10),
    lambda: optimize_2d("bowl", OptimizerConfig("sgd"), (1e6, 0.0), 10),
    lambda: optimize_2d("bowl", OptimizerConfig("sgd", lr=-1.0), None, 10),
    lambda: surface_grid("bowl", resolution=1),
])
def test_bad_settings_raise_invalid_config(call):
    with pytest.raises(InvalidConfig):
        call()
