"""``bundle load --host/-i``: verify here once, then load on each host over SSH.

One failing host never stops the others; each host's outcome is one line, and
the exit code is the worst one (a bundle that fails to verify stops everything
before any host is reached).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from harborkit.commands.options import host_parts
from harborkit.errors import HarborkitError, InputError

if TYPE_CHECKING:
    from harborkit.host.ssh import ControlDir, SshConnection


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _ssh_session() -> Iterator[tuple[ControlDir, list[SshConnection]]]:
    """The connections of one load, their ControlMasters stopped at the end; SIGTERM and
    SIGHUP end it as Ctrl-C does (a roll-back, exit 130). The same as
    :func:`harborkit.engine.fleet.ssh_session`, without importing the audit engine
    (start-up time is load time here)."""
    from harborkit.host.ssh import ControlDir

    control = ControlDir()
    conns: list[SshConnection] = []
    previous: dict[int, Any] = {}
    with contextlib.suppress(ValueError):  # not the main thread: signals are not ours
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _interrupt)
    try:
        yield control, conns
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        used = [c for c in conns if c.round_trips and c.failed is None]
        if used:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(16, len(used))) as pool:
                list(pool.map(lambda c: c.close(), used))
        control.cleanup()  # any master left (one that hung) is killed with it


@dataclass(frozen=True)
class RemoteLoadOptions:
    hosts: Sequence[str]
    inventory: str | None
    limit: str | None
    forks: int
    ssh_config: str | None
    become: bool


def wanted(opts: RemoteLoadOptions) -> bool:
    return bool(opts.hosts or opts.inventory)


def load_remote(
    bundle: Path,
    opts: RemoteLoadOptions,
    *,
    key: object,
    install_dir: Path | None,
    install_tools: bool,
    prefix: Path,
    force: bool,
    allow_install_path: bool,
    quiet: bool,
) -> None:
    """Verify ``bundle`` here, then load it on every host; raises typer.Exit with the worst code."""
    from harborkit.bundle.progress import make_progress
    from harborkit.bundle.remote_load import ToolOptions, load_on_host
    from harborkit.bundle.verify import verify_bundle
    from harborkit.host.ssh import SshConnection, SshOptions, parse_target
    from harborkit.host.sshstream import Stream

    if not prefix.is_absolute():
        raise InputError(f"--prefix {prefix}: give an absolute path with --host")
    tools = ToolOptions(str(prefix), force, allow_install_path) if install_tools else None
    if install_dir is not None and not install_dir.is_absolute():
        raise InputError(f"--install-dir {install_dir}: give an absolute path with --host")
    if opts.forks < 1:
        raise InputError(f"--forks {opts.forks}: at least 1")
    targets = [parse_target(p) for text in opts.hosts for p in host_parts(text)]
    if opts.inventory:
        from harborkit.host.inventory import load_inventory, select

        targets += select(load_inventory(opts.inventory), opts.limit)
    if not targets:
        raise InputError("no host to load on (--host, or an inventory whose --limit picks none)")
    with make_progress(quiet) as progress:
        verified = verify_bundle(bundle, progress=progress, key=key)  # type: ignore[arg-type]
    ssh = SshOptions(config_file=opts.ssh_config, become=opts.become)
    outcomes: list[tuple[str, int, str]] = []
    with _ssh_session() as (control, conns):
        for t in targets:
            conns.append(SshConnection(t, ssh, control))

        def one(conn: SshConnection) -> tuple[str, int, str]:
            try:
                r = load_on_host(
                    Stream(conn),
                    verified,
                    install_dir=str(install_dir) if install_dir else None,
                    tools=tools,
                )
            except HarborkitError as e:
                return conn.label, int(e.exit_code), e.message
            inst = "".join(f"; {t}" for t in r.tools)
            inst += "".join(f"; installer unpacked: {p}" for p in r.installed)
            return (
                conn.label,
                0,
                (
                    f"{r.host}: loaded {len(r.loaded)} images, {len(r.skipped)} already present{inst}"
                ),
            )

        if len(conns) == 1:  # here, in the main thread: an interrupt stops it and rolls back
            outcomes = [one(conns[0])]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(opts.forks, len(conns))) as pool:
                outcomes = list(pool.map(one, conns))
    worst = 0
    for _label, code, line in outcomes:
        if code:
            typer.echo(f"harborkit: {line}", err=True)
            worst = max(worst, code)
        elif not quiet:
            typer.echo(line)
    if worst:
        raise typer.Exit(worst)
