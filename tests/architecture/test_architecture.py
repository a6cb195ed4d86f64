"""The shape of the house (DESIGN.md): imports point one way (no circles between modules of
recsys_cli, counting imports inside functions too), every import between the packages points
down the floors, no stage imports another stage, and no module grows past 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "recsys_cli"
MAX_LINES = 400
# The floors, lowest first: a module may import its own package and the packages below it.
FLOORS = ["core", "data", "models", "evaluation", "tuning", "config", "store", "backends", "report", "serving",
          "stages", "run", "cli", "__main__"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the recsys_cli modules it imports (a `from pkg import name` that names a
    submodule counts as importing the submodule)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        # A package's __init__ importing its own submodules is not a circle through them.
        graph[name] = {t for t in targets if t in modules and t != name and not t.startswith(name + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_sees_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_is_read_from_the_sources():
    graph = import_graph()
    assert "recsys_cli.stages.env" in graph["recsys_cli.stages.train"]
    assert "recsys_cli.stages.train" in graph["recsys_cli.run"]  # `from recsys_cli.stages import train`
    assert "recsys_cli.run" in graph["recsys_cli.cli.experiment"]  # imported inside a function


def test_imports_have_no_circles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_stage_imports_another_stage():
    graph = import_graph()
    stages = {m for m in graph if m.startswith("recsys_cli.stages.")}
    shared = {"recsys_cli.stages.env", "recsys_cli.stages.records"}
    offenders = {m: sorted(graph[m] & (stages - shared - {m})) for m in stages - shared}
    assert not any(offenders.values()), offenders


def test_stages_do_not_reach_up():
    graph = import_graph()
    for module in (m for m in graph if m.startswith("recsys_cli.stages")):
        assert not {t for t in graph[module] if t.startswith("recsys_cli.cli") or t == "recsys_cli.run"}, module


def test_no_module_is_too_long():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def floor_of(module: str) -> int:
    parts = module.split(".")
    return -1 if len(parts) == 1 else FLOORS.index(parts[1])  # the package's face (__version__): ground


def test_every_package_has_a_floor():
    assert {m.split(".")[1] for m in import_graph() if "." in m} <= set(FLOORS)


def test_imports_point_down_the_floors():
    graph = import_graph()
    upward = sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets if floor_of(t) > floor_of(m))
    assert not upward, "imports that run up the floors:\n" + "\n".join(upward)
