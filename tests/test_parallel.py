"""The xdist groups of tests/support/parallel.py: every test that shares a slow
fixture runs on one worker (so the fixture starts once per run), other tests are
spread one by one."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.parallel import assign_groups


# fixture bodies, never run: only their source (what they would start) is read
def lab_fixture() -> None:
    start_dockerd()  # type: ignore[name-defined]  # noqa: F821


def daemon_fixture() -> None:
    start_dockerd()  # type: ignore[name-defined]  # noqa: F821


def victim_fixture(lab: Any) -> None:
    """Starts nothing itself: heavy through ``lab``."""


def light_fixture() -> None:
    """A folder made with tmp_path_factory: cheap, made again on each worker."""


def spare_fixture() -> None:
    SpareDaemons()  # type: ignore[name-defined]  # noqa: F821


def marker_of(item: FakeItem) -> str | None:
    names = [m.args[0] for m in item.markers if m.name == "xdist_group"]
    assert len(names) <= 1
    return names[0] if names else None


@dataclass
class FakeDef:
    argname: str
    scope: str
    func: Any
    baseid: str = "tests"
    argnames: tuple[str, ...] = ()


@dataclass
class FakeItem:
    nodeid: str
    defs: list[FakeDef]
    markers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._fixtureinfo = SimpleNamespace(name2fixturedefs={d.argname: [d] for d in self.defs})

    def add_marker(self, mark: Any) -> None:
        self.markers.append(mark)


LAB = FakeDef("lab", "session", lab_fixture, "tests/remote")
VICTIM = FakeDef("victim", "module", victim_fixture, "tests/remote/test_b.py", ("lab",))
LIGHT = FakeDef("minisign_key", "session", light_fixture)
SPARE = FakeDef("spare_daemons", "session", spare_fixture)


def daemon(module: str) -> FakeDef:
    return FakeDef("daemon", "module", daemon_fixture, module)


def groups(items: list[FakeItem]) -> list[str | None]:
    assign_groups(items)  # type: ignore[arg-type]
    return [marker_of(i) for i in items]


def test_tests_of_one_session_fixture_share_a_group_others_have_none() -> None:
    items = [
        FakeItem("tests/remote/test_a.py::t1", [LAB]),
        FakeItem("tests/remote/test_b.py::t2", [LAB, VICTIM]),
        FakeItem("tests/remote/test_b.py::t3", []),
        FakeItem("tests/test_x.py::t4", [LIGHT]),
        FakeItem("tests/test_x.py::t5", [SPARE]),
        FakeItem("tests/test_x.py::t6", [pytest_fixture_def()]),
    ]
    assert groups(items) == ["lab in tests/remote", "lab in tests/remote", None, None, None, None]


def test_a_module_fixture_is_one_group_per_module() -> None:
    a, b = daemon("tests/m/test_a.py"), daemon("tests/m/test_b.py")
    items = [
        FakeItem("tests/m/test_a.py::t1", [a]),
        FakeItem("tests/m/test_b.py::t2", [b]),
        FakeItem("tests/m/test_a.py::t3[x@y]", [a]),
    ]
    got = groups(items)
    assert got[0] == got[2] == "daemon in tests/m/test_a.py"
    assert got[1] == "daemon in tests/m/test_b.py"


def test_a_fixture_asking_for_a_heavy_one_is_heavy_and_groups_join() -> None:
    # t1 uses only the module's victim (through it, lab); t2 joins lab and a daemon;
    # t3 uses only that daemon: all three run on one worker, lab and daemon start once
    module = daemon("tests/m/test_c.py")
    items = [
        FakeItem(
            "tests/remote/test_b.py::t1",
            [FakeDef(**{**VICTIM.__dict__, "argnames": ("lab",)}), LAB],
        ),
        FakeItem("tests/m/test_c.py::t2", [LAB, module]),
        FakeItem("tests/m/test_c.py::t3", [module]),
    ]
    assert groups(items) == ["lab in tests/remote"] * 3


def test_victim_alone_in_the_closure_is_still_heavy() -> None:
    # name2fixturedefs holds the whole closure; without lab in it victim has no
    # source of its own to judge by: it is light
    items = [FakeItem("tests/remote/test_b.py::t1", [VICTIM])]
    assert groups(items) == [None]


def test_no_group_name_holds_the_at_sign_xdist_splits_on() -> None:
    odd = FakeDef("daemon", "module", daemon_fixture, "tests/m/test_@.py")
    items = [FakeItem("tests/m/test_@.py::t1", [odd])]
    (name,) = groups(items)
    assert name is not None and "@" not in name


def pytest_fixture_def() -> FakeDef:
    """A fixture of pytest's own (tmp_path_factory): never a group."""
    return FakeDef("tmp_path_factory", "session", pytest.TempPathFactory.getbasetemp, "")
