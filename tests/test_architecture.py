"""The shape of harborkit/: layers, no import cycles, no typer outside the
command layer, and files and functions of a size a reader can hold.

The import graph is built with ``ast`` from every ``import`` statement in
harborkit/: at module level, inside functions and under ``if TYPE_CHECKING:``
alike (an import inside a function still ties the two modules together; it
only hides the cycle). The checker is a plain function over a folder, so the
tests at the bottom run it on tiny synthetic packages to prove each rule can fail.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "harborkit"

#: the layers, top (1) to bottom (8): a module may import its own layer or a
#: lower one (a larger number), never a higher one. Patterns are module names;
#: the first pattern that matches decides (so the specific ones come first).
LAYERS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "commands",
        (
            "harborkit.commands",
            "harborkit.commands.*",
            "harborkit.__main__",
        ),
    ),
    (
        2,
        "report/fix",
        ("harborkit.report", "harborkit.report.*", "harborkit.fix", "harborkit.fix.*"),
    ),
    (3, "engine", ("harborkit.engine", "harborkit.engine.*")),
    (4, "checks", ("harborkit.checks", "harborkit.checks.*")),
    (5, "model", ("harborkit.model", "harborkit.model.*")),
    (
        6,
        "host/collect",
        ("harborkit.host", "harborkit.host.*", "harborkit.collect", "harborkit.collect.*"),
    ),
    (
        7,
        "bundle/registry/dockerapi",
        (
            "harborkit.bundle",
            "harborkit.bundle.*",
            "harborkit.registry",
            "harborkit.registry.*",
            "harborkit.dockerapi",
        ),
    ),
    (
        8,
        "core",
        (
            "harborkit",  # the package itself: __version__
            "harborkit.errors",
            "harborkit.fsutil",
            "harborkit.yamlfile",
            "harborkit.schemacheck",
            "harborkit.resources",
            "harborkit.transfer",
            "harborkit.watch",
            "harborkit.textsafe",
            "harborkit.compat",
            "harborkit.ipaddr",
            "harborkit.netutil",
            "harborkit.childproc",
        ),
    ),
)

#: modules where typer may be imported (besides harborkit/commands/)
TYPER_ALLOWED = (
    "harborkit.commands",
    "harborkit.commands.*",
)

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80

#: files allowed over MAX_FILE_LINES, and files whose functions may be over MAX_FUNCTION_LINES
LONG_FILES_ALLOWED: frozenset[str] = frozenset()
LONG_FUNCTIONS_ALLOWED_IN: frozenset[str] = frozenset()
#: import cycles tolerated (each as its set of modules): none
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


@dataclass(frozen=True)
class Edge:
    """``source`` imports ``target`` at ``path:line``."""

    source: str
    target: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.target}"


def module_name(root: Path, path: Path) -> str:
    """``root/a/b.py`` -> ``<root name>.a.b``; ``root/a/__init__.py`` -> ``<root name>.a``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root: Path) -> dict[str, Path]:
    return {module_name(root, p): p for p in sorted(root.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours ``name`` names (a module, or a name inside one), or None."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:  # relative: from the package of this module
        package = module if is_pkg else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    # ``from a import b``: b may be a submodule (a.b) or a name inside a
    return [f"{base}.{a.name}" for a in node.names]


def import_edges(root: Path) -> list[Edge]:
    """Every import of one of root's modules by another, wherever it is written."""
    modules = _modules(root)
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        rel = str(path.relative_to(root))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _targets(node, module, path.name == "__init__.py"):
                target = _resolve(name, modules)
                if target is not None and target != module:
                    edges.append(Edge(module, target, rel, node.lineno))
    return list(dict.fromkeys(edges))


def rank(
    module: str, layers: Sequence[tuple[int, str, tuple[str, ...]]] = LAYERS
) -> tuple[int, str]:
    for number, label, patterns in layers:
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            return number, label
    raise AssertionError(f"{module}: in no layer of tests/test_architecture.py (add it to LAYERS)")


def upward(
    edges: Iterable[Edge], layers: Sequence[tuple[int, str, tuple[str, ...]]] = LAYERS
) -> list[str]:
    """Each import from a lower layer to a higher one, as one line."""
    out = []
    for e in edges:
        (src, src_label), (dst, dst_label) = rank(e.source, layers), rank(e.target, layers)
        if dst < src:
            out.append(f"{e} (layer {src} {src_label} -> layer {dst} {dst_label}: upward)")
    return out


def cycles(edges: Iterable[Edge]) -> list[list[str]]:
    """The import cycles: each strongly connected set of two or more modules,
    as one cycle through it (Tarjan, iterative)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        comp.append(top)
                        if top == node:
                            break
                    if len(comp) > 1:
                        components.append(sorted(comp))
    return [_one_cycle(comp, graph) for comp in components]


def _one_cycle(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A path from the component's first module back to itself, inside it."""
    members = set(component)
    start = component[0]
    prev: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [start, *reversed(path[:-1]), start] if node != start else [start, start]
            if child not in prev:
                prev[child] = node
                queue.append(child)
    return component  # unreachable for a strongly connected set


def typer_imports(root: Path, allowed: Sequence[str] = TYPER_ALLOWED) -> list[str]:
    out = []
    for module, path in _modules(root).items():
        if any(fnmatch.fnmatchcase(module, p) for p in allowed):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(n == "typer" or n.startswith("typer.") for n in names):
                rel = path.relative_to(root)
                out.append(
                    f"{rel}:{node.lineno}: {module} imports typer (only harborkit/commands/ may)"
                )
    return out


def too_long(
    root: Path,
    files_allowed: Iterable[str] = (),
    functions_allowed_in: Iterable[str] = (),
    max_file: int = MAX_FILE_LINES,
    max_function: int = MAX_FUNCTION_LINES,
) -> list[str]:
    """Files over ``max_file`` lines; functions whose body (from its first
    statement after the docstring to its last line) is over ``max_function``."""
    files_ok, functions_ok = set(files_allowed), set(functions_allowed_in)
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = str(path.relative_to(root))
        text = path.read_text("utf-8")
        lines = len(text.splitlines())
        if lines > max_file and rel not in files_ok:
            out.append(f"{rel}: {lines} lines (at most {max_file})")
        if rel in functions_ok:
            continue
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = _body_lines(node)
                if body > max_function:
                    out.append(
                        f"{rel}:{node.lineno}: {node.name}() has a body of {body} lines (at most {max_function})"
                    )
    return out


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the function's last line."""
    stmts = node.body
    if (
        len(stmts) > 1
        and isinstance(stmts[0], ast.Expr)
        and isinstance(stmts[0].value, ast.Constant)
        and isinstance(stmts[0].value.value, str)
    ):
        stmts = stmts[1:]
    return (node.end_lineno or node.lineno) - stmts[0].lineno + 1


# --- the rules, on harborkit/ ---


def test_every_module_has_a_layer() -> None:
    for module in _modules(ROOT):
        rank(module)


def test_no_import_runs_up_a_layer() -> None:
    bad = upward(import_edges(ROOT))
    assert not bad, "imports from a lower layer to a higher one:\n" + "\n".join(bad)


def test_no_import_cycle() -> None:
    found = [c for c in cycles(import_edges(ROOT)) if frozenset(c) not in KNOWN_CYCLES]
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def package_edges(edges: Iterable[Edge]) -> list[Edge]:
    """The edges between top-level packages (``harborkit.host.ssh`` -> ``harborkit.host``)."""
    out = []
    for e in edges:
        src, dst = (".".join(m.split(".")[:2]) for m in (e.source, e.target))
        if src != dst:
            out.append(Edge(src, dst, e.path, e.line))
    return out


def test_no_import_cycle_between_packages() -> None:
    """host <-> collect, report <-> fix, bundle <-> registry: a loop between two
    packages of one layer is a knot too."""
    found = cycles(package_edges(import_edges(ROOT)))
    assert not found, "import cycles between packages:\n" + "\n".join(" -> ".join(c) for c in found)


def test_typer_only_in_the_command_layer() -> None:
    bad = typer_imports(ROOT)
    assert not bad, "\n".join(bad)


def test_files_and_functions_are_short() -> None:
    bad = too_long(ROOT, LONG_FILES_ALLOWED, LONG_FUNCTIONS_ALLOWED_IN)
    assert not bad, "too long:\n" + "\n".join(bad)


def test_the_allow_lists_name_real_files() -> None:
    """An allow-list entry for a file that is gone (moved, renamed) is dropped."""
    for rel in (*LONG_FILES_ALLOWED, *LONG_FUNCTIONS_ALLOWED_IN):
        assert (ROOT / rel).is_file(), (
            f"{rel}: allowed as long in tests/test_architecture.py, but no such file"
        )


# --- the checker can fail: tiny synthetic packages ---

SYNTH_LAYERS = (
    (1, "top", ("pkg.top", "pkg.top.*")),
    (2, "mid", ("pkg.mid", "pkg.mid.*")),
    (3, "low", ("pkg", "pkg.low", "pkg.low.*")),
)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.parent != root and not (p.parent / "__init__.py").exists():
            (p.parent / "__init__.py").write_text("")
        p.write_text(text)
    return root


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ("from pkg.top.a import x\n", 1),  # module level, a name in a module
        ("import pkg.top.a\n", 1),  # plain import
        ("from pkg.top import a\n", 1),  # a submodule by from-import
        ("def f():\n    from pkg.top.a import x\n", 2),  # inside a function
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.top.a import x\n", 3),
        ("from ..top.a import x\n", 1),  # relative
        ("class C:\n    def m(self):\n        import pkg.top.a as t\n", 3),  # in a method, aliased
    ],
)
def test_an_upward_import_is_named_with_its_place(tmp_path: Path, code: str, line: int) -> None:
    root = _package(tmp_path, {"top/a.py": "x = 1\n", "low/b.py": code})
    bad = upward(import_edges(root), SYNTH_LAYERS)
    assert bad == [
        f"low/b.py:{line}: pkg.low.b imports pkg.top.a (layer 3 low -> layer 1 top: upward)"
    ]


def test_downward_and_sideways_imports_pass(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "top/a.py": "from pkg.mid.m import y\nimport pkg.low.b\nfrom pkg import low\n",
            "mid/m.py": "from pkg.low.b import z\nfrom pkg.mid import n\ny = 1\n",
            "mid/n.py": "",
            "low/b.py": "import os\nfrom pathlib import Path\nz = 1\n",
        },
    )
    edges = import_edges(root)
    assert {(e.source, e.target) for e in edges} == {
        ("pkg.top.a", "pkg.mid.m"),
        ("pkg.top.a", "pkg.low.b"),
        ("pkg.top.a", "pkg.low"),
        ("pkg.mid.m", "pkg.low.b"),
        ("pkg.mid.m", "pkg.mid.n"),
    }
    assert upward(edges, SYNTH_LAYERS) == []
    assert cycles(edges) == []


def test_a_cycle_between_packages_is_named(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "low/a.py": "from pkg.mid.m import x\n",
            "mid/m.py": "def f():\n    import pkg.low.b\n",
            "low/b.py": "",
        },
    )
    edges = import_edges(root)
    assert cycles(edges) == []  # no loop between modules
    assert cycles(package_edges(edges)) == [["pkg.low", "pkg.mid", "pkg.low"]]


def test_a_module_in_no_layer_is_named(tmp_path: Path) -> None:
    root = _package(tmp_path, {"stray.py": "", "low/b.py": "import pkg.stray\n"})
    with pytest.raises(AssertionError, match=r"pkg\.stray: in no layer"):
        upward(import_edges(root), SYNTH_LAYERS)


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        # two modules, one import hidden in a function
        (
            {
                "low/a.py": "from pkg.low.b import x\ny = 1\n",
                "low/b.py": "def f():\n    from pkg.low.a import y\nx = 1\n",
            },
            ["pkg.low.a", "pkg.low.b", "pkg.low.a"],
        ),
        # three modules, one under TYPE_CHECKING
        (
            {
                "mid/a.py": "import pkg.mid.b\n",
                "mid/b.py": "from pkg.mid import c\n",
                "mid/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.mid.a import q\n",
            },
            ["pkg.mid.a", "pkg.mid.b", "pkg.mid.c", "pkg.mid.a"],
        ),
        # a package's __init__ and its own module
        (
            {
                "low/__init__.py": "from pkg.low.b import x\n",
                "low/b.py": "from pkg.low import y\nx = 1\n",
            },
            ["pkg.low", "pkg.low.b", "pkg.low"],
        ),
    ],
)
def test_a_cycle_is_named_module_by_module(
    tmp_path: Path, files: dict[str, str], cycle: list[str]
) -> None:
    root = _package(tmp_path, files)
    assert cycles(import_edges(root)) == [cycle]


@pytest.mark.parametrize(
    "code",
    ["import typer\n", "from typer import Option\n", "def f():\n    import typer.main\n"],
)
def test_typer_outside_the_command_layer_is_named(tmp_path: Path, code: str) -> None:
    root = _package(tmp_path, {"top/cli.py": "import typer\n", "low/b.py": code})
    assert typer_imports(root, ("pkg.top.*",)) == [
        f"low/b.py:{code.count(chr(10))}: pkg.low.b imports typer (only harborkit/commands/ may)"
    ]


def test_long_files_and_functions_are_named(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(81))
    ok_body = "".join(f"    x{i} = {i}\n" for i in range(80))
    root = _package(
        tmp_path,
        {
            "low/long.py": "x = 1\n" * 601,
            "low/short.py": "x = 1\n" * 600,
            "low/f.py": f"def too_long():\n{body}\n\ndef fits():\n{ok_body}"
            # a docstring is documentation, not body
            f'\n\ndef documented():\n    """One.\n\n    Two.\n    """\n{ok_body}',
            "mid/m.py": f"class C:\n    def method(self):\n    {body.replace(chr(10) + '    ', chr(10) + '        ')}",
        },
    )
    assert too_long(root) == [
        "low/f.py:1: too_long() has a body of 81 lines (at most 80)",
        "low/long.py: 601 lines (at most 600)",
        "mid/m.py:2: method() has a body of 81 lines (at most 80)",
    ]
    assert (
        too_long(root, files_allowed={"low/long.py"}, functions_allowed_in={"low/f.py", "mid/m.py"})
        == []
    )
