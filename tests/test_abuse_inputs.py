"""The hostile-input corpus (tests/abuse_corpus.py): every input ends in a PlaygroundError, never another exception.

benchmarks/abuse.py replays the same corpus in child processes and prints the memory each one costs.
"""
from __future__ import annotations

import pytest

from cnn_core.errors import PlaygroundError
from tests import abuse_corpus
from tests.abuse_corpus import all_cases

CASES = all_cases()
KNOWN_GAPS: dict[str, str] = {}  # refused by code another issue owns (strict xfail); none left


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(
    reason=KNOWN_GAPS[c.name], strict=True)] if c.name in KNOWN_GAPS else []) for c in CASES])
def test_hostile_input_is_refused_with_a_message(case, monkeypatch):
    monkeypatch.setattr(abuse_corpus, "BOMB_MIB", 64)  # the same refusal as 1 GiB (benchmarks/abuse.py), less CPU
    data = case.make()
    with pytest.raises(PlaygroundError) as info:
        case.act(data)
    message = str(info.value)
    assert message and len(message) <= 600, f"{case.name}: message of {len(message):,} characters"
    assert "alloc_cpu" not in message and "Traceback" not in message


def test_the_corpus_covers_every_kind_of_input():
    groups = {c.group for c in CASES}
    assert groups == {"checkpoint", "json", "design", "run", "image"}
    assert len(CASES) >= 50
