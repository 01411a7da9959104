"""No import circles inside a room: every module can be read before the ones that import it.
Imports inside functions count too (a lazy import only hides a circle until it runs)."""

import ast
from pathlib import Path

import pytest

from conftest import ROOT

ROOMS = ("latentfx", "pipelines")


def module_files(room: str) -> dict[str, Path]:
    found = {}
    for path in (ROOT / room).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: dict) -> set[str]:
    """The room's modules that `name` imports, anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from . import x / from ..y import z
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    modules = set()
    for target in targets:
        while target and target not in known:  # a.b.name -> a.b, the module holding it
            target = target.rpartition(".")[0]
        if target and target != name:
            modules.add(target)
    return modules


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    state, path, found = {}, [], []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                found.append(path[path.index(other):] + [other])
            elif other not in state:
                visit(other)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def test_a_circle_is_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("room", ROOMS)
def test_no_import_circles(room):
    known = module_files(room)
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert not circles(graph), [" -> ".join(c) for c in circles(graph)]
