"""Every command the README and the guides show still works: a documented benchmark flag that a script no longer
takes, a script that moved, or a module that no longer runs fails here.

Commands are read from the fenced code blocks and the inline code of README.md and docs/*.md. A benchmark runs
with its smallest settings (SMOKE); the class-server ones (browsers, 100 sessions) are checked through ``--help``.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND_RE = re.compile(r"(?:`|^)\s*(python3? (?:benchmarks/[\w/]+\.py|-m [\w.]+)[^`\n]*)", re.M)
# the smallest settings of the benchmarks cheap enough to run in the suite (seconds on 2 cores)
SMOKE = {
    "benchmarks/train_throughput.py": ["--epochs", "1", "--repeats", "1"],
    "benchmarks/segmentation.py": ["--epochs", "1", "--scenes", "40"],
    "benchmarks/compare_optimizers.py": ["--epochs", "1", "--repeats", "1", "--per-class", "10"],
    "benchmarks/seed_drift.py": ["--epochs", "1"],
}


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every python command in the docs."""
    found = []
    for doc in DOCS:
        for match in COMMAND_RE.finditer(doc.read_text(encoding="utf-8")):
            found.append((doc.relative_to(ROOT).as_posix(), match.group(1).strip().rstrip("`").strip()))
    return found


COMMANDS = documented_commands()
SCRIPTS = sorted({shlex.split(c)[1] for _, c in COMMANDS if shlex.split(c)[1].startswith("benchmarks/")})


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def test_the_docs_show_benchmark_and_module_commands():
    assert len(SCRIPTS) >= 6 and any("warm_cache" in c for _, c in COMMANDS), COMMANDS


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_documented_flag_is_taken_by_its_script(script):
    assert (ROOT / script).is_file(), f"the docs name {script}, which does not exist"
    help_text = _run([script, "--help"], timeout=180)
    assert help_text.returncode == 0, help_text.stderr[-2000:]
    for doc, command in COMMANDS:
        words = shlex.split(command)
        if words[1] == script:
            missing = [f for f in (w.split("=")[0] for w in words[2:] if w.startswith("--"))
                       if f not in help_text.stdout]
            assert missing == [], f"{doc}: `{command}` passes {missing}, which {script} no longer takes"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_a_documented_benchmark_runs_with_its_smallest_settings(script):
    assert script in SCRIPTS, f"{script} is no longer in the docs: drop it from SMOKE"
    result = _run([script, *SMOKE[script]], timeout=540)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stdout.strip(), "a benchmark prints its figures"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_warm_cache_runs(tmp_path):
    command = next(c for _, c in COMMANDS if "warm_cache" in c)
    result = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=ROOT, capture_output=True, text=True,
                            timeout=280, env={**os.environ, "CNN_PLAYGROUND_CACHE": str(tmp_path / "models"),
                                              "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert any((tmp_path / "models").iterdir()), "warm_cache trains and stores the digit models"
