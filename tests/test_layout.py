"""The layout holds: imports point one way, the Celery entry points are the top, files stay readable.

Parsed with ``ast`` (nothing is imported), so an import inside a function counts as much as one at
the top of a module: a circle hidden in a function body is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PACKAGES = ("portal", "rights", "matching")
TASK_MODULES = {"rights.tasks", "rights.jobs"}
# The only module that sends a task (after commit, by name); a task module may re-send itself there.
SENDER = "rights.lifecycle.enqueue"
SEND_CALLS = {"delay", "apply_async", "send_task", "signature", "s", "si"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    """Every source module of the apps (migrations are generated, tests are not sources)."""
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name lives in (``rights.models.DataRequest`` -> ``rights.models``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The app modules ``module`` imports, at module level or inside any function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = _absolute(node, module, path.name == "__init__.py")
            targets = [f"{origin}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in (_resolve(target, modules) for target in targets) if t and t != module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

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
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_the_checker_finds_a_circle_through_a_function_body(tmp_path) -> None:
    """The check itself can fail: a circle closed only by an import inside a function is found."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from pkg import a\n    return a\n")
    (package / "c.py").write_text("from . import a\n")
    modules = {"pkg": package / "__init__.py", **{f"pkg.{n}": package / f"{n}.py" for n in "abc"}}
    graph = {module: imports_of(module, path, modules) for module, path in modules.items()}
    assert graph["pkg.c"] == {"pkg.a"}  # a relative import is resolved
    assert import_circles(graph) == [["pkg.a", "pkg.b"]]


# Known and reported, not yet broken: the index package's __init__ imports its shards module, which
# imports IndexSyncResult back from the package (in a function and under TYPE_CHECKING). Nothing
# else may join it, and no other circle may appear; delete the entry once the index breaks it.
TOLERATED_CIRCLES: list[list[str]] = []


def test_no_import_circle_anywhere_in_the_apps() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the walk found the apps' modules
    assert [circle for circle in import_circles(graph) if circle not in TOLERATED_CIRCLES] == []


def test_matching_never_imports_rights_or_portal() -> None:
    offenders = {
        module: sorted(t for t in targets if not t.startswith("matching"))
        for module, targets in import_graph().items()
        if module.startswith("matching") and any(not t.startswith("matching") for t in targets)
    }
    assert offenders == {}


def test_nothing_imports_the_celery_entry_points() -> None:
    """rights.tasks and rights.jobs are the top: Celery finds them by autodiscovery, by name."""
    offenders = sorted(m for m, targets in import_graph().items() if targets & TASK_MODULES)
    assert offenders == []


def test_only_the_enqueue_module_sends_a_task() -> None:
    """Every ``.delay`` / ``.apply_async`` in rights/ and portal/ is in rights.lifecycle.enqueue."""
    senders = set()
    for module, path in source_modules().items():
        if module.startswith("matching"):
            continue  # matching's own tasks (ingestion) never touch a request
        for node in ast.walk(ast.parse(path.read_text())):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if call and node.func.attr in SEND_CALLS:
                senders.add(module)
    assert senders == {SENDER}


MAX_LINES = 500


def test_no_source_file_over_500_lines() -> None:
    """A reader can hold a module in their head; migrations (generated) and tests are not counted."""
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in source_modules().values()
    }
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


# Imports point down: a module may import its own layer or one below, never one above.
LAYERS = [
    ("rights.models", 0),
    ("rights.audit_actions", 0),
    ("rights.lifecycle", 1),
    ("rights.queries", 1),
    *(
        (f"rights.{folder}", 2)
        for folder in ("requester", "pipeline", "staff", "recipients", "upkeep", "reporting")
    ),
    *(
        (f"rights.{top}", 3)
        for top in ("admin", "api", "tasks", "jobs", "management", "signals", "notice_urls")
    ),
]


def _layer(module: str) -> int | None:
    for prefix, rank in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def test_imports_point_down_the_layers_of_rights() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if (rank := _layer(module)) is not None
        for target in targets
        if (above := _layer(target)) is not None and above > rank
    )
    assert upward == []


def test_every_status_set_is_declared_in_models() -> None:
    """A list of statuses is declared once, in rights/models.py; elsewhere only its name is used."""
    declared = []
    for module, path in source_modules().items():
        if module == "rights.models":
            continue
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            declared += [f"{module}.{name}" for name in names if name.endswith("_STATUSES")]
    assert declared == []
