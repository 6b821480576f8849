"""Plugin discovery through entry points, with a distribution laid out in a
folder on sys.path as pip lays one out (dist-info with entry_points.txt).

Plugin discovery, exactly: the order of distributions and entry points, what
an entry point may name, and the message of every kind of broken plugin. The
plugins are real distributions laid out on sys.path as pip lays them out."""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from harborkit.checks import BUILTIN_CHECKS
from harborkit.compat import entry_points
from harborkit.engine.plugins import (
    GROUP,
    LoadedCheck,
    PluginFailure,
    _as_checks,
    _dist_name,
    discover,
)
from harborkit.engine.profile import load_profile, with_nodes
from harborkit.engine.runner import Selection, plugin_id
from harborkit.errors import ExitCode, InputError
from harborkit.model.check import Check, CheckContext, Outcome, passed
from tests.support.plugins import lay_out_dist

PLUGIN = """
from harborkit.model.check import Check, passed


class Good(Check):
    id = "zz.good"
    title = "good"
    group = "zz"

    def run(self, ctx):
        return passed("ok")


class NoTitle(Check):
    id = "zz.notitle"
    title = ""
    group = "zz"

    def run(self, ctx):
        return passed("ok")


class Twin(Check):
    id = "selinux.mode"
    title = "twin"
    group = "zz"

    def run(self, ctx):
        return passed("ok")


NOT_A_CHECK = 42
BOTH = [Good]
"""


ENTRY_POINTS = """[harborkit.checks]
a-good = hkzz_plugin:Good
b-list = hkzz_plugin:BOTH
c-notitle = hkzz_plugin:NoTitle
d-twin = hkzz_plugin:Twin
e-number = hkzz_plugin:NOT_A_CHECK
f-missing = hkzz_plugin.nowhere:X
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lay_out_dist(tmp_path, "hkzz_plugin", "hkzz-plugin", PLUGIN, ENTRY_POINTS, package=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("hkzz_plugin", None)


def test_builtins_first_then_plugins_with_each_failure_named(plugin_dir: Path) -> None:
    loaded, failures = discover()
    builtin = [lc for lc in loaded if lc.source == "harborkit"]
    assert [lc.cls for lc in builtin] == BUILTIN_CHECKS
    assert loaded[: len(builtin)] == builtin
    assert [(lc.cls.id, lc.source) for lc in loaded[len(builtin) :]] == [("zz.good", "hkzz-plugin")]
    assert failures == [
        PluginFailure(
            "hkzz_plugin:BOTH", "hkzz-plugin", "check id zz.good is already provided by hkzz-plugin"
        ),
        PluginFailure("hkzz_plugin:NoTitle", "hkzz-plugin", "NoTitle lacks title"),
        PluginFailure(
            "hkzz_plugin:Twin",
            "hkzz-plugin",
            "check id selinux.mode is already provided by harborkit",
        ),
        PluginFailure(
            "e-number = hkzz_plugin:NOT_A_CHECK",
            "hkzz-plugin",
            "TypeError: expected a Check subclass or a list of them, got int",
        ),
        PluginFailure(
            "f-missing = hkzz_plugin.nowhere:X",
            "hkzz-plugin",
            "ModuleNotFoundError: No module named 'hkzz_plugin.nowhere'",
        ),
    ]
    checks = [lc.cls for lc in loaded]
    # a broken plugin's id and the 'plugins' group are valid names only when one failed
    Selection(only=("plugins", plugin_id(failures[0]))).validate_names(checks, failures)
    with pytest.raises(InputError) as e:
        Selection(cli_skip=("plugins",)).validate_names(checks, [])
    assert e.value.message == (
        "--skip plugins: no check or group of that name (see 'harborkit check --list')"
    )
    Selection(only=("zz", "zz.good", "all"), cli_skip=("kernel",)).validate_names(checks)


def test_nodes_from_the_command_line() -> None:
    prof = load_profile()
    assert with_nodes(prof, []) is prof
    extended = with_nodes(prof, ["server58=192.168.3.58", "b=fd00::2"])
    assert extended.data["nodes"][-2:] == [
        {"name": "server58", "address": "192.168.3.58"},
        {"name": "b", "address": "fd00::2"},
    ]
    assert (extended.name, extended.path) == (prof.name, prof.path)
    assert "nodes" not in prof.data or prof.data["nodes"] != extended.data["nodes"]
    for bad in ("server58", "=1.2.3.4", "server58="):
        with pytest.raises(InputError) as e:
            with_nodes(prof, [bad])
        assert (e.value.exit_code, e.value.message) == (
            ExitCode.USAGE,
            f"--node {bad!r}: expected NAME=ADDRESS, e.g. server58=192.168.3.58",
        )
    # the name ends at the first '='; the rest must be an IP address, so a
    # second '=' is a typo caught here, not a node that never resolves
    for bad, address in (("b=10.0.0.2=x", "10.0.0.2=x"), ("b=harbor.example", "harbor.example")):
        with pytest.raises(InputError) as e:
            with_nodes(prof, ["server58=192.168.3.58", bad])
        assert (e.value.exit_code, e.value.message) == (
            ExitCode.USAGE,
            f"--node {bad!r}: {address!r} is not an IP address "
            "(nodes resolve to addresses, e.g. 192.168.3.58)",
        )


AA = """
from harborkit.model.check import Check, passed


def _make(cid, title="t", group="g"):
    class C(Check):
        def run(self, ctx):
            return passed("ok")

    C.id, C.title, C.group = cid, title, group
    C.__name__ = "C_" + cid.replace(".", "_")
    return C


Zeta = _make("aa.zeta")
Alpha = _make("aa.alpha")
Pair = (_make("aa.p1"), _make("aa.p2"))
Empty = []
Bare = _make("", "", "")
NoGroup = _make("aa.nogroup", "t", "")
Mixed = [Alpha, 3]


class NoId(Check):
    title, group = "no id at all", "g"

    def run(self, ctx):
        return passed("ok")


Text = "aa.alpha"
"""


ZZ = """
from harborkit.model.check import Check, passed


class Late(Check):
    id, title, group = "zz.late", "late", "zz"

    def run(self, ctx):
        return passed("ok")


class Again(Check):
    id, title, group = "aa.alpha", "again", "zz"

    def run(self, ctx):
        return passed("ok")


raise_on_import = None
"""


BROKEN = "raise RuntimeError('plugin failed at import')\n"


def _dist(root: Path, module: str, dist: str, source: str, entry_points: str) -> None:
    lay_out_dist(root, module, dist, source, f"[{GROUP}]\n{entry_points}")


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # entry points listed out of order: discovery sorts them by name
    _dist(
        tmp_path,
        "hkaa_plugin",
        "aa-plugin",
        AA,
        "z-zeta = hkaa_plugin:Zeta\n"
        "a-alpha = hkaa_plugin:Alpha\n"
        "m-pair = hkaa_plugin:Pair\n"
        "n-empty = hkaa_plugin:Empty\n"
        "o-bare = hkaa_plugin:Bare\n"
        "o-noid = hkaa_plugin:NoId\n"
        "p-nogroup = hkaa_plugin:NoGroup\n"
        "q-mixed = hkaa_plugin:Mixed\n"
        "r-text = hkaa_plugin:Text\n",
    )
    _dist(
        tmp_path,
        "hkzz_more",
        "zz-more",
        ZZ,
        "b-again = hkzz_more:Again\na-late = hkzz_more:Late\n",
    )
    _dist(tmp_path, "hkmm_broken", "mm-broken", BROKEN, "x = hkmm_broken:Anything\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for m in ("hkaa_plugin", "hkzz_more", "hkmm_broken"):
        sys.modules.pop(m, None)


def test_discovery_order_and_every_failure(plugins: Path) -> None:
    loaded, failures = discover()
    n = len(BUILTIN_CHECKS)
    assert [lc.cls for lc in loaded[:n]] == BUILTIN_CHECKS
    assert {lc.source for lc in loaded[:n]} == {"harborkit"}
    assert [(lc.cls.id, lc.source) for lc in loaded[n:]] == [
        ("aa.alpha", "aa-plugin"),
        ("aa.p1", "aa-plugin"),
        ("aa.p2", "aa-plugin"),
        ("aa.zeta", "aa-plugin"),
        ("zz.late", "zz-more"),
    ]
    assert failures == [
        PluginFailure("hkaa_plugin:Bare", "aa-plugin", "C_ lacks id, title, group"),
        PluginFailure("hkaa_plugin:NoId", "aa-plugin", "NoId lacks id"),
        PluginFailure("hkaa_plugin:NoGroup", "aa-plugin", "C_aa_nogroup lacks group"),
        PluginFailure(
            "q-mixed = hkaa_plugin:Mixed",
            "aa-plugin",
            "TypeError: expected a Check subclass or a list of them, got list",
        ),
        PluginFailure(
            "r-text = hkaa_plugin:Text",
            "aa-plugin",
            "TypeError: expected a Check subclass or a list of them, got str",
        ),
        PluginFailure(
            "x = hkmm_broken:Anything", "mm-broken", "RuntimeError: plugin failed at import"
        ),
        PluginFailure(
            "hkzz_more:Again", "zz-more", "check id aa.alpha is already provided by aa-plugin"
        ),
    ]


class One(Check):
    id, title, group = "o.one", "one", "o"

    def run(self, ctx: CheckContext) -> Outcome:
        return passed("ok")


class Two(One):
    id = "o.two"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (One, [One]),
        ([One, Two], [One, Two]),
        ((Two, One), [Two, One]),
        ([], []),
    ],
    ids=["class", "list", "tuple", "empty"],
)
def test_as_checks_accepts(obj: object, expected: list[type[Check]]) -> None:
    assert _as_checks(obj) == expected
    if isinstance(obj, list):
        assert _as_checks(iter(obj)) == expected


@pytest.mark.parametrize(
    ("obj", "name"),
    [
        (42, "int"),
        ("o.one", "str"),
        (b"o.one", "bytes"),
        ([One, "x"], "list"),
        ([One, One()], "list"),
        ([One, int], "list"),
        (Check.__subclasses__, "builtin_function_or_method"),
        (int, "type"),
        ({"a": One}, "dict"),
    ],
    ids=[
        "int",
        "str",
        "bytes",
        "list-with-str",
        "list-with-instance",
        "list-with-other-class",
        "function",
        "class",
        "dict",
    ],
)
def test_as_checks_refuses(obj: object, name: str) -> None:
    with pytest.raises(TypeError) as e:
        _as_checks(obj)
    assert str(e.value) == f"expected a Check subclass or a list of them, got {name}"


def test_dist_name_falls_back_to_the_module() -> None:
    ep = EntryPoint("x", "some.module:Thing", GROUP)
    assert _dist_name(ep) == "some.module"
    builtin = [e for e in entry_points(GROUP) if e.name == "builtin"]
    assert [_dist_name(e) for e in builtin] == ["harborkit"]


def test_loaded_check_and_failure_records() -> None:
    assert LoadedCheck(One, "d") == LoadedCheck(One, "d")
    assert PluginFailure("a", "b", "c").error == "c"
