"""The emulator package has no import cycle, TYPE_CHECKING imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_bifrost.testing.emulator as package

PACKAGE = package.__name__


def _graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in the file)."""
    graph: dict[str, set[str]] = {}
    for path in Path(package.__file__).parent.glob("*.py"):
        module = f"{PACKAGE}.{path.stem}" if path.stem != "__init__" else PACKAGE
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE + "."):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names if alias.name.startswith(PACKAGE + ".")}
        graph[module] = imported
    return graph


def test_no_import_cycle() -> None:
    graph = _graph()
    graph.pop(PACKAGE)  # the package re-exports its modules; none of them imports it
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, " -> ".join([*path, module])
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert f"{PACKAGE}.faults" in graph and not graph[f"{PACKAGE}.faults"]
