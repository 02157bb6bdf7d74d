"""Read back what an exported script prints: one `key=value` line per step, per epoch and per run."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_PAIR = re.compile(r'(\w+)=("[^"]*"|\S+)')


@dataclass
class PrintedRun:
    """One run's printed records: its label, the step lines, the epoch lines and the final metrics."""

    label: str
    steps: list[dict[str, float]] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)  # the last line: val_accuracy=..., val_map50=..., ...

    @property
    def val_accuracy(self) -> float | None:
        """A classifier's final validation accuracy (None when the run did not print one)."""
        return self.final.get("val_accuracy")

    @property
    def test_accuracy(self) -> float | None:
        """A classifier's final test accuracy (None when the run did not print one)."""
        return self.final.get("test_accuracy")

    @property
    def losses(self) -> list[float]:
        """The training loss of every optimizer step, in order."""
        return [s["loss"] for s in self.steps]


def parse_records(text: str) -> list[PrintedRun]:
    """The runs an exported script printed (stdout text), in the order they ran.

    A line with `step=` and `loss=` is one optimizer step; one with `epoch=` (and no `step=`) is an epoch's
    summary; any other `run=N key=value ...` line holds the run's final metrics.
    """
    runs: dict[int, PrintedRun] = {}
    for line in text.splitlines():
        pairs = dict(_PAIR.findall(line))
        if "run" not in pairs or not pairs["run"].isdigit():
            continue
        number = int(pairs.pop("run"))
        if "label" in pairs:
            runs[number] = PrintedRun(pairs["label"].strip('"'))
            continue
        run = runs.setdefault(number, PrintedRun(str(number)))
        values = {k: float(v) for k, v in pairs.items()}
        if "step" in values and "loss" in values:
            run.steps.append(values)
        elif "epoch" in values and "step" not in values:
            run.epochs.append(values)
        elif values and "step" not in values:
            run.final.update(values)
    return [runs[n] for n in sorted(runs)]
