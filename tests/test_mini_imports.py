"""No import cycles inside ``synthrec_core.mini``: every import statement of ``mini/*.py``,
module-level and inside functions, read with ``ast`` (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import synthrec_core

MINI = Path(synthrec_core.__file__).resolve().parent / "mini"
PACKAGE = "synthrec_core.mini"


def _module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The ``synthrec_core.mini`` modules that ``path`` imports anywhere in its code."""
    me = _module_name(path)
    package = me if path.stem == "__init__" else me.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]  # `from . import x` imports module x
        out |= {n for n in names if n in modules}
    return out - {me}


def _graph() -> dict[str, set[str]]:
    files = sorted(MINI.glob("*.py"))
    modules = {_module_name(p) for p in files}
    # importing a submodule runs the package __init__ first; an edge to it is not a cycle of ours
    return {_module_name(p): _imports(p, modules) - {PACKAGE} for p in files}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    return found


def test_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_walk_sees_function_level_imports():
    g = _graph()
    assert f"{PACKAGE}.corpus_objects" in g[f"{PACKAGE}.corpus"]  # imported inside a function only
    assert f"{PACKAGE}.seeding" in g[f"{PACKAGE}.corpus_objects"]
    assert f"{PACKAGE}.miniclip" in g[f"{PACKAGE}.train_configs"]  # inside MiniCLIPConfig.validate


def test_no_import_cycles_inside_the_mini_package():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
