"""The import graph: arrows only downward (casetracker -> funds -> accounts, devdata above
them) and no cycles among the modules' top-level imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("casetracker", "devdata", "funds", "accounts")
# What each package may import; the order is the layering.
ALLOWED = {
    "accounts": {"accounts"},
    "funds": {"funds", "accounts"},
    "casetracker": {"casetracker", "funds", "accounts"},
    "devdata": {"devdata", "funds", "accounts"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def imports(path: Path, known: dict[str, Path], *, top_level: bool) -> set[str]:
    """The project modules ``path`` imports (at the top of the module, or anywhere)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in known and name.split(".")[0] in PACKAGES}


def test_arrows_point_only_downward():
    known = modules()
    wrong = []
    for name, path in known.items():
        package = name.split(".")[0]
        for target in imports(path, known, top_level=False):
            if target.split(".")[0] not in ALLOWED[package]:
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_no_module_imports_itself_back_at_the_top_level():
    known = modules()
    graph = {name: imports(path, known, top_level=True) - {name} for name, path in known.items()}
    # A package's __init__ importing its own modules is how packages re-export; a cycle
    # through it is not a cycle of the modules themselves.
    for name in list(graph):
        if known[name].name == "__init__.py":
            graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
