"""The bundle side's import graph (issue #21): ``bundle/``, ``registry/`` and ``dockerapi``
import only each other and the core helpers, with no cycle, counting imports inside
functions (and under ``TYPE_CHECKING``) alike."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import harborkit

ROOT = Path(harborkit.__file__).parent
#: the modules of the slice (the bundle CLI modules are the command layer's, moving out)
SLICE = ("harborkit.bundle", "harborkit.registry", "harborkit.dockerapi")
COMMANDS = {
    "harborkit.bundle.cli",
    "harborkit.bundle.cli_base",
    "harborkit.bundle.registry_cli",
    "harborkit.bundle.trust_cli",
}
CORE = (
    "harborkit.errors",
    "harborkit.fsutil",
    "harborkit.yamlfile",
    "harborkit.resources",
    "harborkit.transfer",
    "harborkit.watch",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """harborkit modules that ``path`` imports anywhere in it (module level or not)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {
        name: _imports(name, path, known)
        for name, path in mods.items()
        if name.startswith(SLICE) and name not in COMMANDS
    }


def _in(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_slice_imports_only_itself_and_the_core_helpers() -> None:
    wrong = sorted(
        f"{mod} -> {dep}"
        for mod, deps in _graph().items()
        for dep in deps
        if not (dep == "harborkit" or _in(dep, SLICE) or _in(dep, CORE)) or dep in COMMANDS
    )
    assert wrong == []


@pytest.mark.parametrize("core", CORE)
def test_the_core_helpers_import_nothing_of_the_slice(core: str) -> None:
    mods = _modules()
    if core not in mods:
        pytest.skip(f"{core} is not a module of this tree")
    assert [d for d in _imports(core, mods[core], set(mods)) if _in(d, SLICE)] == []


def test_no_import_cycle_in_the_slice() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(mod: str) -> None:
        state[mod] = 1
        path.append(mod)
        for dep in sorted(graph.get(mod, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[mod] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod)
    assert cycles == []


def test_the_cycle_check_sees_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    """The check itself can fail: an import inside a function counts."""
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from harborkit.bundle.writer import BundleWriter\n")
    known = {"harborkit.bundle.writer", "harborkit.bundle.a"}
    assert _imports("harborkit.bundle.a", a, known) == {"harborkit.bundle.writer"}
