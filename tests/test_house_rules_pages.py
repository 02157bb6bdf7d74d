"""The UI's house rules, read from the source: pages/common is truly shared, a page's rooms stay its own,
no module rebinds ``st``, and no widget drawn straight on ``st`` slips out of the lesson links unnamed."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pages.common.links import LINKABLE
from pages.common.links.unlinked import UNLINKED, is_unlinked

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "pages"
COMMON = PAGES / "common"
MAX_COMMON_MODULES = 12
ENTRY_FILES = [ROOT / "playground.py", *sorted(PAGES.glob("[0-9]*_*.py"))]
UI_FILES = sorted(PAGES.rglob("*.py")) + [ROOT / "playground.py"]


def module_name(path: Path) -> str:
    """`pages/common/live/__init__.py` -> `pages.common.live`."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PAGES.rglob("*.py") if not p.name[0].isdigit()}


def imported_modules(path: Path) -> set[str]:
    """The pages.* modules `path` imports (``from pkg import sub`` counts `pkg.sub` when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pages.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pages."):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
    # importing pkg.sub runs pkg/__init__.py too
    parents = {".".join(m.split(".")[:i]) for m in found for i in range(2, m.count(".") + 1)}
    return {m for m in found | parents if m in MODULES}


def reachable(path: Path) -> set[str]:
    """Every pages.* module that `path` imports, directly or through other modules."""
    seen: set[str] = set()
    todo = list(imported_modules(path))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(imported_modules(MODULES[name]) - seen)
    return seen


USERS = {entry: reachable(entry) for entry in ENTRY_FILES}
COMMON_MODULES = sorted(m for m in MODULES if m.startswith("pages.common.") and m != "pages.common")


@pytest.mark.parametrize("name", COMMON_MODULES)
def test_every_common_module_serves_two_or_more_pages(name):
    users = sorted(e.name for e, mods in USERS.items() if name in mods)
    assert len(users) >= 2, (f"{name} is used by {users or 'no page'}: a section of one page lives in that "
                             "page's own pages/<topic>/ folder")


def test_no_page_room_imports_another_page_room():
    rooms = {p.name for p in PAGES.iterdir() if p.is_dir() and p.name not in ("common", "__pycache__")}
    wrong = []
    for name, path in MODULES.items():
        parts = name.split(".")
        if len(parts) > 2 and parts[1] in rooms:
            for other in imported_modules(path):
                if other.split(".")[1] in rooms - {parts[1]}:
                    wrong.append(f"{name} imports {other}")
    assert wrong == [], "move what two pages share into pages/common/: " + "; ".join(wrong)


def test_pages_common_holds_at_most_twelve_modules_directly():
    direct = sorted(p.name for p in COMMON.glob("*.py") if p.name != "__init__.py")
    assert len(direct) <= MAX_COMMON_MODULES, f"{len(direct)} modules directly in pages/common: {direct}"


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_rebinds_st(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rebinds = [n.lineno for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign))
               for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
               if isinstance(t, ast.Name) and t.id == "st"]
    assert rebinds == [], f"{path.name} assigns st on lines {rebinds}: draw linked widgets through ui = links.bound(st)"


def _literal_key(call: ast.Call) -> str | None:
    for kw in call.keywords:
        if kw.arg == "key" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    return None


def _receiver_root(func: ast.expr) -> str | None:
    node = func.value if isinstance(func, ast.Attribute) else None
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def test_widgets_drawn_straight_on_streamlit_are_named_in_the_allowlist():
    # st.slider(..., key=...) and st.sidebar.slider(..., key=...) never join a link: each must say why.
    unnamed = []
    for path in UI_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LINKABLE
                    and _receiver_root(node.func) in ("st", "streamlit")):
                key = _literal_key(node)
                if key and not is_unlinked(key):
                    unnamed.append(f"{path.relative_to(ROOT)}:{node.lineno} key={key!r}")
    assert unnamed == [], "draw these through ui = links.bound(st), or name them in UNLINKED: " + "; ".join(unnamed)


def test_every_allowlist_entry_has_a_reason():
    assert all(isinstance(why, str) and len(why.split()) >= 5 for why in UNLINKED.values())


def test_the_rules_see_real_files():
    assert len(ENTRY_FILES) >= 13 and len(COMMON_MODULES) >= 5 and "pages.common.links" in MODULES


@pytest.mark.parametrize("path", ENTRY_FILES[1:], ids=lambda p: p.name)
def test_every_page_has_one_shape(path):
    # def main() draws the page; the module ends by calling it (then links.finish_page(), where the page links)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), f"{path.name} has no main()"
    calls = [ast.unparse(n.value) for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    assert calls and calls[0] == "main()" and set(calls[1:]) <= {"links.finish_page()"}, calls


# the pages that run experiments: their script runs take turns on the server's interpreter in a lecture hall
EXPERIMENT_PAGES = ("5_Weight_Initialization", "6_Regularization", "7_Optimizers", "8_Train",
                    "9_Hyperparameter_Tuning", "10_Detection", "11_Segmentation")


@pytest.mark.parametrize("stem", EXPERIMENT_PAGES)
def test_every_experiment_page_draws_in_turns(stem):
    tree = ast.parse((PAGES / f"{stem}.py").read_text(encoding="utf-8"))
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert [ast.unparse(d) for d in main.decorator_list] == ["drawn_in_turns"]
