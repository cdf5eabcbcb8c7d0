"""The package's architecture, asserted from its import graph (every import, lazy ones included).

Layers, lowest first: helpers (console, fileio, _version) → core → gate → fit → server → evaluation → cli.
A module may import its own layer and the ones below it, never one above; and no two modules import each
other, directly or through others. The server sits below evaluation because the gateway benchmark drives the
real server; the server itself needs only core and gate.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import eco_unlearn

PACKAGE = Path(eco_unlearn.__file__).parent
RANK = {
    "_version": 0,
    "console": 0,
    "fileio": 0,
    "core": 1,
    "gate": 2,
    "fit": 3,
    "server": 4,
    "evaluation": 5,
    "cli": 6,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """eco_unlearn modules that ``path`` imports; ``from pkg import mod`` counts as importing ``pkg.mod``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("eco_unlearn")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eco_unlearn"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in modules else node.module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: imports_of(p, set(files)) - {m} for m, p in files.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def test_every_module_belongs_to_a_layer(graph):
    assert {layer(m) for m in graph} - {"(root)"} == set(RANK)


def test_no_layer_imports_a_higher_one(graph):
    upward = [
        f"{m} ({layer(m)}) imports {i} ({layer(i)})"
        for m, deps in graph.items()
        if layer(m) != "(root)"
        for i in deps
        if layer(i) == "(root)" or RANK[layer(i)] > RANK[layer(m)]
    ]
    assert upward == []


def test_core_is_independent_of_everything_it_serves(graph):
    core_deps = {layer(i) for m, deps in graph.items() if layer(m) == "core" for i in deps}
    assert core_deps <= {"core", "_version", "console", "fileio"}


def test_there_is_no_import_cycle(graph):
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as e:
        pytest.fail(f"import cycle: {' -> '.join(e.args[1])}")


def test_the_checker_sees_an_upward_import_and_a_cycle(tmp_path):
    """The walk itself: a lazy upward import and a two-module cycle are both caught."""
    src = tmp_path / "mod.py"
    src.write_text(
        "def f():\n    from eco_unlearn.server.app import create_app\n    from eco_unlearn.gate import targets\n"
    )
    assert imports_of(src, {"eco_unlearn.gate.targets"}) == {"eco_unlearn.server.app", "eco_unlearn.gate.targets"}
    with pytest.raises(CycleError):
        tuple(TopologicalSorter({"a": {"b"}, "b": {"a"}}).static_order())
