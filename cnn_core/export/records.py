"""Read back what an exported script prints: one `key=value` line per step, per epoch and per run."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_PAIR = re.compile(r'(\w+)=("[^"]*"|\S+)')


@dataclass
class PrintedRun:
    """One run's printed records: its label, the step lines, the epoch lines and the final accuracies."""

    label: str
    steps: list[dict[str, float]] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)
    val_accuracy: float | None = None
    test_accuracy: float | None = None

    @property
    def losses(self) -> list[float]:
        """The training loss of every optimizer step, in order."""
        return [s["loss"] for s in self.steps]


def parse_records(text: str) -> list[PrintedRun]:
    """The runs an exported script printed (stdout text), in the order they ran."""
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
        if "val_accuracy" in values:
            run.val_accuracy, run.test_accuracy = values["val_accuracy"], values.get("test_accuracy")
        elif "loss" in values:
            run.steps.append(values)
        elif "val_acc" in values:
            run.epochs.append(values)
    return [runs[n] for n in sorted(runs)]
