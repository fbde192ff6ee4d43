"""The import graph of ``nar_core``: no circle, and the built-in spaces reached only by name.

Issue 21: ``ablations/registry.py`` and ``ablations/aggregation.py`` imported each other, one side
inside a function, where nothing fails until the day the order of imports changes. The graph is
read from the source with ``ast``, imports inside functions included (they are dependencies too,
only later ones), so a circle is found without importing anything.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILTIN_SPACES = ("nar_core.spaces.nb201", "nar_core.spaces.nb101")


def modules(root: Path, package: str = "nar_core") -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package) of every module of ``package`` under ``root``."""
    out = {}
    for f in sorted((root / package).rglob("*.py")):
        parts = list(f.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (f, is_package)
    return out


def import_graph(root: Path, package: str = "nar_core") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, anywhere in its code.

    ``from .x import name`` counts as importing the submodule ``x.name`` when that is a module, else
    ``x``; the parent packages Python runs first are not counted (every module would import its own).
    """
    mods = modules(root, package)

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in mods.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        found: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {known(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                found |= {known(f"{base}.{a.name}") for a in node.names}
        graph[name] = {m for m in found if m is not None and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _describe(graph: dict[str, set[str]], comp: list[str]) -> str:
    return "; ".join(f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp)


def test_no_import_circle_in_nar_core():
    graph = import_graph(ROOT)
    assert "nar_core.ablations.registry" in graph and "nar_core.ablations.aggregation" in graph
    found = cycles(graph)
    assert not found, "import circles (make the dependency run one way): " + " | ".join(
        _describe(graph, c) for c in found)


def test_the_ablations_run_one_way():
    """The aggregation reads the registry's tables; the registry never reaches back."""
    graph = import_graph(ROOT)
    assert "nar_core.ablations.registry" in graph["nar_core.ablations.aggregation"]
    assert not {m for m in graph["nar_core.ablations.registry"] if m.startswith("nar_core.ablations")}


def test_a_circle_through_an_import_inside_a_function_is_found(tmp_path):
    """The check sees the shape the registry and the aggregation had."""
    pkg = tmp_path / "demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "registry.py").write_text("def defaults():\n    from .aggregation import held\n    return held()\n")
    (pkg / "aggregation.py").write_text("from .registry import defaults\n\n\ndef held():\n    return 1\n")
    graph = import_graph(tmp_path, "demo")
    assert cycles(graph) == [["demo.aggregation", "demo.registry"]]


def test_builtin_spaces_are_reached_only_through_the_registry():
    """Each built-in space is one package, found by name as a user's plug-in is: nothing else in
    ``nar_core`` imports it, and the registry names it ``package:Class`` like an entry point."""
    from nar_core.spaces import _BUILTIN, get_space

    graph = import_graph(ROOT)
    for package in BUILTIN_SPACES:
        inside = {m for m in graph if m == package or m.startswith(package + ".")}
        assert {"cells", "encoding", "reader", "space"} <= {m.rpartition(".")[2] for m in inside}, package
        users = sorted(m for m, deps in graph.items() if m not in inside and deps & inside)
        assert not users, f"{package} is imported by {users}; reach it through get_space"
    for name, where in _BUILTIN.items():
        module, _, cls = where.partition(":")
        assert module in BUILTIN_SPACES and type(get_space(name)).__name__ == cls
    for old in ("encoding", "plugins", "resources"):  # moved into the space packages; a checkout may keep a __pycache__
        left = sorted(f.name for f in (ROOT / "nar_core" / old).glob("*") if f.name != "__pycache__")
        assert not left, f"nar_core/{old} still holds {left}"
