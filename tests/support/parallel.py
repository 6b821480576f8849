"""What lets ``make test`` run the suite on several pytest-xdist workers (issue 24).

Groups. A shared fixture that starts something slow (a private dockerd, the lab
of sshd hosts, the Harbor-shaped stack, registries, a bundle built from a
daemon) is made once per pytest process. Under ``--dist loadgroup`` every test
that uses such a fixture gets an ``xdist_group`` naming it, so all of them run
on one worker and the fixture still starts once per run; tests that share
several such fixtures join their groups into one (a union-find over the
fixtures' identities). Tests with no heavy fixture are spread one by one.
Everything a fixture starts is already private (its own temporary folder,
socket, free loopback address or port), so a fixture that two workers both
need is simply started twice.

Bytecode. The machine's environment sets ``PYTHONDONTWRITEBYTECODE``: every
harborkit child process a test starts (thousands) compiled every harborkit
module from source again. :func:`compile_harborkit` writes the ``__pycache__``
files once per run, as ``pip install`` does for an installed package; a child
reads them (a stale one, of a source edited since, is ignored by Python).
"""

from __future__ import annotations

import compileall
import inspect
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

#: calls in a fixture's source that start something slow
HEAVY_CALLS = (
    "start_dockerd(",
    "start_registry(",
    "start_host(",
    "netns_dockerd(",
    "dockerd_with_limits(",
    "run_cli(",
    "start_hostile",
    # a headless chromium run (seconds), and a fixture writing the fixed artefacts
    # folder (.work/artifacts): two workers would overwrite each other's page
    "chromium(",
    "ARTIFACTS",
)

#: shared fixtures that are slow but meant to be made once per process: each test
#: takes a new daemon of its own from it, so two workers each having one is no waste
PER_WORKER = frozenset({"spare_daemons"})


def compile_harborkit() -> None:
    """Byte-compile the checkout's harborkit package (quietly; errors are the
    tests' to find)."""
    compileall.compile_dir(str(REPO / "harborkit"), quiet=2, workers=1)


def _source(func: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(func)
    except (OSError, TypeError):
        return ""


def _ours(func: Callable[..., Any]) -> bool:
    """A fixture defined in this suite (tests/), not pytest's or a plugin's."""
    try:
        path = Path(inspect.getsourcefile(inspect.unwrap(func)) or "")
    except TypeError:
        return False
    return path.resolve().is_relative_to(REPO / "tests")


class _Groups:
    """Union-find over fixture identities."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def union(self, keys: Iterable[str]) -> str | None:
        roots = sorted({self.find(k) for k in keys})
        if not roots:
            return None
        for r in roots[1:]:
            self.parent[r] = roots[0]
        return roots[0]


def _heavy(defn: Any, defs_by_name: dict[str, Any], memo: dict[int, bool]) -> bool:
    """A fixture of wider than function scope, of this suite, that starts
    something slow itself or through another such fixture it asks for."""
    key = id(defn)
    if key in memo:
        return memo[key]
    memo[key] = False  # no recursion through a cycle
    heavy = False
    if defn.scope != "function" and _ours(defn.func):
        src = _source(defn.func)
        heavy = any(c in src for c in HEAVY_CALLS)
        for name in defn.argnames:
            dep = defs_by_name.get(name)
            if dep is not None and _heavy(dep[-1], defs_by_name, memo):
                heavy = True
    memo[key] = heavy and defn.argname not in PER_WORKER
    return memo[key]


def _identity(defn: Any, item: pytest.Item) -> str:
    """One instance of the fixture: per module for a module-scoped one, per
    defining folder or file for a package- or session-scoped one."""
    where = item.nodeid.split("::")[0] if defn.scope == "module" else defn.baseid or "."
    # the widest scope first: a group is named after its session fixture, if any;
    # xdist keeps the group after an "@" in the node id: none in the name
    rank = {"session": 0, "package": 1}.get(defn.scope, 2)
    return f"{rank}:{defn.argname} in {where}".replace("@", "_")


def assign_groups(items: list[pytest.Item]) -> dict[str, int]:
    """Mark every test that uses a heavy shared fixture with its group; the
    number of tests per group."""
    groups = _Groups()
    memo: dict[int, bool] = {}
    roots: dict[int, str | None] = {}
    for i, item in enumerate(items):
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        by_name = info.name2fixturedefs
        keys = [
            _identity(defs[-1], item)
            for defs in by_name.values()
            if defs and _heavy(defs[-1], by_name, memo)
        ]
        roots[i] = groups.union(keys)
    sizes: dict[str, int] = {}
    for i, item in enumerate(items):
        root = roots.get(i)
        if root is None:
            continue
        name = groups.find(root).partition(":")[2]
        item.add_marker(pytest.mark.xdist_group(name))
        sizes[name] = sizes.get(name, 0) + 1
    return sizes


#: where the workers leave {node id: group} for the controller's scheduler
GROUPS_ENV = "HK_XDIST_GROUPS"


def write_groups(items: list[pytest.Item], path: str) -> None:
    """A worker's groups, for :func:`make_scheduler` (xdist 3.8 would carry them in
    the node ids, which pytest 9.2 no longer lets a plugin change)."""
    groups = {}
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is not None:
            groups[item.nodeid] = str(mark.args[0])
    part = f"{path}.{os.getpid()}"
    with open(part, "w") as f:
        json.dump(groups, f)
    os.replace(part, path)


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadgroup, the groups read from the file the workers wrote."""
    from xdist.scheduler import LoadScopeScheduling

    path = os.environ[GROUPS_ENV]

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                with open(path) as f:
                    self.groups = json.load(f)
            return self.groups.get(nodeid, nodeid)

    return GroupScheduling(config, log)
