"""
The package's layout holds by structure: no import cycle, a light top layer, modules of a readable size.

Read statically from the source (``ast``), so a cycle hidden behind ``TYPE_CHECKING`` or a function-local
import counts too. ``tests/unit/test_import_cost.py`` checks the same light layer at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_bifrost"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

#: What a DAG file imports (the operator and sensor modules) and what they may import at module level.
LIGHT = (
    "",
    "assets",
    "constants",
    "creation",
    "exceptions",
    "get_provider_info",
    "idempotency",
    "mixins",
    "operators",
    "outcome",
    "providers",
    "sensors",
    "validation",
    "version_compat",
)
#: A module longer than this says in its docstring why it is one module (a line starting with this marker).
MAX_LINES = 400
LONG_MARKER = "Why one long module:"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, *, runtime_module_level: bool = False) -> set[str]:
    """
    The package's modules ``path`` imports: anywhere in it, or only at module level outside TYPE_CHECKING.

    :param path: a module's file.
    :param runtime_module_level: only what importing the module itself runs.
    """
    tree = ast.parse(path.read_text())
    if runtime_module_level:
        nodes: list[ast.AST] = []
        pending: list[ast.AST] = list(tree.body)
        while pending:
            node = pending.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or _type_checking(node):
                continue
            nodes.append(node)
            pending.extend(ast.iter_child_nodes(node))
    else:
        nodes = list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(PACKAGE))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            for alias in node.names:  # `from package import module` imports the module
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    graph = {name: imports(path) - {name} for name, path in MODULES.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    """Control: the check above would see a cycle, also a long one."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def light(name: str) -> bool:
    rest = name.removeprefix(PACKAGE).removeprefix(".")
    return rest.split(".")[0] in LIGHT


@pytest.mark.parametrize("name", [name for name in MODULES if light(name)])
def test_the_light_layer_imports_only_light_modules(name: str) -> None:
    heavy = sorted(target for target in imports(MODULES[name], runtime_module_level=True) if not light(target))
    assert heavy == [], f"{name} imports {heavy} when a DAG file imports it; import them where a task runs"


def test_the_light_layer_check_sees_a_heavy_import() -> None:
    """Control: a module-level import of the hook from a light module is reported."""
    assert light(f"{PACKAGE}.validation")
    assert not light(f"{PACKAGE}.hooks.bifrost")
    assert f"{PACKAGE}.hooks.bifrost" in imports(MODULES[f"{PACKAGE}.triggers.bifrost"], runtime_module_level=True)
    assert f"{PACKAGE}.hooks.bifrost" not in imports(MODULES[f"{PACKAGE}.mixins"], runtime_module_level=True)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_long_modules_say_why(name: str) -> None:
    path = MODULES[name]
    lines = len(path.read_text().splitlines())
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    if lines > MAX_LINES:
        assert LONG_MARKER in docstring, f"{name} has {lines} lines: split it, or say why in its docstring"
