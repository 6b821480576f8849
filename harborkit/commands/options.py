"""The options of ``check``, ``fix`` and the remote audit, declared once.

Each option is an ``Annotated`` type below (``check``, ``fix`` and ``collect``
word some of them differently, so those come in spellings side by side); a command
takes them as parameters and gathers them into the frozen dataclasses here
(:class:`AuditOptions`, :class:`ReportOptions`, :class:`RemoteOptions`),
which is what the rest of the command receives.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from harborkit.compat import StrEnum
from harborkit.errors import InputError
from harborkit.report import OutputFormat

#: the headings --help lists options under (commands/help.py), after the plain "Options"
REPORT = "Report"
REMOTE = "Other machines"
POST = "After the install"
PLAN = "Plan, apply, roll back"

# --------------------------------------------------------------- check and fix: what to audit
#: ``--harbor``, one wording for ``check`` and ``fix``
HarborOption = Annotated[
    Optional[str],
    typer.Option(
        "--harbor",
        help="Harbor's address (http(s)://HOST[:PORT] or HOST[:PORT]) for hosts without "
        "its harbor.yml: judged against their daemon.json.",
    ),
]
CheckProfileOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--profile",
        "-p",
        help="Baseline profile (YAML); default: the built-in Harbor v1.8.0 baseline.",
    ),
]
FixProfileOpt = Annotated[
    Optional[Path],
    typer.Option("--profile", "-p", help="Baseline profile (YAML); default: the built-in one."),
]
CheckRootsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--root",
        help="Audit a sysroot folder (etc/, proc/sys/ ...) instead of this machine; "
        "repeat to audit several as one cluster.",
    ),
]
FixRootOpt = Annotated[
    Optional[str],
    typer.Option("--root", help="Fix a sysroot folder instead of this machine (no commands run)."),
]
CheckHarborConfigOpt = Annotated[
    Optional[str],
    typer.Option("--harbor-config", help="harbor.yml to check (a path on the audited host)."),
]
FixHarborConfigOpt = Annotated[
    Optional[str],
    typer.Option("--harbor-config", help="harbor.yml to check (a path on the host)."),
]
CheckInstallDirOpt = Annotated[
    Optional[str],
    typer.Option(
        "--install-dir",
        help="Harbor folder holding harbor.yml, or the folder 'bundle load --install-dir' "
        "unpacked into (its harbor/ is used).",
    ),
]
FixInstallDirOpt = Annotated[
    Optional[str],
    typer.Option("--install-dir", help="Harbor installer folder holding harbor.yml."),
]
CheckNodeOpt = Annotated[
    Optional[list[str]],
    typer.Option("--node", help="Cluster node NAME=ADDRESS that must resolve (repeatable)."),
]
FixNodeOpt = Annotated[
    Optional[list[str]],
    typer.Option("--node", help="Cluster node NAME=ADDRESS for /etc/hosts (repeatable)."),
]
CheckOnlyOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--only", help="Run only these check ids or groups (repeatable, comma-separated)."
    ),
]
FixOnlyOpt = Annotated[
    Optional[list[str]],
    typer.Option("--only", help="Fix only these check ids or groups (comma-separated)."),
]
CheckSkipOpt = Annotated[
    Optional[list[str]],
    typer.Option("--skip", help="Skip these check ids or groups (repeatable, comma-separated)."),
]
FixSkipOpt = Annotated[
    Optional[list[str]],
    typer.Option("--skip", help="Leave these check ids or groups alone (comma-separated)."),
]
WaiversOpt = Annotated[
    Optional[Path],
    typer.Option("--waivers", help="YAML file of accepted failures: id, reason, optional expires."),
]

# --------------------------------------------------------------- check: the report
ListChecksOpt = Annotated[bool, typer.Option("--list", help="List the installed checks and exit.")]
FormatOpt = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Report format.", rich_help_panel=REPORT)
]
OutputOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--output",
        "-o",
        help="Write the report to FILE (atomically) instead of stdout.",
        rich_help_panel=REPORT,
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Count warnings as failures.", rich_help_panel=REPORT)
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="Table: show passing findings too.", rich_help_panel=REPORT
    ),
]
NoColorOpt = Annotated[
    bool, typer.Option("--no-color", help="No colours in the table.", rich_help_panel=REPORT)
]

# --------------------------------------------------------------- check and fix: other machines
# check's wording first, then fix's (FixHostsOpt ...): the same option, what it does for each
HostsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--host",
        help="Audit [ssh://][USER@]HOST[:PORT] over SSH (repeatable, comma-separated).",
        rich_help_panel=REMOTE,
    ),
]
FixHostsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--host",
        help="Fix [ssh://][USER@]HOST[:PORT] over SSH (repeatable, comma-separated).",
        rich_help_panel=REMOTE,
    ),
]
SnapshotOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--snapshot",
        help="Judge a snapshot FILE, or a DIR of *.hksnap files.",
        rich_help_panel=REMOTE,
    ),
]
FixSnapshotOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--snapshot",
        help="Plan from a snapshot FILE, or a DIR of *.hksnap files (the plan and --format "
        "only: nothing is applied).",
        rich_help_panel=REMOTE,
    ),
]
InventoryOpt = Annotated[
    Optional[str],
    typer.Option(
        "--inventory",
        "-i",
        help="Audit the hosts of an Ansible inventory (INI/YAML).",
        rich_help_panel=REMOTE,
    ),
]
FixInventoryOpt = Annotated[
    Optional[str],
    typer.Option(
        "--inventory",
        "-i",
        help="Fix the hosts of an Ansible inventory (INI/YAML) over SSH.",
        rich_help_panel=REMOTE,
    ),
]
LimitOpt = Annotated[
    Optional[str],
    typer.Option(
        "--limit",
        "-l",
        help="Inventory hosts or groups to audit (Ansible pattern).",
        rich_help_panel=REMOTE,
    ),
]
FixLimitOpt = Annotated[
    Optional[str],
    typer.Option(
        "--limit",
        "-l",
        help="Inventory hosts or groups to fix (Ansible pattern).",
        rich_help_panel=REMOTE,
    ),
]
ForksOpt = Annotated[
    int, typer.Option("--forks", help="Hosts audited in parallel.", rich_help_panel=REMOTE)
]
FixForksOpt = Annotated[
    int, typer.Option("--forks", help="Hosts fixed in parallel.", rich_help_panel=REMOTE)
]
SshConfigOpt = Annotated[
    Optional[str],
    typer.Option("--ssh-config", help="ssh_config file (ssh -F).", rich_help_panel=REMOTE),
]
BecomeOpt = Annotated[
    bool,
    typer.Option(
        "--become",
        help="Collect as root through sudo -n (never a password prompt).",
        rich_help_panel=REMOTE,
    ),
]
FixBecomeOpt = Annotated[
    bool,
    typer.Option(
        "--become",
        help="Plan, apply and roll back as root on the host through sudo -n (never a "
        "password prompt).",
        rich_help_panel=REMOTE,
    ),
]
ConnectTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--connect-timeout", help="SSH connect timeout in seconds.", rich_help_panel=REMOTE
    ),
]
CommandTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--command-timeout",
        help="Deadline of each remote call in seconds, connecting included "
        "(a host that misses it is an error, the others are still judged).",
        rich_help_panel=REMOTE,
    ),
]
FixCommandTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--command-timeout",
        help="Deadline of each remote call in seconds, connecting included "
        "(a host that misses it is an error, the others are still fixed).",
        rich_help_panel=REMOTE,
    ),
]
AcceptNewHostKeysOpt = Annotated[
    bool,
    typer.Option(
        "--accept-new-host-keys",
        help="Add unknown host keys to known_hosts (never changed ones).",
        rich_help_panel=REMOTE,
    ),
]

# --- check's post-install options (issue 23): the running Harbor ---
PhaseOpt = Annotated[
    str,
    typer.Option(
        "--phase",
        help="pre: before the install; post: the running Harbor; all.",
        rich_help_panel=POST,
    ),
]
SmokeOpt = Annotated[
    Optional[str],
    typer.Option("--smoke", help="post: push/pull round trip in PROJECT.", rich_help_panel=POST),
]
HarborUserOpt = Annotated[
    Optional[str],
    typer.Option(
        "--harbor-user",
        help="post: Harbor user (password: HARBORKIT_HARBOR_PASSWORD).",
        rich_help_panel=POST,
    ),
]
CaOpt = Annotated[
    Optional[str],
    typer.Option("--ca", help="post: CA file for Harbor's https.", rich_help_panel=POST),
]
ReplicationTargetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--replication-target",
        help="post: replication registry URL (repeatable).",
        rich_help_panel=POST,
    ),
]
ReplicationUserOpt = Annotated[
    Optional[str],
    typer.Option(
        "--replication-user", help="post: user at the replication targets.", rich_help_panel=POST
    ),
]


@dataclass(frozen=True)
class PostOptions:
    """check's phase and what the post-install checks need beyond the profile."""

    phase: str = "pre"
    smoke: str | None = None
    harbor_user: str | None = None
    ca: str | None = None
    replication_targets: tuple[str, ...] = ()
    replication_user: str | None = None


# --------------------------------------------------------------- fix: plan, apply, journal
class FixFormat(StrEnum):
    """What ``fix --format`` writes."""

    diff = "diff"
    sh = "sh"
    ansible = "ansible"


ApplyOpt = Annotated[
    bool,
    typer.Option(
        "--apply", help="Make the changes (journaled), then check again.", rich_help_panel=PLAN
    ),
]
PlanIdOpt = Annotated[
    Optional[str],
    typer.Option(
        "--plan",
        help="With --apply: refuse unless the plan is still this id.",
        rich_help_panel=PLAN,
    ),
]
RestartDockerOpt = Annotated[
    bool,
    typer.Option(
        "--restart-docker",
        help="Allow restarting docker while containers run.",
        rich_help_panel=PLAN,
    ),
]
RollbackOpt = Annotated[
    bool,
    typer.Option(
        "--rollback",
        help="Restore the files of journal ID (default: the last).",
        rich_help_panel=PLAN,
    ),
]
ListJournalOpt = Annotated[
    bool, typer.Option("--list", help="List the journal.", rich_help_panel=PLAN)
]
BreakLockOpt = Annotated[
    Optional[int],
    typer.Option(
        "--break-lock",
        metavar="PID",
        help="--host: remove the host's stale fix lock left by process PID (gone).",
        rich_help_panel=PLAN,
    ),
]
JournalDirOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--journal-dir",
        help="Journal folder (default /var/lib/harborkit/fix).",
        rich_help_panel=PLAN,
    ),
]
FixFormatOpt = Annotated[
    FixFormat,
    typer.Option(
        "--format",
        "-f",
        help="diff (default), sh script or ansible playbook.",
        rich_help_panel=PLAN,
    ),
]
FixOutputOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--output", "-o", help="Write the sh/ansible output to FILE.", rich_help_panel=PLAN
    ),
]
JournalIdArg = Annotated[
    Optional[str], typer.Argument(metavar="ID", help="Journal id for --rollback.")
]

# --------------------------------------------------------------- collect: the snapshot collector
ScriptOpt = Annotated[
    bool,
    typer.Option("--script", help="Print the collector (POSIX sh) to run on a host."),
]
CollectProfileOpt = Annotated[
    Optional[Path],
    typer.Option("--profile", "-p", help="Profile whose facts to gather (default: built-in)."),
]
CollectHarborConfigOpt = Annotated[
    Optional[str], typer.Option("--harbor-config", help="harbor.yml path on the host.")
]
CollectInstallDirOpt = Annotated[
    Optional[str], typer.Option("--install-dir", help="Harbor installer folder on the host.")
]
CollectNodeOpt = Annotated[
    Optional[list[str]],
    typer.Option("--node", help="Cluster node NAME=ADDRESS whose name to resolve."),
]


def _tuple(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(values or ())


@dataclass(frozen=True)
class AuditOptions:
    """What ``check`` and ``fix`` share: the profile, the audited place, the selection."""

    profile: Path | None = None
    roots: tuple[str, ...] = ()
    harbor_config: str | None = None
    install_dir: str | None = None
    nodes: tuple[str, ...] = ()
    harbor: str | None = None
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    waivers: Path | None = None

    @classmethod
    def of(
        cls,
        profile: Path | None,
        roots: Sequence[str] | str | None,
        harbor_config: str | None,
        install_dir: str | None,
        nodes: Sequence[str] | None,
        harbor: str | None,
        only: Sequence[str] | None,
        skip: Sequence[str] | None,
        waivers: Path | None = None,
    ) -> AuditOptions:
        """From the command's parameters (typer gives ``None`` for an unused list)."""
        root_list = (roots,) if isinstance(roots, str) else _tuple(roots)
        return cls(
            profile,
            root_list,
            harbor_config,
            install_dir,
            _tuple(nodes),
            harbor,
            _tuple(only),
            _tuple(skip),
            waivers,
        )

    @property
    def root(self) -> str | None:
        """The (first) sysroot, or ``None`` for this machine."""
        return self.roots[0] if self.roots else None


@dataclass(frozen=True)
class ReportOptions:
    """How ``check`` prints its report."""

    fmt: OutputFormat = OutputFormat.table
    output: Path | None = None
    strict: bool = False
    verbose: bool = False
    no_color: bool = False


@dataclass(frozen=True)
class RemoteOptions:
    """What the command line says about the hosts to audit."""

    hosts: tuple[str, ...] = ()
    snapshots: tuple[str, ...] = ()
    inventory: str | None = None
    limit: str | None = None
    forks: int = 10
    ssh_config: str | None = None
    become: bool = False
    connect_timeout: float = 10.0
    accept_new_host_keys: bool = False
    command_timeout: float = 45.0

    @property
    def used(self) -> bool:
        return bool(self.hosts or self.snapshots or self.inventory)


#: the longest --connect-timeout / --command-timeout accepted (a day)
MAX_SECONDS = 86400.0


def _seconds(option: str, value: float) -> None:
    if not math.isfinite(value):
        raise InputError(f"{option} {value:g}: not a number of seconds")
    if value <= 0:
        raise InputError(f"{option} {value:g}: must be more than 0")
    if value > MAX_SECONDS:
        raise InputError(f"{option} {value:g}: at most {MAX_SECONDS:g} seconds")


def host_parts(text: str) -> list[str]:
    """The comma-separated targets of one --host value; an empty one is a mistake."""
    parts = text.split(",")
    if any(not p.strip() for p in parts):
        what = "no host" if not text.strip(", \t") else "an empty host between commas"
        raise InputError(f"--host {text!r}: {what} (expected [ssh://][USER@]HOST[:PORT])")
    return [p.strip() for p in parts]


def _regular_file(option: str, path: str) -> None:
    """``path`` is a regular file (a FIFO would hang ssh, a device is no config)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise InputError(f"{option} {path}: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{option} {path}: not a regular file")


def validate(opts: RemoteOptions, root: str | None) -> None:
    if opts.forks < 1:
        raise InputError(f"--forks {opts.forks}: must be at least 1")
    _seconds("--connect-timeout", opts.connect_timeout)
    _seconds("--command-timeout", opts.command_timeout)
    for text in opts.hosts:
        host_parts(text)
    if opts.ssh_config is not None:
        _regular_file("--ssh-config", opts.ssh_config)
    if opts.limit and not opts.inventory:
        raise InputError("--limit needs --inventory")
    if root and opts.used:
        raise InputError(
            "--root audits a folder on this machine: not with --host/--snapshot/--inventory"
        )
