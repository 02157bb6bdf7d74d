"""No import cycle between any two modules of cnn_core, function-level imports included.

import-linter's contracts check the direction of imports between layers; a cycle inside one layer (a
builder that prices through a module that builds through the builder) slips past them. This test
builds cnn_core's import graph with grimp (import-linter's own graph library, which also records
imports inside functions) and fails on every strongly connected component of more than one module,
printing one cycle of it with the import lines.

Run it:  python3 -m pytest -q -p no:randomly tests/test_import_cycles.py
"""
from __future__ import annotations

from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """The graph's strongly connected components of two or more modules (Tarjan's algorithm, iterative)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]  # (module, position in its edge list): the recursion's frames
        while work:
            module, position = work.pop()
            if position == 0:
                index[module] = low[module] = len(index)
                stack.append(module)
                on_stack.add(module)
            targets = edges[module]
            if position < len(targets):
                work.append((module, position + 1))
                target = targets[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
                continue
            if low[module] == index[module]:  # the root of a component: pop it off the stack
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
            if work:  # back in the caller's frame: carry the low link up
                caller = work[-1][0]
                low[caller] = min(low[caller], low[module])
    return components


def describe_cycle(graph: grimp.ImportGraph, component: list[str]) -> str:
    """One cycle through the component's first module, each step with its import line(s)."""
    start = component[0]
    target = next(t for t in sorted(graph.find_modules_directly_imported_by(start)) if t in component)
    chain = [start, *graph.find_shortest_chain(importer=target, imported=start)]
    steps = []
    for importer, imported in zip(chain, chain[1:]):
        lines = "; ".join(f"line {d['line_number']}: {d['line_contents'].strip()}"
                          for d in graph.get_import_details(importer=importer, imported=imported))
        steps.append(f"  {importer} -> {imported}   ({lines})")
    return "\n".join([" -> ".join(chain), *steps, f"  (modules in this cycle: {', '.join(component)})"])


def cycles_report(package: str) -> str:
    """Every cycle component of `package` described, or '' when there is none."""
    graph = grimp.build_graph(package, cache_dir=None)
    return "\n\n".join(describe_cycle(graph, c) for c in strongly_connected(graph))


def test_cnn_core_has_no_import_cycle(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    report = cycles_report("cnn_core")
    assert report == "", f"import cycles in cnn_core (break each one; see .importlinter):\n{report}"


def _toy_package(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = tmp_path / "toycycle" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_through_a_function_level_import_is_found_and_printed(tmp_path, monkeypatch):
    # The shape cnn_core once had: builder -> cost at module level, cost -> builder inside a function.
    _toy_package(tmp_path, {
        "__init__.py": "",
        "builder.py": "from toycycle.cost import price\n",
        "cost.py": "def price():\n    from toycycle.builder import build\n",
        "leaf.py": "import toycycle.cost\n",  # imports into the cycle without being part of it
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    report = cycles_report("toycycle")
    assert report.splitlines()[0] == "toycycle.builder -> toycycle.cost -> toycycle.builder"
    assert "line 2: from toycycle.builder import build" in report
    assert "leaf" not in report


def test_the_components_match_networkx(tmp_path, monkeypatch):
    networkx = pytest.importorskip("networkx")
    _toy_package(tmp_path, {
        "__init__.py": "",
        "a.py": "import toycycle.b\n", "b.py": "import toycycle.c\n", "c.py": "import toycycle.a\nimport toycycle.d\n",
        "d.py": "def f():\n    import toycycle.e\n", "e.py": "import toycycle.d\n", "f.py": "import toycycle.a\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("toycycle", cache_dir=None)
    reference = networkx.DiGraph([(m, t) for m in graph.modules for t in graph.find_modules_directly_imported_by(m)])
    expected = sorted(sorted(c) for c in networkx.strongly_connected_components(reference) if len(c) > 1)
    assert sorted(strongly_connected(graph)) == expected
    assert len(expected) == 2
