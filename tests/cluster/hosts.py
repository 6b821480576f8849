"""Test hosts for the cross-node checks: fixture sysroots copied into tmp dirs.

A sysroot has no running programs and no clock. :class:`RunnableSysroot`
gives it both, for the facts the cross-node checks need from a running node:
its own programs run for real (the sysroot's ``usr/bin/docker`` script is
executed, as a remote node would execute its own), and its clock is this
machine's shifted by a fixed offset (a node whose clock is off).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from harborkit.host import ClockSample, CommandResult, LocalHost, SysrootHost

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


def copy_fixture(tmp: Path, fixture: str, hostname: str | None = None) -> Path:
    """A writable copy of a fixture sysroot, optionally with another hostname."""
    dest = tmp / (hostname or fixture)
    shutil.copytree(FIXTURES / fixture, dest, symlinks=True)
    if hostname:
        (dest / "etc/hostname").write_text(hostname + "\n")
    return dest


def write_hosts(root: Path, *lines: str) -> None:
    (root / "etc/hosts").write_text(
        "127.0.0.1   localhost localhost.localdomain\n" + "".join(f"{ln}\n" for ln in lines)
    )


def write_program(root: Path, path: str, script: str) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("#!/bin/sh\n" + script)
    p.chmod(0o755)


def docker_cli(root: Path, server: str | None) -> None:
    """A docker CLI that answers ``docker version --format '{{json .Server}}'``
    as the real one does; ``server`` None: the daemon does not answer (null, rc 1)."""
    server_json = (
        "null" if server is None else json.dumps({"Version": server, "ApiVersion": "1.39"})
    )
    rc = 1 if server is None else 0
    write_program(
        root,
        "/usr/bin/docker",
        f"""[ "$*" = "version --format {{{{json .Server}}}}" ] || exit 2
echo '{server_json}'
[ {rc} = 0 ] || echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2
exit {rc}
""",
    )


def compose_cli(root: Path, version: str) -> None:
    write_program(
        root,
        "/usr/local/bin/docker-compose",
        f'echo "docker-compose version {version}, build 0aa59064"\n',
    )


class RunnableSysroot(SysrootHost):
    """A sysroot whose programs run and whose clock is this machine's + ``offset``."""

    def __init__(self, root: Path, *, offset: float = 0.0, uncertainty: float = 0.0) -> None:
        super().__init__(root)
        self.offset = offset
        self.uncertainty = uncertainty

    def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:
        program = argv[0] if argv[0].startswith("/") else self.which(argv[0])
        if program is None:
            return CommandResult(tuple(argv), 127, "", f"{argv[0]}: command not found")
        result = LocalHost().run([str(self._p(program)), *argv[1:]], timeout=timeout)
        return CommandResult(tuple(argv), result.rc, result.stdout, result.stderr)

    def clock(self) -> ClockSample:
        now = time.time()
        return ClockSample(now + self.offset, now, self.uncertainty)
