"""The run protocol: what every run (classifier, detector, segmenter) offers the loops that drive it.

`compare.interleave`, the executors and the pages drive a run only through `Run`: iterate `records()`
(again to continue), read `status`, `history`, `epoch`, `step` and `model`, save it with `checkpoint()`.
Every run ends a diverging loss the same way, through `DivergenceCheck`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Iterator, Protocol, runtime_checkable

from torch import nn

from cnn_core.models.cost import Estimate
from cnn_core.training.config import DIVERGENCE_FACTOR, DIVERGENCE_LOSS, Record, RunStatus


@runtime_checkable
class Run(Protocol):
    """A model, its optimizer and data; `records()` trains and yields Records (or a subclass of Record)."""

    config: Hashable
    model: nn.Module
    history: list[Record]
    status: RunStatus
    epoch: int  # finished epochs
    step: int   # optimizer steps taken

    def records(self, epochs: int | None = None) -> Iterator[Record]:
        """Train `epochs` more epochs (default: the config's), yielding step and epoch records."""
        ...

    def checkpoint(self) -> bytes:
        """The weights, the config and the history as the bytes of one torch.save file."""
        ...


@runtime_checkable
class RunConfig(Protocol):
    """A run kind that builds its own data (scenes): compare.make_run builds it with `make_run`.

    A TrainConfig needs a dataset, so compare builds its TrainingRun itself.
    """

    epochs: int
    seed: int

    def validate(self) -> None:
        """Raise InvalidConfig naming the first value that cannot run."""
        ...

    def check_budget(self) -> Estimate:
        """BudgetExceeded (with what to change) when the run is over this server's budget; its price otherwise."""
        ...

    def planned_steps(self) -> int:
        """Optimizer steps of all the config's epochs."""
        ...

    def make_run(self, priced: Estimate | None = None) -> Run:
        """The run of this config; `priced`: its price from check_budget, so the run does not price it again."""
        ...


@dataclass
class DivergenceCheck:
    """The one divergence rule of every run: a loss that is NaN, infinite, above `limit`, or above `factor`
    times the run's first loss ends the run before its step is taken."""

    factor: float = DIVERGENCE_FACTOR
    limit: float = DIVERGENCE_LOSS
    first: float | None = None  # the run's first loss (the scale the factor applies to)

    def __call__(self, value: float) -> bool:
        """True when this step's loss `value` diverged (the first call also sets the run's first loss)."""
        if self.first is None:
            self.first = value
        limit = min(self.limit, self.factor * max(self.first, 1e-3))
        return not math.isfinite(value) or value > limit

    def message(self, step: int) -> str:
        """What a 'diverged' record says; `step` is the steps taken before it."""
        return (f"Diverged at step {step + 1}: the loss became NaN, infinite or more than {self.factor:g} times "
                "its starting value. Try a smaller learning rate.")
