"""A sysroot stays a sysroot: every path resolves inside it, as under chroot, and
only regular files of a sane size are read. No root needed: the hostile links
point at a secret file outside the sysroot, and no output may ever hold it."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from harborkit.fsutil import MAX_FILE_BYTES
from harborkit.host.interface import UnreadableFile
from harborkit.host.local import LocalHost, SysrootHost, resolve_in_root
from harborkit.model.check import Status
from tests.test_cli import hk

SECRET = "10.66.66.66 server58 leaked-secret"


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """``(root, outside)``: an empty sysroot and, beside it, a folder of secrets."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    for d in ("etc/docker", "opt", "usr/bin", "proc/sys/kernel"):
        (root / d).mkdir(parents=True)
    (root / "etc/hostname").write_text("server58\n")
    outside.mkdir()
    (outside / "hosts").write_text(SECRET + "\n")
    (outside / "harbor").mkdir()
    (outside / "harbor/harbor.yml").write_text("hostname: leaked-secret.example\n")
    (outside / "docker-compose").write_text("#!/bin/sh\necho leaked-secret\n")
    (outside / "docker-compose").chmod(0o755)
    return root, outside


def test_absolute_link_resolves_inside_the_root(world: tuple[Path, Path]) -> None:
    root, outside = world
    (root / "etc/hosts").symlink_to(outside / "hosts")  # absolute, pointing out
    host = SysrootHost(root)
    with pytest.raises(FileNotFoundError):
        host.read_text("/etc/hosts")
    assert not host.exists("/etc/hosts")
    assert host.resolve("server58") == []
    # the same link target, copied inside the root, is what it means there
    inside = root / str(outside).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "hosts").write_text("192.168.3.58 server58\n")
    assert host.read_text("/etc/hosts") == "192.168.3.58 server58\n"
    assert host.resolve("server58") == ["192.168.3.58"]


def test_relative_link_cannot_climb_above_the_root(world: tuple[Path, Path]) -> None:
    root, outside = world
    # ../../outside/hosts from etc/ would leave root/ on this machine; under chroot
    # /.. is /, so it names /outside/hosts of the sysroot
    (root / "etc/hosts").symlink_to("../../../../../outside/hosts")
    host = SysrootHost(root)
    with pytest.raises(FileNotFoundError):
        host.read_text("/etc/hosts")
    (root / "outside").mkdir()
    (root / "outside/hosts").write_text("192.168.3.59 server58\n")
    assert host.read_text("/etc/hosts") == "192.168.3.59 server58\n"


def test_links_at_any_depth_stay_inside(world: tuple[Path, Path]) -> None:
    root, outside = world
    # a folder link in the middle of the path, absolute, then relative, then a chain
    (root / "etc/security").symlink_to(outside)
    (root / "etc/sysctl.d").symlink_to("../../../" + os.path.relpath(outside, "/"))
    (root / "etc/a").symlink_to("b")
    (root / "etc/b").symlink_to("/etc/security")
    host = SysrootHost(root)
    for path in ("/etc/security/hosts", "/etc/sysctl.d/hosts", "/etc/a/hosts"):
        with pytest.raises(FileNotFoundError):
            host.read_text(path)
        assert not host.exists(path)
    assert host.glob("/etc/security/*") == []
    assert host.glob("/etc/sysctl.d/*") == []
    assert host.glob("/etc/a/*") == []
    with pytest.raises(FileNotFoundError):
        host.listdir("/etc/security")


def test_a_link_loop_is_eloop_not_a_hang(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "etc/hosts").symlink_to("hosts2")
    (root / "etc/hosts2").symlink_to("/etc/hosts")
    host = SysrootHost(root)
    with pytest.raises(OSError) as e:
        host.read_text("/etc/hosts")
    assert e.value.errno == errno.ELOOP
    assert not host.exists("/etc/hosts")


def test_which_does_not_find_a_program_outside(world: tuple[Path, Path]) -> None:
    root, outside = world
    (root / "usr/bin/docker-compose").symlink_to(outside / "docker-compose")
    assert SysrootHost(root).which("docker-compose") is None
    (root / "usr/bin/docker").symlink_to("../../../../../../usr/bin/docker-real")
    (root / "usr/bin/docker-real").write_text("#!/bin/sh\n")
    (root / "usr/bin/docker-real").chmod(0o755)
    assert SysrootHost(root).which("docker") == "/usr/bin/docker"


def test_resolve_in_root_names_no_link(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "etc/alt").symlink_to("/opt")
    (root / "opt/harbor").mkdir()
    real = resolve_in_root(str(root), "/etc/alt/./harbor/../harbor")
    assert real == root / "opt" / "harbor"
    with pytest.raises(NotADirectoryError):
        resolve_in_root(str(root), "/etc/hostname/x")


def test_cli_harbor_config_and_install_dir_stay_inside(world: tuple[Path, Path]) -> None:
    root, outside = world
    (root / "opt/harbor").symlink_to(outside / "harbor")  # absolute link to the secret
    (root / "etc/hosts").symlink_to("../../../outside/hosts")
    r = hk("check", "--root", str(root), "--harbor-config", "/opt/harbor/harbor.yml")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (
        f"harborkit: error: --harbor-config /opt/harbor/harbor.yml: no such file in the "
        f"sysroot {root}\n"
    )
    r = hk("check", "--root", str(root), "--install-dir", "/opt/harbor")
    assert (r.returncode, r.stderr) == (
        2,
        "harborkit: error: --install-dir /opt/harbor: no such folder\n",
    )
    # the same absolute link, meaningful inside the sysroot, is followed there
    inside = root / str(outside).lstrip("/") / "harbor"
    inside.mkdir(parents=True)
    (inside / "harbor.yml").write_text("hostname: 192.168.3.60\n")
    for option in (["--harbor-config", "/opt/harbor/harbor.yml"], ["--install-dir", "/opt/harbor"]):
        r = hk(
            "check", "--root", str(root), *option, "--only", "harbor.config,network", "-f", "json"
        )
        assert r.returncode == 1, r.stderr
        assert "leaked" not in r.stdout and "leaked" not in r.stderr
        results = {x["id"]: x for x in json.loads(r.stdout)["results"]}
        assert results["harbor.config"]["findings"][0]["location"].startswith(
            "/opt/harbor/harbor.yml"
        )
        assert results["network.hostname"]["message"] == "server58: does not resolve"


def test_fifo_where_a_config_file_should_be(world: tuple[Path, Path]) -> None:
    root, _ = world
    os.mkfifo(root / "etc/hosts")  # opening it for reading would block forever
    r = hk("check", "--root", str(root), "--only", "network.hostname", "-f", "json")
    assert r.returncode == 1, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert res["status"] == "fail"
    assert res["message"] == "/etc/hosts: is a FIFO (named pipe), not a regular file: not read"
    assert res["findings"] == [
        {
            "status": "fail",
            "subject": "file",
            "message": "is a FIFO (named pipe), not a regular file: not read",
            "expected": None,
            "actual": None,
            "location": "/etc/hosts",
        }
    ]


def test_directory_where_daemon_json_should_be(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "etc/docker/daemon.json").mkdir()
    r = hk("check", "--root", str(root), "--only", "docker.daemon_json", "-f", "json")
    assert r.returncode == 1, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert (res["status"], res["message"]) == (
        "fail",
        "/etc/docker/daemon.json: is a directory, not a regular file: not read",
    )


def test_harbor_yml_that_is_a_fifo(world: tuple[Path, Path]) -> None:
    root, _ = world
    (root / "opt/harbor").mkdir()
    os.mkfifo(root / "opt/harbor/harbor.yml")
    r = hk("check", "--root", str(root), "--install-dir", "/opt/harbor", "--only", "harbor.config")
    assert r.returncode == 1
    assert (
        "/opt/harbor/harbor.yml: is a FIFO (named pipe), not a regular file: not read" in r.stdout
    )


def test_character_device_is_never_opened() -> None:
    # /dev/zero is endless; a reader that opened it would never finish
    with pytest.raises(UnreadableFile) as e:
        LocalHost().read_text("/dev/zero")
    assert str(e.value) == "/dev/zero: is a character device, not a regular file: not read"


def test_huge_and_endless_files_are_cut_at_the_limit(world: tuple[Path, Path]) -> None:
    root, _ = world
    with open(root / "etc/hosts", "wb") as f:
        f.truncate(64 << 30)  # 64 GiB, sparse: reading it whole would take minutes
    host = SysrootHost(root)
    with pytest.raises(UnreadableFile) as e:
        host.read_text("/etc/hosts")
    assert e.value.reason == (
        f"is larger than {MAX_FILE_BYTES >> 20} MiB, too large for a config file: not read"
    )
    with open(root / "etc/hosts", "wb") as f:
        f.truncate(MAX_FILE_BYTES)  # exactly at the limit: read
    assert len(host.read_text("/etc/hosts")) == MAX_FILE_BYTES


def test_runner_reports_unreadable_file_as_fail_finding(world: tuple[Path, Path]) -> None:
    from harborkit.checks.names import HostnameResolves
    from harborkit.engine.profile import load_profile
    from harborkit.engine.runner import run_check
    from harborkit.model.check import CheckContext

    root, _ = world
    (root / "etc/hosts").mkdir()
    out = run_check(HostnameResolves, CheckContext(SysrootHost(root), load_profile().data))
    assert out.status is Status.FAIL
    assert out.message == "/etc/hosts: is a directory, not a regular file: not read"
    assert [(f.status, f.location) for f in out.findings] == [(Status.FAIL, "/etc/hosts")]


def test_read_bytes_is_confined_and_limited_like_read_text(world: tuple[Path, Path]) -> None:
    root, outside = world
    (root / "etc/hosts").symlink_to(outside / "hosts")
    host = SysrootHost(root)
    with pytest.raises(FileNotFoundError):
        host.read_bytes("/etc/hosts")
    (root / "etc/motd").write_bytes(b"caf\xe9\n")
    assert host.read_bytes("/etc/motd") == b"caf\xe9\n"
    assert host.read_text("/etc/motd") == "caf\ufffd\n"
    os.mkfifo(root / "etc/fifo")
    with pytest.raises(UnreadableFile):
        host.read_bytes("/etc/fifo")
