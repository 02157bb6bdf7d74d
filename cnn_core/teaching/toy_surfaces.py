"""2-D test functions for optimizers: the same torch.optim code as on a CNN, on a 2-element parameter.

On a surface you can *see* what an optimizer does: momentum overshooting in a narrow valley, Adam
escaping a saddle, plain SGD zig-zagging in an ill-conditioned bowl. Every function here has its
global minimum at loss 0, so losses plot on a log scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import torch

from cnn_core.errors import InvalidConfig
from cnn_core.training.optimizers import OptimizerConfig, ScheduleConfig, make_optimizer, make_scheduler

Point = tuple[float, float]
SurfaceFn = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # (x, y, condition) -> loss, elementwise

MAX_STEPS = 5000
TRAJECTORY_COLUMNS = ["step", "x", "y", "loss", "lr", "grad_norm", "status"]


@dataclass(frozen=True)
class SurfaceSpec:
    """A registry entry: the function, where to start and look, its minima and suggested learning rates."""

    label: str
    formula: str                      # LaTeX
    explanation: str
    fn: SurfaceFn
    start: Point                      # default start point
    x_range: tuple[float, float]      # plotting range
    y_range: tuple[float, float]
    minima: Callable[[float], tuple[Point, ...]]  # global minima (loss 0) for a condition number
    suggested_lr: Mapping[str, float]  # per optimizer name: a rate that shows something on this surface


def _rosenbrock(x: torch.Tensor, y: torch.Tensor, _: float) -> torch.Tensor:
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def _beale(x: torch.Tensor, y: torch.Tensor, _: float) -> torch.Tensor:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2


def _bowl(x: torch.Tensor, y: torch.Tensor, condition: float) -> torch.Tensor:
    # Hessian diag(1, condition): curvature `condition` times steeper along y than along x.
    return 0.5 * (x ** 2 + condition * y ** 2)


def _saddle(x: torch.Tensor, y: torch.Tensor, _: float) -> torch.Tensor:
    # A saddle point at (0, 0) (loss 0.5) between two minima at (0, -1) and (0, 1).
    return x ** 2 - y ** 2 + 0.5 * y ** 4 + 0.5


def _himmelblau(x: torch.Tensor, y: torch.Tensor, _: float) -> torch.Tensor:
    return (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2


_COMMON_LR = {"adagrad": 0.5, "rmsprop": 0.01, "adadelta": 1.0, "adam": 0.05, "adamw": 0.05, "nadam": 0.05}

SURFACES: dict[str, SurfaceSpec] = {
    "rosenbrock": SurfaceSpec(
        "Rosenbrock's banana valley", r"f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2",
        "A long, curved, flat-bottomed valley: finding the valley is easy, following it to (1, 1) is hard.",
        _rosenbrock, (-1.5, 2.0), (-2.0, 2.0), (-1.0, 3.0), lambda c: ((1.0, 1.0),),
        {**_COMMON_LR, "sgd": 0.001, "momentum": 0.001, "nesterov": 0.001, "adam": 0.1, "adamw": 0.1,
         "nadam": 0.1}),
    "beale": SurfaceSpec(
        "Beale's function", r"f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
        "Flat plateaus and sharp ridges; the minimum sits at (3, 0.5) in a narrow curved trough.",
        _beale, (1.0, 1.5), (-4.5, 4.5), (-4.5, 4.5), lambda c: ((3.0, 0.5),),
        {**_COMMON_LR, "sgd": 0.005, "momentum": 0.001, "nesterov": 0.001, "adagrad": 0.5}),
    "bowl": SurfaceSpec(
        "Quadratic bowl (choose its condition number)", r"f(x, y) = \tfrac12\,(x^2 + \kappa\, y^2)",
        "An elongated bowl, kappa times steeper along y than along x. SGD's rate is limited by the steep "
        "direction (it diverges above 2 / kappa) and then crawls along the flat one; momentum keeps its speed.",
        _bowl, (-4.5, 2.0), (-5.0, 5.0), (-3.0, 3.0), lambda c: ((0.0, 0.0),),
        {**_COMMON_LR, "sgd": 0.035, "momentum": 0.01, "nesterov": 0.01, "adam": 0.3, "adamw": 0.3, "nadam": 0.3}),
    "saddle": SurfaceSpec(
        "Saddle point between two valleys", r"f(x, y) = x^2 - y^2 + \tfrac12 y^4 + \tfrac12",
        "Start almost exactly on the ridge: the gradient across it is tiny, so plain SGD lingers at the "
        "saddle (0, 0) before sliding into one of the minima at (0, -1) or (0, 1).",
        _saddle, (-1.8, 0.001), (-2.0, 2.0), (-2.0, 2.0), lambda c: ((0.0, -1.0), (0.0, 1.0)),
        {**_COMMON_LR, "sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adam": 0.05}),
    "himmelblau": SurfaceSpec(
        "Himmelblau's function (four minima)", r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        "Four equally good minima: from the same start, different optimizers may end in different ones.",
        _himmelblau, (0.0, 0.0), (-5.0, 5.0), (-5.0, 5.0),
        lambda c: ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
        {**_COMMON_LR, "sgd": 0.01, "momentum": 0.003, "nesterov": 0.003, "adam": 0.1, "adamw": 0.1, "nadam": 0.1}),
}


@dataclass(frozen=True)
class Surface:
    """A chosen test function: a SURFACES key plus the bowl's condition number (hashable)."""

    name: str = "rosenbrock"
    condition: float = 10.0  # ratio of the largest to the smallest curvature (used by 'bowl' only)

    def validate(self) -> None:
        """Raise InvalidConfig for an unknown function or a condition number outside [1, 1000]."""
        if self.name not in SURFACES:
            raise InvalidConfig(f"Unknown test function '{self.name}'. Choose one of: {', '.join(SURFACES)}")
        if not (math.isfinite(self.condition) and 1 <= self.condition <= 1000):
            raise InvalidConfig(f"Condition number must be in [1, 1000], got {self.condition}")

    @property
    def spec(self) -> SurfaceSpec:
        """The registry entry."""
        self.validate()
        return SURFACES[self.name]

    def value(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss at points (x, y), elementwise (any matching shapes)."""
        return self.spec.fn(x, y, self.condition)

    def minima(self) -> tuple[Point, ...]:
        """The global minima (all at loss 0)."""
        return self.spec.minima(self.condition)

    def bound(self) -> float:
        """A trajectory with |x| or |y| beyond this has left the picture for good: 'diverged'."""
        spec = self.spec
        return 5.0 * max(abs(v) for v in (*spec.x_range, *spec.y_range))

    def suggested_lr(self, optimizer: str) -> float:
        """A learning rate for `optimizer` that gives a readable trajectory on this surface."""
        return float(self.spec.suggested_lr.get(optimizer, 0.01))


def as_surface(function: str | Surface, condition: float = 10.0) -> Surface:
    """A validated Surface from a registry name (with condition number) or a Surface."""
    surface = function if isinstance(function, Surface) else Surface(str(function), float(condition))
    surface.validate()
    return surface


def optimize_2d(function: str | Surface, optimizer_config: OptimizerConfig, start: Point | None = None,
                steps: int = 200, schedule: ScheduleConfig = ScheduleConfig()) -> pd.DataFrame:
    """Run a torch.optim optimizer (and schedule) on a 2-element parameter; one row per visited point.

    Columns: step (0 = the start), x, y, loss, lr (the rate of the step taken from this point),
    grad_norm, status ('ok' or 'diverged' on every row). A run whose loss becomes NaN/inf or whose
    point leaves the surface's bound stops; frame.attrs['message'] then says why.
    """
    surface = as_surface(function)
    if not 1 <= steps <= MAX_STEPS:
        raise InvalidConfig(f"Steps must be 1..{MAX_STEPS}, got {steps}")
    start = surface.spec.start if start is None else (float(start[0]), float(start[1]))
    bound = surface.bound()
    if not all(math.isfinite(v) and abs(v) <= bound for v in start):
        raise InvalidConfig(f"Start point must lie within +-{bound:g}, got {start}")
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)  # shape 2: (x, y)
    optimizer = make_optimizer([theta], optimizer_config)
    scheduler = make_scheduler(optimizer, schedule, steps)
    rows: list[tuple] = []
    status, message = "ok", ""
    for step in range(steps + 1):
        optimizer.zero_grad(set_to_none=True)
        loss = surface.value(theta[0], theta[1])
        x_val, y_val = theta.detach().tolist()
        loss_val = loss.item()
        if not math.isfinite(loss_val):
            status, message = "diverged", f"Diverged at step {step}: the loss became {loss_val}."
            break
        if abs(x_val) > bound or abs(y_val) > bound:
            rows.append((step, x_val, y_val, loss_val, math.nan, math.nan))
            status = "diverged"
            message = (f"Diverged at step {step}: the point ({x_val:.3g}, {y_val:.3g}) left the area "
                       f"|x|, |y| <= {bound:g}.")
            break
        lr = optimizer.param_groups[0]["lr"]
        if step == steps:  # the last point: no step is taken from it
            rows.append((step, x_val, y_val, loss_val, math.nan, math.nan))
            break
        loss.backward()
        grad_norm = theta.grad.norm().item()
        rows.append((step, x_val, y_val, loss_val, lr, grad_norm))
        optimizer.step()
        scheduler.step()
    frame = pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS[:-1])
    frame["status"] = status
    frame.attrs["message"] = message
    return frame


def compare_2d(function: str | Surface, optimizers: Mapping[str, OptimizerConfig], start: Point | None = None,
               steps: int = 200, schedule: ScheduleConfig = ScheduleConfig()) -> pd.DataFrame:
    """Every labelled optimizer from the same start; one frame with a leading 'run' column."""
    frames = []
    for label, config in optimizers.items():
        frame = optimize_2d(function, config, start, steps, schedule)
        message = frame.attrs.get("message", "")
        frame.insert(0, "run", label)
        frame["message"] = message
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["run", *TRAJECTORY_COLUMNS, "message"])
    return pd.concat(frames, ignore_index=True)


def surface_grid(function: str | Surface, resolution: int = 80) -> pd.DataFrame:
    """The loss on a resolution x resolution grid over the plotting range, one row per cell.

    Columns: x, y (cell centre), loss, x_lo, x_hi, y_lo, y_hi (cell edges, for filled rectangles),
    log10_loss (log10 of loss + 0.001: the colour of a contour map).
    """
    surface = as_surface(function)
    if not 4 <= resolution <= 400:
        raise InvalidConfig(f"Grid resolution must be 4..400, got {resolution}")
    spec = surface.spec
    xs = torch.linspace(*spec.x_range, resolution + 1, dtype=torch.float64)  # cell edges
    ys = torch.linspace(*spec.y_range, resolution + 1, dtype=torch.float64)
    xc, yc = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2                  # cell centres, resolution each
    gx, gy = torch.meshgrid(xc, yc, indexing="xy")                             # resolution x resolution
    loss = surface.value(gx, gy)
    half_x, half_y = (xs[1] - xs[0]).item() / 2, (ys[1] - ys[0]).item() / 2
    frame = pd.DataFrame({"x": gx.flatten().numpy(), "y": gy.flatten().numpy(), "loss": loss.flatten().numpy()})
    frame["x_lo"], frame["x_hi"] = frame["x"] - half_x, frame["x"] + half_x
    frame["y_lo"], frame["y_hi"] = frame["y"] - half_y, frame["y"] + half_y
    frame["log10_loss"] = np.log10(frame["loss"].clip(lower=0) + 1e-3)
    return frame


def summary_2d(trajectories: pd.DataFrame, function: str | Surface, tolerance: float = 1e-3) -> pd.DataFrame:
    """One row per run: status, steps taken, final point and loss, nearest minimum, steps to loss < tolerance."""
    surface = as_surface(function)
    rows = []
    for run, frame in trajectories.groupby("run", sort=False):
        last = frame.iloc[-1]
        nearest = min(surface.minima(), key=lambda m: math.dist(m, (last["x"], last["y"])))
        below = frame.loc[frame["loss"] < tolerance, "step"]
        rows.append({
            "run": run,
            "status": last["status"],
            "steps": int(last["step"]),
            "final_loss": float(last["loss"]),
            "final_x": float(last["x"]),
            "final_y": float(last["y"]),
            "nearest_minimum": f"({nearest[0]:g}, {nearest[1]:g})",
            "distance": math.dist(nearest, (last["x"], last["y"])),
            "steps_to_tolerance": int(below.iloc[0]) if len(below) else None,
        })
    table = pd.DataFrame(rows)
    if not table.empty:
        table["steps_to_tolerance"] = table["steps_to_tolerance"].astype("Int64")
    return table
