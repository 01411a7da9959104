"""DESIGN §1: cli -> workers -> pipelines -> latentfx; no room imports an outer one, no
module takes part in an import circle, and the library stays grouped by feature.

Two views of the same rule: the source (every import statement, including those inside
functions, which run only when a command does) and a fresh interpreter (what importing each
room really pulls in, third-party packages included)."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

MAX_MODULES_PER_PACKAGE = 12  # a package that grows past this wants splitting by feature

FORBIDDEN = {
    "latentfx": ["cli", "pipelines", "workers", "celery", "click", "redis"],
    "pipelines": ["cli", "workers", "celery", "click", "redis"],
    "workers": ["cli"],  # (Celery itself brings click along)
}


def modules_of(package: str) -> list[str]:
    """Every module of a room, so that a new module is checked without editing this test."""
    return [package] + sorted(m.name for m in pkgutil.walk_packages([str(ROOT / package)],
                                                                       prefix=f"{package}."))


MODULES = {room: modules_of(room) for room in FORBIDDEN}


@pytest.mark.parametrize("room", FORBIDDEN)
def test_rooms_import_only_inward(room):
    imports = "; ".join(f"import {m}" for m in MODULES[room])
    code = (f"import sys; {imports}; "
            f"bad = [m for m in {FORBIDDEN[room]!r} if m in sys.modules]; "
            f"print(bad); assert not bad")
    # Exercise the lazy imports too: building and running a tiny model must stay inside.
    if room == "latentfx":
        code += ("; from latentfx.models import ModelConfig, build_model; import torch; "
                 "build_model(ModelConfig()).reconstruct(torch.rand(1, 3, 8, 8)); "
                 f"assert not [m for m in {FORBIDDEN[room]!r} if m in sys.modules]")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_nothing_touches_cuda_at_import():
    # On a machine without a GPU CUDA can never initialise, so make any attempt to ask for it
    # fail loudly instead: importing the rooms must not query or initialise CUDA.
    code = ("import torch\n"
            "def refuse(*a, **k): raise AssertionError('CUDA touched at import')\n"
            "torch.cuda.is_available = refuse; torch.cuda._lazy_init = refuse\n"
            "torch.cuda.init = refuse; torch.cuda.device_count = refuse\n"
            "import cli\n" + "".join(f"import {m}\n" for room in MODULES.values() for m in room))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


# -- the source's view ---------------------------------------------------------------------

def project_modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the four rooms."""
    files = [ROOT / "cli.py", *sorted(ROOT.glob("latentfx/**/*.py")),
             *sorted(ROOT.glob("pipelines/**/*.py")), *sorted(ROOT.glob("workers/**/*.py"))]
    names = {}
    for path in files:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imported_names(module: str, path: Path) -> set[str]:
    """Every absolute module name an import statement in the file names, wherever it sits."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name that is a module's attribute counts
    as an import of that module)."""
    modules = project_modules()
    return {m: {n for n in imported_names(m, path) if n in modules and n != m}
            for m, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, with an
    explicit stack so a deep chain of imports cannot hit the recursion limit)."""
    order: dict[str, int] = {}   # when each module was first reached
    low: dict[str, int] = {}     # the earliest module reachable from it, still on the stack
    stack: list[str] = []
    found: list[list[str]] = []

    def reach(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        work.append((node, iter(sorted(graph[node]))))

    for root in graph:
        if root in order:
            continue
        work: list = []
        reach(root)
        while work:
            node, edges = work[-1]
            nxt = next((n for n in edges if n not in order or n in stack), None)
            if nxt is not None:
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    reach(nxt)
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                component = stack[stack.index(node):]
                del stack[stack.index(node):]
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": set()}
    assert circles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("room", FORBIDDEN)
def test_no_source_line_imports_outward(room):
    """The lazy imports inside functions too, which importing a module never runs."""
    bad = []
    for module, path in project_modules().items():
        if module.split(".")[0] != room:
            continue
        for name in imported_names(module, path):
            if name.split(".")[0] in FORBIDDEN[room]:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_library_packages_stay_small():
    """The core is grouped by feature: no package of latentfx/ is a long flat list. (The
    pipelines room is one module per verb by design, found by the verb's name.)"""
    crowded = {}
    for folder in [ROOT / "latentfx", *sorted((ROOT / "latentfx").glob("*/"))]:
        if not (folder / "__init__.py").exists():
            continue
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        if len(modules) > MAX_MODULES_PER_PACKAGE:
            crowded[str(folder.relative_to(ROOT))] = len(modules)
    assert crowded == {}


def test_library_top_holds_only_what_every_package_shares():
    top = sorted(p.name for p in (ROOT / "latentfx").glob("*.py"))
    assert top == ["__init__.py", "errors.py", "options.py"]
