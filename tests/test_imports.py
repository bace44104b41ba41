"""The import graph of ``synthrec_core``: no cycle anywhere, and the core never imports the mini world.

The graph is read from the source with :mod:`ast` (nothing is imported), counting every import
statement at any depth, so an import hidden inside a function counts as much as one at the top
of a module. The mini world (``synthrec_core.mini``) registers its models through the core's hooks
(``models.register_clip`` ...); the core names it only as data (``profiles/mini.yaml``: plugins).
"""

from __future__ import annotations

import ast
from pathlib import Path

import synthrec_core

ROOT = Path(synthrec_core.__file__).resolve().parent
PACKAGE = "synthrec_core"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package tree (``__init__`` = the package)."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PACKAGE, *parts])] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]  # a plain module's relative imports start at its package
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph() -> dict[str, set[str]]:
    """Edges ``a -> b``: module ``a`` imports module ``b`` (both in the package), at any depth."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                origin = _resolve(mod, is_pkg, node.level, node.module)
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in modules else origin for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in modules:  # `import synthrec_core.data.registry` from a deeper name
                    t = t.rpartition(".")[0]
                if t in modules and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _is_mini(name: str) -> bool:
    return name == f"{PACKAGE}.mini" or name.startswith(f"{PACKAGE}.mini.")


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_imports_resolve():
    assert _resolve(f"{PACKAGE}.data.registry", False, 1, "online") == f"{PACKAGE}.data.online"
    assert _resolve(f"{PACKAGE}.data.registry", False, 2, "config") == f"{PACKAGE}.config"
    assert _resolve(f"{PACKAGE}.data", True, 1, "base") == f"{PACKAGE}.data.base"


def test_graph_sees_function_level_imports():
    graph = import_graph()
    assert f"{PACKAGE}.generation" in graph[f"{PACKAGE}.zero_shot"]  # imported inside run_recipe
    assert f"{PACKAGE}.data.transforms" in graph[f"{PACKAGE}.data.dataset"]


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_core_never_imports_the_mini_world():
    bad = sorted(f"{a} -> {b}" for a, bs in import_graph().items() if not _is_mini(a) for b in bs if _is_mini(b))
    assert not bad, "core modules import the mini world: " + "; ".join(bad)
