"""Share an optimizer comparison: its settings to and from versioned JSON, its results as CSV.

A teacher exports the settings of a comparison, students import the file and get exactly the same
runs (same model, data subset, seed, optimizers and schedule). The JSON is written to be read and
edited by people::

    {"format": "cnn-playground/optimizer-comparison", "version": 1,
     "runs": [{"label": "SGD lr=0.05", "optimizer": "sgd", "lr": 0.05, "weight_decay": 0.0}, ...],
     "schedule": {"name": "none", ...}, "train": {"dataset": "mnist-5k", "epochs": 2, ...},
     "target_loss": 0.5, "surface": {"function": "rosenbrock", "start": [-1.5, 2.0], "steps": 300, ...}}

Malformed input raises InvalidConfig with a message naming the field (e.g. "runs[1].lr: expected a
number, got 'fast'").
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import pandas as pd

from cnn_core.data import DATASETS
from cnn_core.errors import InvalidConfig, short, short_repr
from cnn_core.experiments.compare import MAX_RUNS
from cnn_core.serialization import MAX_JSON_BYTES, from_jsonable, parse_json, to_jsonable
from cnn_core.teaching.toy_surfaces import MAX_STEPS, SURFACES, Surface
from cnn_core.training import TrainConfig
from cnn_core.training.budget import check_runs
from cnn_core.training.optimizers import (OPTIMIZERS, OptimizerConfig, ScheduleConfig, configure, make_optimizer,
                                          settings_of, tunables)

FORMAT = "cnn-playground/optimizer-comparison"
VERSION = 1
MIN_RUNS = 1


@dataclass(frozen=True)
class LabelledOptimizer:
    """One run of a comparison: its label and optimizer settings."""

    label: str
    optimizer: OptimizerConfig


@dataclass(frozen=True)
class SurfaceSettings:
    """The 2-D part of a comparison: which test function, where to start, how many steps, which optimizers."""

    function: str = "rosenbrock"
    condition: float = 10.0                 # the bowl's condition number
    start: tuple[float, float] | None = None  # None = the function's default start
    steps: int = 300
    runs: tuple[LabelledOptimizer, ...] = ()
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def surface(self) -> Surface:
        """The Surface these settings describe."""
        return Surface(self.function, self.condition)


@dataclass(frozen=True)
class ComparisonSettings:
    """Everything needed to repeat an optimizer comparison on a CNN (and optionally on a 2-D surface)."""

    runs: tuple[LabelledOptimizer, ...]
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    base: TrainConfig = field(default_factory=TrainConfig)  # shared by every run (its optimizer/schedule unused)
    target_loss: float = 0.5                # 'steps to reach this training loss' in the summary
    surface: SurfaceSettings | None = None

    def train_configs(self) -> dict[str, TrainConfig]:
        """One TrainConfig per run: the shared base with the run's optimizer and the shared schedule."""
        return {run.label: replace(self.base, optimizer=run.optimizer, schedule=self.schedule) for run in self.runs}


# ---------------------------------------------------------------- encoding

def _run_to_dict(run: LabelledOptimizer) -> dict[str, Any]:
    return {"label": run.label, "optimizer": run.optimizer.name, **settings_of(run.optimizer)}


def settings_to_dict(settings: ComparisonSettings) -> dict[str, Any]:
    """The JSON-able dict of a comparison's settings (format and version included)."""
    train = to_jsonable(settings.base)
    train.pop("optimizer", None)
    train.pop("schedule", None)
    out: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "runs": [_run_to_dict(r) for r in settings.runs],
        "schedule": to_jsonable(settings.schedule),
        "train": train,
        "target_loss": settings.target_loss,
    }
    if settings.surface is not None:
        s = settings.surface
        out["surface"] = {"function": s.function, "condition": s.condition,
                          "start": list(s.start) if s.start is not None else None, "steps": s.steps,
                          "schedule": to_jsonable(s.schedule)}
        if s.runs:  # no runs = keep the page's own 2-D list on import
            out["surface"]["runs"] = [_run_to_dict(r) for r in s.runs]
    return out


def settings_to_json(settings: ComparisonSettings) -> str:
    """Pretty JSON text of a comparison's settings."""
    return json.dumps(settings_to_dict(settings), indent=2, ensure_ascii=False)


# ---------------------------------------------------------------- decoding (every error names its field)

def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidConfig(f"{where}: expected a number, got {short_repr(value)}")
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidConfig(f"{where}: must be in [{low:g}, {high:g}], got {short_repr(value)}")
    return float(value)


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidConfig(f"{where}: expected a whole number, got {short_repr(value)}")
    if not low <= value <= high:
        raise InvalidConfig(f"{where}: must be in [{low}, {high}], got {short_repr(value)}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidConfig(f"{where}: expected an object {{...}}, got {type(value).__name__}")
    return value


def _run_from_dict(data: Any, where: str) -> LabelledOptimizer:
    data = _object(data, where)
    name = data.get("optimizer")
    if not isinstance(name, str):
        raise InvalidConfig(f"{where}.optimizer: expected an optimizer name such as 'adam', got {short_repr(name)}")
    if name not in OPTIMIZERS:
        raise InvalidConfig(f"{where}.optimizer: unknown optimizer {short_repr(name)}; "
                            f"choose one of {', '.join(OPTIMIZERS)}")
    knobs = tunables(name)
    allowed = {"label", "optimizer", "lr", "weight_decay", *knobs}
    unknown = sorted(set(data) - allowed)
    if unknown:
        listed = ", ".join(short_repr(k, 40) for k in unknown[:5])
        raise InvalidConfig(f"{where}: {OPTIMIZERS[name].label} has no setting {listed}; "
                            f"it takes {', '.join(sorted(allowed))}")
    lr = _number(data["lr"], f"{where}.lr", 1e-8, 100) if data.get("lr") is not None else None
    decay = _number(data["weight_decay"], f"{where}.weight_decay", 0, 1) if "weight_decay" in data else None
    hyper = {k: _number(data[k], f"{where}.{k}", 0, 1) for k in knobs if k in data}
    try:
        config = configure(name, lr, decay, **hyper)
        make_optimizer([_probe()], config)  # torch's own checks (e.g. beta ranges), before any training
    except InvalidConfig as exc:
        raise InvalidConfig(f"{where}: {exc}") from exc
    label = data.get("label")
    if label is None:
        label = config.label()
    if not isinstance(label, str) or not label.strip() or len(label) > 80:
        raise InvalidConfig(f"{where}.label: expected a short text (1-80 characters), got {short_repr(label)}")
    return LabelledOptimizer(label.strip(), config)


def _probe():
    import torch
    return torch.nn.Parameter(torch.zeros(2))


def _runs_from_list(data: Any, where: str) -> tuple[LabelledOptimizer, ...]:
    if not isinstance(data, list):
        raise InvalidConfig(f"{where}: expected a list of optimizer settings, got {type(data).__name__}")
    if not MIN_RUNS <= len(data) <= MAX_RUNS:
        raise InvalidConfig(f"{where}: a comparison has {MIN_RUNS} to {MAX_RUNS} runs, got {len(data)}")
    runs = tuple(_run_from_dict(item, f"{where}[{i}]") for i, item in enumerate(data))
    labels = [r.label for r in runs]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise InvalidConfig(f"{where}: run labels must be unique; repeated: {', '.join(duplicates)}")
    return runs


def _schedule_from(data: Any, where: str) -> ScheduleConfig:
    schedule = from_jsonable(ScheduleConfig, _object(data, where), where)
    try:
        schedule.validate()
    except InvalidConfig as exc:
        raise InvalidConfig(f"{where}: {exc}") from exc
    return schedule


def _train_from(data: Any, where: str) -> TrainConfig:
    data = dict(_object(data, where))
    for key in ("optimizer", "schedule"):
        if key in data:
            raise InvalidConfig(f"{where}.{key}: set optimizers under 'runs' and the schedule under 'schedule'")
    base = from_jsonable(TrainConfig, data, where)
    if base.dataset not in DATASETS:
        raise InvalidConfig(f"{where}.dataset: unknown dataset {short_repr(base.dataset)}; "
                            f"choose one of {', '.join(DATASETS)}")
    try:
        base.validate()
    except InvalidConfig as exc:
        raise InvalidConfig(f"{where}: {exc}") from exc
    return base


def _surface_from(data: Any, where: str) -> SurfaceSettings:
    data = _object(data, where)
    allowed = {"function", "condition", "start", "steps", "runs", "schedule"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidConfig(f"{where}: unknown field(s) {', '.join(short(k, 40) for k in unknown[:5])}")
    function = data.get("function", "rosenbrock")
    if not isinstance(function, str) or function not in SURFACES:
        raise InvalidConfig(f"{where}.function: unknown test function {short_repr(function)}; "
                            f"choose one of {', '.join(SURFACES)}")
    condition = _number(data.get("condition", 10.0), f"{where}.condition", 1, 1000)
    start = data.get("start")
    if start is not None:
        if not isinstance(start, list) or len(start) != 2:
            raise InvalidConfig(f"{where}.start: expected [x, y], got {short_repr(start)}")
        bound = Surface(function, condition).bound()
        start = tuple(_number(v, f"{where}.start[{i}]", -bound, bound) for i, v in enumerate(start))
    steps = _integer(data.get("steps", 300), f"{where}.steps", 1, MAX_STEPS)
    runs = _runs_from_list(data["runs"], f"{where}.runs") if "runs" in data else ()  # () = keep the page's list
    schedule = _schedule_from(data.get("schedule", {}), f"{where}.schedule")
    return SurfaceSettings(function, condition, start, steps, runs, schedule)


def settings_from_dict(data: Any) -> ComparisonSettings:
    """Rebuild and check a comparison's settings from a parsed JSON object."""
    data = _object(data, "settings")
    if "format" in data and data["format"] != FORMAT:
        raise InvalidConfig(f"format: this is a {short_repr(data['format'])} file, not an optimizer comparison "
                            f"({FORMAT!r})")
    if "version" not in data:
        raise InvalidConfig("version: missing; this does not look like exported optimizer-comparison settings")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidConfig(f"version: expected a whole number such as {VERSION}, got {short_repr(version)}")
    if version > VERSION:
        raise InvalidConfig(f"version: these settings were written by a newer playground (version {version}); "
                            f"this one reads version {VERSION}")
    allowed = {"format", "version", "runs", "schedule", "train", "target_loss", "surface"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidConfig(f"settings: unknown field(s) {', '.join(short(k, 40) for k in unknown[:5])}")
    if "runs" not in data:
        raise InvalidConfig("runs: missing; list the optimizers to compare")
    runs = _runs_from_list(data["runs"], "runs")
    schedule = _schedule_from(data.get("schedule", {}), "schedule")
    base = _train_from(data.get("train", {}), "train")
    target = _number(data.get("target_loss", 0.5), "target_loss", 0, 1e4)
    surface = _surface_from(data["surface"], "surface") if data.get("surface") is not None else None
    settings = ComparisonSettings(runs, schedule, base, target, surface)
    check_runs(settings.train_configs())  # BudgetExceeded before a single model is built
    return settings


def settings_from_json(text: str | bytes) -> ComparisonSettings:
    """Parse exported settings; malformed JSON or wrong values raise InvalidConfig naming the field."""
    if len(text) > MAX_JSON_BYTES:
        raise InvalidConfig(f"Settings file too large ({len(text):,} bytes); exported settings are a few KB "
                            f"(the limit is {MAX_JSON_BYTES // 1024} KiB)")
    if not (text.strip() if isinstance(text, str) else text.strip(b" \t\r\n")):
        raise InvalidConfig("Settings are empty: paste or upload the JSON exported from this page")
    data = parse_json(text, "The settings file")  # size, depth and number range bounded before parsing
    try:
        return settings_from_dict(data)
    except RecursionError:  # deep nesting that the parser still took, inside a field
        raise InvalidConfig("Not valid settings: the JSON is nested too deeply "
                            "(exported settings are only a few levels deep)") from None


# ---------------------------------------------------------------- results

def results_csv(frame: pd.DataFrame) -> str:
    """CSV text of a results frame (tidy records, a summary table or 2-D trajectories), no index."""
    return frame.to_csv(index=False)


def labelled(runs: Mapping[str, OptimizerConfig]) -> tuple[LabelledOptimizer, ...]:
    """LabelledOptimizers from a label -> OptimizerConfig mapping (insertion order kept)."""
    return tuple(LabelledOptimizer(label, config) for label, config in runs.items())

