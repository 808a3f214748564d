"""The layout's rules, checked on the source: no import cycle, layers that do not reach up.

The import graph is read from the source (``ast``), not by importing: every ``import`` of a
``workbench`` module counts, at module level, inside functions (lazy imports) and under
``TYPE_CHECKING`` (a type-only cycle is still two modules that cannot be read apart).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "workbench"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "_generated" not in p.parts}


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The workbench modules ``module`` imports, anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {r for a in node.names if a.name.startswith("workbench") and (r := _resolve(a.name))}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            if not base.startswith("workbench"):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if target := (full if full in MODULES else _resolve(base)):
                    found.add(target)
    found.discard(module)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_and_type_only_imports() -> None:
    assert "workbench.scenario.placement.dask" in GRAPH["workbench.scenario.placement"]  # inside a function
    assert len(GRAPH) > 100 and sum(map(len, GRAPH.values())) > 300


def test_no_import_cycle_inside_workbench() -> None:
    assert cycles(GRAPH) == []


def test_analysis_never_imports_dashboard_or_panel() -> None:
    """Analysis is pure Polars/Arrow; dashboards are views over it, never the other way round."""
    for module, path in MODULES.items():
        if module.startswith("workbench.analysis"):
            assert not {m for m in GRAPH[module] if m.startswith("workbench.dashboard")}, module
            assert not re.search(r"^\s*(import|from)\s+(panel|bokeh)\b", path.read_text(), re.M), module


def test_every_error_the_package_defines_is_a_workbench_error() -> None:
    """Typed errors live under ``WorkbenchError`` (``workbench/errors.py`` and its subclasses), so the
    CLI prints them as one line; a bare RuntimeError raised by the package is a bug report instead."""
    for module, path in MODULES.items():
        text = path.read_text()
        assert not re.search(r"^\s*raise RuntimeError\(", text, re.M), f"{module} raises RuntimeError"
        for m in re.finditer(r"^class (\w+)\((Exception|RuntimeError)\):", text, re.M):
            if (module, m[1]) == ("workbench.errors", "WorkbenchError"):
                continue
            raise AssertionError(f"{module}.{m[1]} derives from {m[2]}, not from WorkbenchError")


def test_no_transcoder_writes_into_a_buffer_without_a_reservation() -> None:
    """``_buffer.pxi``'s discipline: only its own helpers touch ``Buf.data``'s bytes."""
    for path in (PACKAGE / "speedups").glob("*.pyx"):
        text = path.read_text()
        assert not re.search(r"\.data\[", text), f"{path.name} indexes a buffer's data"
        assert not re.search(r"\bgrow\(", text), f"{path.name} grows a buffer by hand"
