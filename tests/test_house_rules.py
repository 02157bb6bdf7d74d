"""The house plan, checked: cnn_core's layers hold (import-linter), it stays a few subpackages,
every subpackage sits in the layers contract, and no file in pages/ grows past 250 lines."""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "cnn_core"
MAX_TOP_LEVEL_MODULES = 6
MAX_PAGE_LINES = 250


def _lint_imports(cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is not installed: pip install -r requirements-dev.txt", pytrace=False)
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, **(env or {})})


def _layers_contract() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return [line.strip() for line in parser["importlinter:contract:layers"]["layers"].splitlines() if line.strip()]


def test_lint_imports_keeps_every_contract():
    result = _lint_imports(ROOT, {"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and " 0 broken" in result.stdout, result.stdout + result.stderr


def test_lint_imports_catches_an_upward_import(tmp_path):
    # The same kind of contract on a two-layer toy package whose lower layer imports the upper one.
    package = tmp_path / "toycore"
    for layer in ("models", "experiments"):
        (package / layer).mkdir(parents=True)
        (package / layer / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "models" / "__init__.py").write_text("from toycore.experiments import *  # upward: forbidden\n")
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_package = toycore\n\n[importlinter:contract:layers]\nname = toy layers\n"
        "type = layers\ncontainers = toycore\nlayers =\n    experiments\n    models\n")
    result = _lint_imports(tmp_path, {"PYTHONPATH": str(tmp_path)})
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout + result.stderr
    assert "toycore.models" in result.stdout


def test_every_cnn_core_subpackage_is_in_the_layers_contract():
    listed = {name.strip() for line in _layers_contract() for name in line.split("|")}
    subpackages = {p.name for p in CORE.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in CORE.glob("*.py") if p.name != "__init__.py"}
    assert subpackages - listed == set(), "add the new subpackage to the layers contract in .importlinter"
    assert listed <= subpackages | modules, f"the contract names a missing layer: {listed - subpackages - modules}"


def test_cnn_core_has_at_most_six_top_level_modules():
    modules = sorted(p.name for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, f"{len(modules)} modules at cnn_core's top level: {modules}"


PAGE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").rglob("*.py"))


@pytest.mark.parametrize("path", PAGE_FILES)
def test_no_file_in_pages_is_over_250_lines(path):
    lines = len((ROOT / path).read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_PAGE_LINES, f"{path} has {lines} lines: split it into named sections in its page's own pages/<topic>/ folder"


def test_the_house_rules_see_real_files():
    # Guards the tests above against passing on an empty glob.
    assert len(PAGE_FILES) >= 10 and (CORE / "__init__.py").is_file() and sys.version_info >= (3, 10)
