"""Plugin discovery, exactly: the order of distributions and entry points, what
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
from harborkit.engine.plugins import (
    GROUP,
    LoadedCheck,
    PluginFailure,
    _as_checks,
    _dist_name,
    discover,
)
from harborkit.model.check import Check, CheckContext, Outcome, passed

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
    (root / f"{module}.py").write_text(source)
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{entry_points}")


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
    builtin = [e for e in importlib.metadata.entry_points(group=GROUP) if e.name == "builtin"]
    assert [_dist_name(e) for e in builtin] == ["harborkit"]


def test_loaded_check_and_failure_records() -> None:
    assert LoadedCheck(One, "d") == LoadedCheck(One, "d")
    assert PluginFailure("a", "b", "c").error == "c"
