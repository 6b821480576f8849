"""Extra files: checksum files, atomic install with mode, refusing to replace a different file."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.bundle.errors import BundleCorrupt, DownloadError, InstallTargetExists
from harborkit.bundle.format import FileRecord
from harborkit.bundle.tools import install_one, parse_checksum_file, parse_file_option, plan_install
from harborkit.errors import ExitCode, InputError

DATA = b"#!/bin/sh\necho docker-compose version 1.24.0, build 0aa59064\n"
SHA = hashlib.sha256(DATA).hexdigest()
REC = FileRecord(
    "docker-compose", len(DATA), SHA, "http://x", "/usr/local/bin/docker-compose", 0o755
)


def _chunks(data: bytes = DATA) -> Iterator[bytes]:
    yield data[:10]
    yield data[10:]


def test_checksum_file_forms() -> None:
    assert (
        parse_checksum_file(
            f"{SHA}  docker-compose-Linux-x86_64\n", "docker-compose-Linux-x86_64", "u"
        )
        == SHA
    )
    assert (
        parse_checksum_file(
            f"{SHA} *docker-compose-Linux-x86_64\n", "docker-compose-Linux-x86_64", "u"
        )
        == SHA
    )
    assert parse_checksum_file(f"{SHA.upper()}\n", "x", "u") == SHA
    both = f"{'0' * 64}  other\n{SHA}  docker-compose-Linux-x86_64\n"
    assert parse_checksum_file(both, "docker-compose-Linux-x86_64", "u") == SHA
    with pytest.raises(DownloadError) as exc:
        parse_checksum_file("<html>not found</html>", "dc", "http://h/dc.sha256")
    assert exc.value.exit_code == ExitCode.DOWNLOAD
    assert exc.value.message == "checksum file http://h/dc.sha256 has no single sha256 for dc"


def test_file_option() -> None:
    assert parse_file_option(["docker-compose=/tmp/dc"]) == {"docker-compose": "/tmp/dc"}
    with pytest.raises(InputError) as exc:
        parse_file_option(["docker-compose"])
    assert exc.value.message == "--file 'docker-compose': expected NAME=PATH or NAME=URL"


def test_install_writes_bytes_and_mode_atomically(tmp_path: Path) -> None:
    [(rec, target, same)] = plan_install([REC], tmp_path, force=False)
    assert (target, same) == (tmp_path / "usr/local/bin/docker-compose", False)
    install_one(rec, target, _chunks)
    assert target.read_bytes() == DATA
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert sorted(p.name for p in target.parent.iterdir()) == ["docker-compose"]
    # the same bytes again: nothing to do
    assert plan_install([REC], tmp_path, force=False)[0][2] is True


def test_a_different_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "usr/local/bin/docker-compose"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"older compose")
    with pytest.raises(InstallTargetExists) as exc:
        plan_install([REC], tmp_path, force=False)
    assert exc.value.exit_code == ExitCode.USAGE
    assert exc.value.message == (
        f"{target} exists and differs from the bundle's docker-compose; not replacing it (--force replaces it)"
    )
    assert target.read_bytes() == b"older compose"
    [(rec, t, same)] = plan_install([REC], tmp_path, force=True)
    install_one(rec, t, _chunks)
    assert target.read_bytes() == DATA


def test_bytes_that_do_not_match_leave_nothing(tmp_path: Path) -> None:
    target = tmp_path / "usr/local/bin/docker-compose"
    with pytest.raises(BundleCorrupt) as exc:
        install_one(REC, target, lambda: _chunks(DATA[:-1] + b"X"))
    assert exc.value.message.startswith("files/docker-compose read back with sha256 ")
    assert not target.exists()
    assert os.listdir(target.parent) == []


def test_install_path_must_be_plain(tmp_path: Path) -> None:
    bad = FileRecord("x", 1, SHA, "s", "/usr/../../etc/passwd", 0o644)
    with pytest.raises(InputError) as exc:
        plan_install([bad], tmp_path, force=False)
    assert (
        exc.value.message
        == "install path '/usr/../../etc/passwd' of x is not a plain absolute path"
    )
