"""The shape of the house: no import cycle anywhere (imports inside functions included), case handling in its own
corner (bot/cases) that the delivery machinery does not import."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]


def import_graph() -> dict[str, set[str]]:
    """Module → the project's modules it imports, at the top or inside a function."""
    paths = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py"), *ROOT.glob("storage/*.py"),
             *ROOT.glob("storage/repositories/*.py")]
    modules = {}
    for path in paths:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    if target in modules:
                        graph[name].add(target)
                    elif node.module in modules:
                        graph[name].add(node.module)
            elif isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names if alias.name in modules)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
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

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_anywhere() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_delivery_does_not_depend_on_case_handling() -> None:
    graph = import_graph()
    assert {f"bot.cases.{name}" for name in ("cards", "actions", "lists", "morning", "resident", "notices",
                                             "templates", "deadlines")} <= set(graph)
    for module in ("bot.services.outbox", "bot.services.relay", "bot.services.notices"):
        assert not {target for target in graph[module] if target.startswith("bot.cases")}, module


def test_case_handling_is_in_modules_of_a_readable_size() -> None:
    # The house's rule: a module over ~400 lines gets split (bot/cases/handling.py was 718 before it was).
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines())
             for path in (ROOT / "bot" / "cases").glob("*.py")}
    assert "handling.py" not in sizes and max(sizes.values()) <= 400, sizes


def test_the_cycle_check_reads_the_handlers_packages_too() -> None:
    """It read handlers/*.py only, and so missed handlers.start ↔ handlers.feedback.entry."""
    assert {"handlers.feedback.entry", "handlers.prosecutor.drafts", "handlers.screens"} <= set(import_graph())
