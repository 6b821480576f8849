"""Plugin discovery through entry points, with a distribution laid out in a
folder on sys.path as pip lays one out (dist-info with entry_points.txt)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from harborkit.checks import BUILTIN_CHECKS
from harborkit.engine.profile import load_profile, with_nodes
from harborkit.engine.registry import PluginFailure, discover
from harborkit.engine.runner import Selection, plugin_id
from harborkit.errors import ExitCode, InputError

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
    (tmp_path / "hkzz_plugin").mkdir()
    (tmp_path / "hkzz_plugin/__init__.py").write_text(PLUGIN)
    info = tmp_path / "hkzz_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hkzz-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
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
