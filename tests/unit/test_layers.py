"""Imports point one way (README "Map of the house", DESIGN.md "Layers").

Every `stemcast.*` import in server/stemcast, at module level, inside functions and under
TYPE_CHECKING alike, is read from the source with `ast`. A folder (or top-level module)
may import its own rank or lower ones, and the folders of one rank must not import each
other in a circle. A new folder must be given a rank here: the test names it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server" / "stemcast"

# Lower numbers are lower layers. Within the domain, ranks order the folders too, so that
# e.g. the scheduler (jobs) never reaches into delivery, nor separation into analysis.
RANKS: dict[str, int] = {
    # infrastructure
    "__init__": 0, "config": 0, "logging_setup": 0, "cpu_pool": 0, "db": 0, "audio": 0,
    "storage": 0, "error_text": 0, "lifeline": 0, "net": 0, "tasks": 0,
    # domain
    "library": 1, "separation": 1,
    "jobs": 2,
    "cache": 3, "fleet": 3,
    "analysis": 4, "delivery": 4, "separate_file": 4, "separate_writer": 4,
    # application: the one stems-request pipeline, the seed job API
    "requests": 5, "apijobs": 5,
    # front doors
    "ws": 6, "http": 6,
    # composition roots: wire everything, imported by nothing below them
    "app": 7, "cli": 7,
}

Edge = tuple[str, str, str]  # (importing folder, imported folder, importing file)


def folder_of(path: Path) -> str:
    relative = path.relative_to(SERVER)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_folders(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "stemcast":  # `from stemcast import x`
                names = [f"stemcast.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "stemcast" and len(parts) > 1:
                found.add(parts[1] if parts[1] in RANKS else "__init__")
    return found


def import_edges() -> list[Edge]:
    edges: list[Edge] = []
    for path in sorted(SERVER.rglob("*.py")):
        source = folder_of(path)
        for target in imported_folders(ast.parse(path.read_text(), str(path))):
            if target != source:
                edges.append((source, target, str(path.relative_to(SERVER))))
    return edges


def upward(edges: list[Edge]) -> list[str]:
    return [f"{file}: {src} (rank {RANKS[src]}) imports {dst} (rank {RANKS[dst]})"
            for src, dst, file in edges if RANKS[dst] > RANKS[src]]


def cycles(edges: list[Edge]) -> list[list[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst, _file in edges:
        graph[src].add(dst)
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_every_folder_has_a_rank() -> None:
    folders = {folder_of(p) for p in SERVER.rglob("*.py")}
    missing = sorted(folders - set(RANKS))
    assert not missing, f"give these a rank in RANKS (tests/unit/test_layers.py): {missing}"


def test_no_module_imports_a_higher_layer() -> None:
    problems = upward(import_edges())
    assert not problems, "imports that point upward:\n" + "\n".join(problems)


def test_no_cycles_between_folders() -> None:
    found = cycles(import_edges())
    assert not found, "folders that import each other: " + "; ".join(
        " -> ".join(c) for c in found)


def test_the_checks_catch_what_they_are_for() -> None:
    # The two checks on a graph with one upward import and one circle of equals.
    edges: list[Edge] = [("jobs", "delivery", "jobs/x.py"), ("analysis", "delivery", "a.py"),
                         ("delivery", "analysis", "d.py"), ("ws", "requests", "ws/s.py")]
    assert upward(edges) == ["jobs/x.py: jobs (rank 2) imports delivery (rank 4)"]
    assert cycles(edges) == [["analysis", "delivery", "analysis"]]
    tree = ast.parse("def f():\n    from stemcast.app.services import Services\n")
    assert imported_folders(tree) == {"app"}
