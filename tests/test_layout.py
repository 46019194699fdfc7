"""The package's arrows: no import circle (imports inside functions count), providers know nothing of designs,
and the run controller runs without doit. Read from the source, so a new circle fails here, not in review."""

from __future__ import annotations

import ast
import builtins
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "agentos_jobs"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every module's imports of the package's own modules, wherever in the file they are written."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    base = ".".join([*here[: len(here) - node.level + 1], *([base] if base else [])])
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(import_graph()) == []


def test_a_package_with_a_parent_package_import_is_never_imported_back() -> None:
    """Rooms too point one way: a sub-package that imports another is never imported by it."""
    graph = import_graph()
    rooms = {(a.split(".")[1], b.split(".")[1]) for a, targets in graph.items() for b in targets
             if a.count(".") > 1 and b.count(".") > 1 and a.split(".")[1] != b.split(".")[1]}
    assert sorted((a, b) for a, b in rooms if (b, a) in rooms) == []


def test_providers_know_nothing_of_designs() -> None:
    graph = import_graph()
    providers = [m for m in graph if m.startswith("agentos_jobs.providers")]
    assert {m for p in providers for m in _reachable(graph, p) if m.startswith("agentos_jobs.design")} == set()


def test_the_run_controller_imports_no_doit() -> None:
    """Its own process, with doit's import blocked: the controller and all it imports load without it."""
    code = ("import sys; sys.modules['doit'] = None; import agentos_jobs.run.controller; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'doit' and sys.modules[m] is not None))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]


def _classes(path: Path) -> list[ast.ClassDef]:
    return [node for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.ClassDef)]


def _base_name(base: ast.expr) -> str:
    return base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""


def test_every_exception_class_is_declared_in_core_errors() -> None:
    """One module holds the exception tree: a class elsewhere whose base is a built-in exception or one of
    core/errors.py's classes (nested classes too) fails here."""
    errors = PACKAGE / "core" / "errors.py"
    built_in = {name for name, value in vars(builtins).items()
                if isinstance(value, type) and issubclass(value, BaseException)}
    exceptions = built_in | {node.name for node in _classes(errors)}
    elsewhere = [f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"
                 for path in sorted(PACKAGE.rglob("*.py")) if path != errors for node in _classes(path)
                 if any(_base_name(base) in exceptions for base in node.bases)]
    assert elsewhere == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
