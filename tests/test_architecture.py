"""The package's structure, read from its source with `ast`: imports flow one way, functions stay short, only
`tasks.py` (and the dataset loaders) know tasks by name, and the demo's `app.py` stays a thin UI."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mqt_lite"
APP = ROOT / "app.py"
MAX_FUNCTION_LINES = 60
MAX_APP_LINES = 300
# numba kernels compiled as one function: splitting them would cost a call per augmenting step in the hot loop
COMPILED_KERNELS = {("boundary.py", "hopcroft_karp")}
TASK_WORDS = {"semseg", "parts", "sal", "normals", "depth", "edge",  # task names
              "labels", "binary"}  # task kinds ("depth" and "normals" are both)
# Modules that may name tasks: the task table itself and the loaders that turn a dataset's files into task columns.
KNOWS_TASKS = {"tasks.py", "data/nyud.py", "data/pascal.py", "data/synthetic.py"}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules that module `name` imports anywhere in its file (top level and inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{a.name}" for a in node.names} & set(known)
            out |= submodules or ({target} & set(known))  # `from . import losses` imports the submodule only
    return out - {name}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, colouring nodes)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def sources() -> list[tuple[str, Path]]:
    """(name relative to the package, or "app.py"; file) of every file checked for style."""
    return [(str(p.relative_to(PACKAGE)), p) for p in sorted(PACKAGE.rglob("*.py"))] + [("app.py", APP)]


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "mqt_lite.tasks" in graph and graph["mqt_lite.model"], "the import graph was not read"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_tasks_import_nothing_of_the_package_but_leaf_modules():
    """tasks.py is the bottom layer: losses and metrics look tasks up, never the other way round."""
    assert import_graph()["mqt_lite.tasks"] == set()


def test_no_function_is_longer_than_60_lines():
    long = []
    for name, path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (name, node.name) not in COMPILED_KERNELS:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _task_words(node: ast.AST) -> set[str]:
    """Task names and kinds among the constants of a comparison operand (a tuple or set of them too)."""
    values = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return {v.value for v in values if isinstance(v, ast.Constant) and v.value in TASK_WORDS}


def task_comparisons(tree: ast.AST) -> list[str]:
    """Every comparison with, or match case on, a task name or task kind in a parsed file."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(_task_words(x) for x in (node.left, *node.comparators)):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.MatchValue) and _task_words(node.value):
            found.append(f"{node.lineno}: case {ast.unparse(node.value)}")
    return found


def test_the_task_finder_finds_comparisons():
    code = 'a = x == "depth"\nb = k.kind in ("labels", "other")\nmatch t:\n    case "edge": pass\nc = t == "image"'
    assert [f.split(":")[0] for f in task_comparisons(ast.parse(code))] == ["1", "2", "4"]


def test_only_tasks_and_the_dataset_loaders_compare_task_names_or_kinds():
    found = [f"{name}:{hit}" for name, path in sources() if name not in KNOWS_TASKS
             for hit in task_comparisons(ast.parse(path.read_text()))]
    assert not found, "task names or kinds compared outside tasks.py (ask the Task instead): " + "; ".join(found)


def test_app_only_wires_the_ui():
    lines = len(APP.read_text().splitlines())
    assert lines < MAX_APP_LINES, f"app.py has {lines} lines; its non-UI code belongs in the package"


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_are_at_the_top_unless_an_optional_dependency_needs_them(name):
    """A function-local import is only for an optional or heavy dependency, and says so in a comment."""
    path = modules()[name]
    text = path.read_text().splitlines()
    tree = ast.parse(path.read_text())
    local = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                inside = node.level > 0 or (node.module or "").startswith("mqt_lite") if \
                    isinstance(node, ast.ImportFrom) else any(a.name.startswith("mqt_lite") for a in node.names)
                commented = any("#" in text[i] for i in range(node.lineno - 1, node.end_lineno))
                if inside or not commented:
                    local.append(f"{node.lineno}: {ast.unparse(node)}")
    assert not local, f"{name}: function-local imports (move to the top, or comment which optional dependency): {local}"
