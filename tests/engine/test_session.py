"""What check and fix share (engine.session), called directly: option
splitting, host paths, --harbor-config/--install-dir checks, prepare()."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harborkit.engine.audit import Session
from harborkit.engine.plugins import LoadedCheck, PluginFailure
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import Selection
from harborkit.engine.session import check_options, host_path, prepare, root_options, split_names
from harborkit.errors import InputError
from harborkit.host import LocalHost, SysrootHost
from harborkit.model.check import Check, CheckContext, CheckOptions, Outcome, Status
from tests.support.sysroot import write


class Where(Check):
    """Says which host it ran on, with which options."""

    id = "t.where"
    title = "where"
    group = "tsession"

    def run(self, ctx: CheckContext) -> Outcome:
        o = ctx.options
        return Outcome(Status.WARN, f"{ctx.host.name}: {o.harbor_config} {o.install_dir}")


class Other(Check):
    id = "t.other"
    title = "other"
    group = "tsession"

    def run(self, ctx: CheckContext) -> Outcome:
        return Outcome(Status.PASS, "fine")


LOADED = (LoadedCheck(Where, "harborkit"), LoadedCheck(Other, "harborkit"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write(
        tmp_path / "s58",
        {
            "/etc/hostname": "server58\n",
            "/opt/harbor/harbor.yml": "hostname: reg\n",
            "/srv/h/harbor.yaml": "hostname: reg\n",
            "/srv/plain.txt": "x\n",
        },
    )


def test_split_names() -> None:
    assert split_names(None) == ()
    assert split_names([]) == ()
    assert split_names(["kernel,limits", " ntp ", ",,", " a , ,b", ""]) == (
        "kernel",
        "limits",
        "ntp",
        "a",
        "b",
    )


def test_host_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert host_path(None, None) is None
    assert host_path(None, "/mnt/s58") is None
    assert host_path("harbor/harbor.yml", None) == f"{tmp_path}/harbor/harbor.yml"
    assert host_path("/opt/../etc/x", None) == "/etc/x"
    assert host_path("opt/harbor", "/mnt/s58") == "/opt/harbor"
    assert host_path("/opt/harbor", "/mnt/s58") == "/opt/harbor"
    assert host_path("", "/mnt/s58") == "/"


def test_check_options_on_a_sysroot(root: Path) -> None:
    host = SysrootHost(root)
    r = str(root)
    assert check_options(host, {}, None, None, r) == CheckOptions(None, None)
    assert check_options(host, {}, "opt/harbor/harbor.yml", None, r) == CheckOptions(
        "/opt/harbor/harbor.yml", None
    )
    assert check_options(host, {}, None, "opt", r) == CheckOptions(None, "/opt/harbor")
    assert check_options(host, {"harbor": None}, None, "/opt/harbor", r) == CheckOptions(
        None, "/opt/harbor"
    )
    assert check_options(host, {"harbor": {"config_names": []}}, None, "/opt", r) == (
        CheckOptions(None, "/opt/harbor")
    )
    names = {"harbor": {"config_names": ["harbor.yaml"]}}
    assert check_options(host, names, None, "/srv/h", r) == CheckOptions(None, "/srv/h")
    with pytest.raises(InputError) as e:
        check_options(host, {}, None, "/srv/h", r)
    assert e.value.message == (
        "--install-dir /srv/h: no harbor.yml found (looked for /srv/h/harbor.yml or "
        "/srv/h/harbor/harbor.yml); give the folder holding harbor.yml or the one bundle "
        "load unpacked into"
    )
    with pytest.raises(InputError) as e:
        check_options(host, {}, "opt/harbor.yml", "/opt", r)
    assert e.value.message == f"--harbor-config /opt/harbor.yml: no such file in the sysroot {r}"
    # a folder given as the config exists: it is harbor.config's to judge
    assert check_options(host, {}, "/opt/harbor", None, r).harbor_config == "/opt/harbor"


def test_check_options_on_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"harbor/harbor.yml": "hostname: reg\n"})
    host = LocalHost()
    assert check_options(host, {}, "harbor/harbor.yml", ".", None) == CheckOptions(
        f"{tmp_path}/harbor/harbor.yml", f"{tmp_path}/harbor"
    )
    with pytest.raises(InputError) as e:
        check_options(host, {}, "missing.yml", None, None)
    assert e.value.message == f"--harbor-config {tmp_path}/missing.yml: no such file"


def test_root_options_names_the_sysroot_once(root: Path) -> None:
    host = SysrootHost(root)
    r = str(root)
    assert root_options(host, {}, "/opt/harbor/harbor.yml", "/opt", r) == CheckOptions(
        "/opt/harbor/harbor.yml", "/opt/harbor"
    )
    with pytest.raises(InputError) as e:
        root_options(host, {}, None, "/nowhere", r)
    assert e.value.message == f"--install-dir /nowhere: no such folder (in the sysroot {r})"
    assert isinstance(e.value.__cause__, InputError)
    with pytest.raises(InputError) as e:
        root_options(host, {}, None, "/srv/plain.txt", r)
    assert e.value.message == f"--install-dir /srv/plain.txt: not a folder (in the sysroot {r})"
    with pytest.raises(InputError) as e:
        root_options(host, {}, "/nope.yml", None, r)
    assert e.value.message == f"--harbor-config /nope.yml: no such file in the sysroot {r}"


def session(root: str | None, **kw: object) -> Session:
    return Session(
        LOADED,
        (),
        load_profile(),
        Selection(),
        root,
        CheckOptions("/opt/harbor/harbor.yml", "/opt/harbor"),
        **kw,  # type: ignore[arg-type]
    )


def test_session_context_and_run(root: Path) -> None:
    s = session(str(root))
    ctx = s.context()
    assert isinstance(ctx.host, SysrootHost) and ctx.host.root == root
    assert ctx.profile == s.profile.data and ctx.options == s.options
    ctx.memo("x", lambda: 1)
    assert s.context()._memo == {}
    local = session(None).context()
    assert type(local.host) is LocalHost
    report = s.run()
    assert (report.host, report.profile, report.profile_path) == (
        "server58",
        s.profile.name,
        s.profile.path,
    )
    assert [(r.check.id, r.status, r.message) for r in report.results] == [
        ("t.where", Status.WARN, "server58: /opt/harbor/harbor.yml /opt/harbor"),
        ("t.other", Status.PASS, "fine"),
    ]
    assert [r.check.id for r in s.run(only=["t.other"]).results] == ["t.other"]
    from harborkit.engine.waivers import Waiver

    waived = s.run([Waiver("t.where", "known", None, "w.yaml:1")])
    assert waived.results[0].status is Status.WAIVED
    failure = PluginFailure("bad = x:C", "harborkit-bad", "ImportError: x")
    broken = Session(LOADED, (failure,), s.profile, Selection(), str(root), s.options)
    assert [(r.check.id, r.status) for r in broken.run(only=["t.other"]).results] == [
        ("t.other", Status.PASS)
    ]
    assert [r.check.id for r in broken.run().results] == [
        "plugin:harborkit-bad",
        "t.where",
        "t.other",
    ]


def test_prepare(root: Path, tmp_path: Path) -> None:
    failure = PluginFailure("bad = x:C", "harborkit-bad", "ImportError: x")
    s = prepare(
        profile=None,
        root=str(root),
        harbor_config="opt/harbor/harbor.yml",
        install_dir="/opt",
        node=["server59=10.0.0.59"],
        only=["tsession,t.where"],
        skip=["t.other", "plugins"],
        loaded=list(LOADED),
        failures=[failure],
    )
    assert s.loaded == LOADED and s.failures == (failure,)
    assert s.root == str(root)
    assert s.options == CheckOptions("/opt/harbor/harbor.yml", "/opt/harbor")
    assert s.profile.data["nodes"][-1] == {"name": "server59", "address": "10.0.0.59"}
    assert s.profile.path == load_profile().path
    assert s.selection == Selection(
        s.profile.select, s.profile.skip, ("tsession", "t.where"), ("t.other", "plugins")
    )
    with pytest.raises(InputError) as e:
        prepare(
            profile=None,
            root=str(root),
            harbor_config=None,
            install_dir=None,
            node=None,
            only=["t.nope"],
            skip=None,
            loaded=list(LOADED),
        )
    assert e.value.message == (
        "--only t.nope: no check or group of that name (see 'harborkit check --list')"
    )
    with pytest.raises(InputError) as e:
        prepare(
            profile=None,
            root=str(root),
            harbor_config=None,
            install_dir=None,
            node=None,
            only=None,
            skip=["plugins"],
            loaded=list(LOADED),
        )
    assert e.value.message.startswith("--skip plugins: no check or group")
    profile = tmp_path / "p.yaml"
    profile.write_text(Path(load_profile().path).read_text())
    installed = prepare(
        profile=profile,
        root=None,
        harbor_config=None,
        install_dir=None,
        node=None,
        only=None,
        skip=None,
    )
    assert installed.profile.path == str(profile)
    assert installed.root is None and installed.options == CheckOptions(None, None)
    assert "kernel" in {lc.cls.group for lc in installed.loaded}
    assert installed.selection == Selection(installed.profile.select, installed.profile.skip)
    assert os.path.isabs(installed.profile.path)
