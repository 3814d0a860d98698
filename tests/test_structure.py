"""The package's shape stays readable (issue 12): small modules and functions, imports at
the top, no import cycle (imports inside functions counted), drawing code apart from the
domain code. Read from the source with ``ast``; nothing is imported or run."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "msknb"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
#: modules allowed to draw (matplotlib / plotly) or build widgets (ipywidgets)
DRAWING_MODULES = ("figures", "widgets", "viz")
DRAWING_LIBRARIES = ("matplotlib", "ipywidgets", "plotly", "IPython.display")
#: a function-local import must say why on its line, e.g. ``# local: <measured reason>``
LOCAL_IMPORT_MARK = "# local:"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _rel(name: str) -> str:
    return str(MODULES[name].relative_to(PACKAGE.parent))


def _imported(name: str, node: ast.AST) -> list[str]:
    """msknb modules an import statement of module ``name`` loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "msknb"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        pkg = name.split(".") if MODULES[name].name == "__init__.py" else name.split(".")[:-1]
        base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != "msknb":
        return []
    found = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        found.append(sub if sub in MODULES else base)
    return found


def _function_imports(tree: ast.AST):
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield fn, node


def test_no_module_over_the_limit():
    long = {_rel(n): len(p.read_text().splitlines()) for n, p in MODULES.items()}
    over = {k: v for k, v in long.items() if v > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines: {over}"


def test_no_function_over_the_limit():
    over = {}
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    over[f"{_rel(name)}:{node.lineno} {node.name}"] = n
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines: {over}"


def test_imports_are_at_the_top():
    lines = {name: MODULES[name].read_text().splitlines() for name in MODULES}
    local = [f"{_rel(name)}:{node.lineno} in {fn.name}()"
             for name, tree in TREES.items() for fn, node in _function_imports(tree)
             if LOCAL_IMPORT_MARK not in lines[name][node.lineno - 1]]
    assert not local, f"imports inside functions (move them to the top, or say why with '{LOCAL_IMPORT_MARK}'): {local}"


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, tree in TREES.items():
        for node in ast.walk(tree):  # top-level and function-local imports alike
            for target in _imported(name, node):
                while target not in MODULES and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in MODULES and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert not _cycles(_graph())


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_domain_modules_do_not_draw(name: str):
    if name.rsplit(".", 1)[-1] in DRAWING_MODULES or name.startswith("msknb.cli"):
        return
    drawn = set()
    for node in ast.walk(TREES[name]):
        mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        drawn |= {m for m in mods if any(m == lib or m.startswith(lib + ".") for lib in DRAWING_LIBRARIES)}
    assert not drawn, f"{_rel(name)} imports {sorted(drawn)}: move drawing into figures.py / widgets.py"


#: the stages in the order the notebooks tell them; a module may import its own stage and
#: those before it. Shared primitives (``msknb.masks``, ``msknb.errors``, ``msknb.io``,
#: ``msknb.readings``, ...) come first; ``artifacts`` (the output folder's layout) sits with
#: ``data``; the exercises (for every notebook), the runner and the command line come last.
STAGES = ("data", "ddpm", "segmentation", "thickness", "evaluation", "cli")
STAGE_OF_TOP_LEVEL = {"artifacts": "data", "runner": "cli", "__main__": "cli", "exercises": "cli"}


def _stage_rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return len(STAGES)  # the package itself
    name = STAGE_OF_TOP_LEVEL.get(parts[1], parts[1])
    return STAGES.index(name) + 1 if name in STAGES else 0


def test_imports_follow_the_stage_order():
    """data -> ddpm -> segmentation -> thickness -> evaluation -> cli: no stage imports a later one."""
    graph = _graph()
    against = [f"{a} -> {b}" for a in sorted(graph) for b in sorted(graph[a]) if _stage_rank(b) > _stage_rank(a)]
    assert not against, "imports against the stage order:\n" + "\n".join(against)


def test_stage_order_finder_finds_a_wrong_door():
    assert _stage_rank("msknb.ddpm.train") < _stage_rank("msknb.thickness.bands")
    assert _stage_rank("msknb.masks.bands") == 0 < _stage_rank("msknb.artifacts") == _stage_rank("msknb.data.folder")
