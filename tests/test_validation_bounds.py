"""Every numeric widget on every page has a lower and an upper bound.

Two audits: (1) every page runs under AppTest and each rendered st.number_input has min and max in
its proto (st.slider always has both; it must still span a real range); (2) a static pass over
pages/*.py and pages/common/*.py finds every number_input call, including those drawn only after
an action (an upload, a finished run), and checks it passes min_value and max_value.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import PAGES_DIR

PAGE_FILES = sorted(p.name for p in PAGES_DIR.glob("*.py"))
SOURCE_FILES = sorted(PAGES_DIR.glob("*.py")) + sorted((PAGES_DIR / "common").glob("*.py"))


@pytest.mark.parametrize("page", PAGE_FILES)
def test_rendered_numeric_widgets_have_min_and_max(app_test, page):
    at = app_test(f"pages/{page}").run()
    assert not at.exception, [e.value for e in at.exception]
    unbounded = [f"number_input {w.label!r} (key={w.key}): min={w.min}, max={w.max}"
                 for w in at.number_input if w.min is None or w.max is None]
    flat = [f"slider {w.label!r} (key={w.key}): min={w.min}, max={w.max}"
            for w in at.slider if not w.min < w.max]
    assert not unbounded + flat, f"{page}: " + "; ".join(unbounded + flat)


def _number_input_calls(path: Path) -> list[tuple[int, str, bool, bool]]:
    """(line, label, has_min, has_max) of each .number_input(...) call in a source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "number_input"):
            continue
        if any(kw.arg is None for kw in node.keywords):  # **kwargs: cannot be checked statically
            found.append((node.lineno, "<**kwargs>", False, False))
            continue
        keywords = {kw.arg for kw in node.keywords}
        label = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else "<expr>"
        starred = any(isinstance(a, ast.Starred) for a in node.args)  # *BOUNDS[...]: the rendered audit checks it
        has_min = starred or len(node.args) >= 2 or "min_value" in keywords
        has_max = starred or len(node.args) >= 3 or "max_value" in keywords
        found.append((node.lineno, str(label), has_min, has_max))
    return found


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def test_every_number_input_call_passes_min_and_max():
    problems = []
    total = 0
    for path in SOURCE_FILES:
        for line, label, has_min, has_max in _number_input_calls(path):
            total += 1
            if not (has_min and has_max):
                problems.append(f"{path.relative_to(PAGES_DIR.parent)}:{line} number_input {label!r}: "
                                f"min_value {'ok' if has_min else 'MISSING'}, max_value {'ok' if has_max else 'MISSING'}")
    assert total > 0, "no number_input found in pages/"
    assert not problems, "\n".join(problems)


def test_no_number_input_passes_none_as_a_bound():
    problems = []
    for path in SOURCE_FILES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("number_input", "slider"):
                bounds = list(node.args[1:3]) + [kw.value for kw in node.keywords if kw.arg in ("min_value", "max_value")]
                if any(_is_none(b) for b in bounds):
                    problems.append(f"{path.relative_to(PAGES_DIR.parent)}:{node.lineno}")
    assert not problems, f"a bound of None means unbounded: {problems}"


def test_every_cache_data_is_bounded():
    """Results cached with st.cache_data are per-input copies: without max_entries/ttl they grow forever
    on a server that a whole class uses."""
    problems = []
    for path in SOURCE_FILES + [PAGES_DIR.parent / "playground.py"]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for decorator in getattr(node, "decorator_list", []):
                call = decorator if isinstance(decorator, ast.Call) else None
                target = call.func if call else decorator
                if getattr(target, "attr", None) != "cache_data":
                    continue
                keywords = {kw.arg for kw in call.keywords} if call else set()
                if not keywords & {"max_entries", "ttl"}:
                    problems.append(f"{path.relative_to(PAGES_DIR.parent)}:{node.lineno} {node.name}()")
    assert not problems, f"st.cache_data without max_entries or ttl: {problems}"
