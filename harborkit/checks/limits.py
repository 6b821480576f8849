"""Resource limits: what pam_limits gives login sessions, and what dockerd really has."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harborkit.checks import _services
from harborkit.checks._compare import describe, parse_scalar, satisfies, show
from harborkit.checks._parse import ULLONG_MAX, strtol, strtoul
from harborkit.compat import zip_strict
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, SkipCheck, Status

if TYPE_CHECKING:
    from harborkit.model.change import Change

LIMITS_CONF = "/etc/security/limits.conf"
LIMITS_DROPIN = "/etc/security/limits.d/90-harbor.conf"
DOCKER_LIMITS_DROPIN = "/etc/systemd/system/docker.service.d/90-harbor-limits.conf"
LIMITS_D = "/etc/security/limits.d"
PROFILE_FILES = ("/etc/profile", "/etc/profile.d/*.sh", "/etc/bashrc", "/etc/bash.bashrc")

#: items pam_limits knows (limits.conf(5); ``chroot`` is Debian's addition)
RLIMIT_ITEMS = {
    "cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "memlock", "as",
    "locks", "sigpending", "msgqueue", "rtprio",
}  # fmt: skip
INT_ITEMS = {"nice", "priority", "maxlogins", "maxsyslogins"}
OTHER_ITEMS = {"nonewprivs", "chroot"}
ITEMS = RLIMIT_ITEMS | INT_ITEMS | OTHER_ITEMS
TYPELESS = {"maxlogins", "maxsyslogins", "nonewprivs", "chroot"}
INFINITE = {"-1", "-", "unlimited", "infinity"}

# pam_limits' precedence of the entry that set a limit (lower wins)
SRC_USER, SRC_GROUP, SRC_DEFAULT, SRC_NONE = 0, 1, 4, 6


@dataclass(frozen=True)
class Entry:
    """A line pam_limits accepts."""

    domain: str
    type: str  # soft, hard, -
    item: str
    value: float | int | str  # math.inf for unlimited
    location: str


@dataclass(frozen=True)
class Dropped:
    """A line pam_limits skips, and why."""

    text: str
    reason: str
    location: str
    status: Status = Status.WARN


@dataclass(frozen=True)
class PamLimits:
    files: tuple[str, ...]
    entries: tuple[Entry, ...]
    dropped: tuple[Dropped, ...]
    no_limits: tuple[tuple[str, str], ...]  # ("root", location) of "<domain> -" lines


def limits_files(ctx: CheckContext) -> list[str]:
    """limits.conf, then limits.d/*.conf sorted by name (C locale), as pam_limits reads them."""
    files = [LIMITS_CONF] if ctx.host.exists(LIMITS_CONF) else []
    found = ctx.host.glob(f"{LIMITS_D}/*.conf")
    return files + sorted(found, key=lambda p: p.rsplit("/", 1)[-1].encode())


_RANGE = re.compile(r"^[@%]?([0-9]*):([0-9]*)$")


def _value(item: str, value: str) -> tuple[Any, str | None, bool]:
    """(parsed value, problem, dropped) as pam_limits' process_limit reads it."""
    if item == "nonewprivs":
        return (int(value), None, False) if value in ("0", "1") else (0, "not 0 or 1", True)
    if item == "chroot":
        return value, None, False
    if item not in ("nice", "priority") and value in INFINITE:
        return math.inf, None, False
    parsed = strtol(value) if item in INT_ITEMS else strtoul(value)
    if parsed is None:
        return None, f"bad value '{value}': not a number or unlimited", True
    number, rest = parsed
    if item not in INT_ITEMS and number == ULLONG_MAX:
        return math.inf, f"value '{value}' is beyond 2^64-1: read as unlimited", False
    if rest:
        return number, f"value '{value}' is read as {number} (the rest is ignored)", False
    if item not in INT_ITEMS and value.startswith("-"):
        return number, f"value '{value}' is read as {number} (a negative number wraps)", False
    return number, None, False


def parse_limits(ctx: CheckContext) -> PamLimits:
    """Every line of the limits files, accepted or dropped, in pam_limits' order."""

    def parse() -> PamLimits:
        files = limits_files(ctx)
        entries: list[Entry] = []
        dropped: list[Dropped] = []
        no_limits: list[tuple[str, str]] = []
        for path in files:
            try:
                text = ctx.host.read_text(path)
            except OSError as e:
                dropped.append(Dropped(path, f"cannot read: {e.strerror}", path, Status.FAIL))
                continue
            for n, raw in enumerate(text.splitlines(), 1):
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                where = f"{path}:{n}"
                fields = line.split()[:4]
                line = " ".join(line.split())
                domain = fields[0]
                if ":" in domain and not _RANGE.match(domain):
                    dropped.append(Dropped(line, f"invalid uid range '{domain}'", where))
                    continue
                if len(fields) == 2 and fields[1].startswith("-"):
                    no_limits.append((domain, where))
                    continue
                if len(fields) != 4:
                    dropped.append(
                        Dropped(
                            line, f"{len(fields)} fields, pam_limits needs 4: invalid line", where
                        )
                    )
                    continue
                ltype, item, value = (f.lower() for f in fields[1:])
                if item not in ITEMS:
                    dropped.append(Dropped(line, f"unknown item '{item}'", where))
                    continue
                if ltype not in ("soft", "hard", "-") and item not in TYPELESS:
                    dropped.append(
                        Dropped(line, f"unknown type '{ltype}' (soft, hard or -)", where)
                    )
                    continue
                parsed, problem, drop = _value(item, value)
                if drop:
                    dropped.append(Dropped(line, problem or "bad value", where))
                    continue
                if domain.startswith("%") and item != "maxlogins":
                    dropped.append(
                        Dropped(line, "the '%' domain is valid for maxlogins only", where)
                    )
                    continue
                if problem:
                    dropped.append(Dropped(line, problem, where))
                entries.append(Entry(domain, ltype, item, parsed, where))
        return PamLimits(tuple(files), tuple(entries), tuple(dropped), tuple(no_limits))

    return ctx.memo("pam-limits", parse)


def effective(
    pam: PamLimits, domain: str, item: str, *, wildcard_for_root: bool
) -> dict[str, Entry | None]:
    """The soft and hard value of ``item`` a login of ``domain`` gets.

    ``domain`` ``*`` stands for an ordinary user with no line of their own;
    any other domain is a user name. A user's own lines beat ``@group``
    lines, which beat ``*``; among lines of the same rank the later one wins
    (pam_limits' ``process_limit``).
    """
    src = {"soft": SRC_NONE, "hard": SRC_NONE}
    got: dict[str, Entry | None] = {"soft": None, "hard": None}
    for e in pam.entries:
        if e.item != item:
            continue
        if domain != "*" and e.domain == domain:
            source = SRC_USER
        elif domain == "root" and e.domain == "@root":
            source = SRC_GROUP
        elif e.domain == "*" and (domain != "root" or wildcard_for_root):
            source = SRC_DEFAULT
        else:
            continue
        for t in ("soft", "hard"):
            if e.type not in (t, "-"):
                continue
            if src[t] < source:
                break  # pam_limits returns: a '-' line then sets neither
            src[t], got[t] = source, e
    return got


class PamLimitsCheck(Check):
    """Login limits from limits.conf and limits.d, as pam_limits applies them.

    pam_limits reads ``/etc/security/limits.conf`` then
    ``/etc/security/limits.d/*.conf`` sorted by name; a user's own lines beat
    ``@group`` lines, which beat ``*``, and among lines of the same rank the
    later one wins. On the Debian family ``*`` lines do not apply to root
    (Debian's limits.conf(5)); elsewhere they do, unless a ``root`` line sets
    the item. ``-`` sets soft and hard; ``unlimited``/``infinity``/``-1`` are
    infinite.

    Each line pam_limits would drop without a word (it only logs at debug
    level) is reported with its file and line: an unknown item (the guide's
    ``* soft stact unlimited``, which leaves the soft stack limit unset), a
    bad type, a bad value. Each of the profile's ``limits.expected`` entries
    is then judged on the effective value. ``ulimit`` lines in /etc/profile
    are a warning: they affect login shells only, never services such as
    dockerd.
    """

    id = "limits.pam"
    title = "Login session limits (pam_limits)"
    group = "limits"
    severity = Severity.MEDIUM
    remediation = (
        "Fix the reported lines in /etc/security/limits.conf or limits.d; set service "
        "limits in systemd units, not /etc/profile"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        expected = ctx.section("limits").get("expected") or []
        pam = parse_limits(ctx)
        root_wild = _services.os_family(ctx) != "debian"
        findings = [
            Finding(
                d.status, d.text, f"{d.reason}: pam_limits ignores this line", location=d.location
            )
            if "read as" not in d.reason
            else Finding(Status.WARN, d.text, d.reason, location=d.location)
            for d in pam.dropped
        ]
        for dom, where in pam.no_limits:
            findings.append(
                Finding(Status.WARN, f"{dom} -", f"no limits at all for {dom}", location=where)
            )
        for exp in expected:
            findings += self._judge(pam, exp, root_wild=root_wild)
        findings += self._profile_ulimits(ctx)
        judged = len(expected)
        return Outcome.from_findings(findings, ok=f"{judged} limits as expected")

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        """Lines pam_limits drops are commented out with the reason (a likely
        typo named); every expected limit not met gets a line in
        limits.d/90-harbor.conf (read after the other files, so it wins among
        lines of its rank); ``ulimit`` lines of shell profiles are commented
        out, since limits.d now gives login sessions the limits."""
        from harborkit.model.change import edit_lines, file_change, read_bytes

        pam = parse_limits(ctx)
        edits: dict[str, dict[int, str | None]] = {}
        texts: dict[str, str] = {}

        def text_of(path: str) -> str:
            if path not in texts:
                texts[path] = (read_bytes(ctx.host, path) or b"").decode("utf-8", "surrogateescape")
            return texts[path]

        for d in pam.dropped:
            if d.status is Status.FAIL or "read as" in d.reason or ":" not in d.location:
                continue
            path, _, n = d.location.rpartition(":")
            raw = text_of(path).splitlines()[int(n) - 1]
            why = d.reason
            m = re.match(r"unknown item '(\S+)'", why)
            if m:
                close = difflib.get_close_matches(m.group(1), sorted(ITEMS), n=1, cutoff=0.75)
                if close:
                    why += f" (a typo of '{close[0]}'?)"
            edits.setdefault(path, {})[int(n)] = f"# {raw.strip()}  # harborkit: {why}"
        for f in outcome.findings:
            if f.status is Status.WARN and f.location and "only login shells" in f.message:
                path, _, n = f.location.rpartition(":")
                raw = text_of(path).splitlines()[int(n) - 1]
                edits.setdefault(path, {})[int(n)] = (
                    f"# {raw.strip()}  # harborkit: services never see this; see {LIMITS_DROPIN}"
                )
        wanted: list[str] = []
        failed = {f.subject for f in outcome.findings if f.status is Status.FAIL}
        for exp in ctx.section("limits").get("expected") or []:
            types = ("soft", "hard") if exp["type"] == "-" else (exp["type"],)
            for t in types:
                if f"{exp['domain']} {t} {exp['item']}" in failed:
                    wanted.append(f"{exp['domain']} {t} {exp['item']} {_limit_value(exp)}")
        changes: list[Change] = []
        paths = list(edits)
        if wanted and LIMITS_DROPIN not in paths:
            paths.append(LIMITS_DROPIN)
        for path in paths:
            if path == LIMITS_DROPIN:
                old = read_bytes(ctx.host, path)
                base = (
                    old.decode("utf-8", "surrogateescape")
                    if old is not None
                    else "# Login limits for Harbor (written by harborkit fix)\n"
                )
                new = edit_lines(base, edits.get(path, {}), wanted)
                reason = "pam_limits reads it after limits.conf and the files sorted before it"
            else:
                new = edit_lines(text_of(path), edits[path])
                reason = "the lines pam_limits or services ignore are marked"
            c = file_change(self.id, ctx.host, path, new, reason, owned=path == LIMITS_DROPIN)
            if c is not None:
                changes.append(c)
        return changes

    @staticmethod
    def _judge(pam: PamLimits, exp: dict[str, Any], *, root_wild: bool) -> list[Finding]:
        domain, item, op, value = exp["domain"], exp["item"], exp["op"], exp["value"]
        types = ("soft", "hard") if exp["type"] == "-" else (exp["type"],)
        got = effective(pam, domain, item, wildcard_for_root=root_wild)
        want = describe(op, value)
        out = []
        for t in types:
            subject = f"{domain} {t} {item}"
            e = got[t]
            if e is None:
                out.append(
                    Finding(
                        Status.FAIL,
                        subject,
                        _why_unset(pam, domain, t, item, root_wild=root_wild),
                        expected=want,
                    )
                )
                continue
            actual = show(e.value)
            ok = satisfies(op, parse_scalar(value), e.value)
            out.append(
                Finding(
                    Status.PASS if ok else Status.FAIL,
                    subject,
                    f"{actual} (expected {want})" if ok else f"{actual}, expected {want}",
                    expected=want,
                    actual=actual,
                    location=e.location,
                )
            )
        return out

    @staticmethod
    def _profile_ulimits(ctx: CheckContext) -> list[Finding]:
        out = []
        for pattern in PROFILE_FILES:
            paths = ctx.host.glob(pattern) if "*" in pattern else [pattern]
            for path in paths:
                try:
                    text = ctx.host.read_text(path)
                except OSError:
                    continue
                for n, raw in enumerate(text.splitlines(), 1):
                    line = raw.split("#", 1)[0].strip()
                    if re.search(r"(^|[;&|\s])ulimit\s", line):
                        out.append(
                            Finding(
                                Status.WARN,
                                line,
                                "only login shells run this: services such as dockerd "
                                "(and so containers) do not get it",
                                location=f"{path}:{n}",
                            )
                        )
        return out


def _why_unset(pam: PamLimits, domain: str, ltype: str, item: str, *, root_wild: bool) -> str:
    """Why no accepted line sets a limit: a dropped line meant for it, or
    Debian's rule that ``*`` does not cover root."""
    msg = "not set by any line pam_limits accepts (the inherited default applies)"
    for d in pam.dropped:
        f = d.text.split()
        if (
            len(f) == 4
            and f[0] == domain
            and f[1].lower() in (ltype, "-")
            and d.reason.startswith("unknown item")
        ):
            return f"{msg}; the line at {d.location} ('{d.text}') is dropped: {d.reason}"
    if domain == "root" and not root_wild:
        star = effective(pam, "*", item, wildcard_for_root=True)[ltype]
        if star is not None:
            return (
                f"{msg}; on the Debian family '*' lines do not apply to root "
                f"(limits.conf(5)), so {star.location} does not count"
            )
    return msg


def _systemd_value(spec: dict[str, Any]) -> str:
    value = str(spec["value"])
    return "infinity" if value in INFINITE else value


def _limit_value(exp: dict[str, Any]) -> str:
    value = str(exp["value"])
    return "unlimited" if value in INFINITE else value


#: limits.conf item -> /proc/<pid>/limits row
PROC_LIMIT_NAMES = {
    "nofile": "Max open files",
    "nproc": "Max processes",
    "core": "Max core file size",
    "memlock": "Max locked memory",
    "stack": "Max stack size",
    "sigpending": "Max pending signals",
}
SYSTEMD_DIRECTIVE = {
    "nofile": "LimitNOFILE",
    "nproc": "LimitNPROC",
    "core": "LimitCORE",
    "memlock": "LimitMEMLOCK",
    "stack": "LimitSTACK",
    "sigpending": "LimitSIGPENDING",
}


def parse_proc_limits(text: str) -> dict[str, tuple[float | int, float | int]]:
    """``/proc/<pid>/limits`` as {row name: (soft, hard)}; unlimited is inf."""
    out: dict[str, tuple[float | int, float | int]] = {}
    for line in text.splitlines()[1:]:
        m = re.match(r"^(\S.*?)\s{2,}(\S+)\s+(\S+)", line)
        if m:
            soft, hard = (parse_scalar(v) for v in m.group(2, 3))
            if isinstance(soft, (int, float)) and isinstance(hard, (int, float)):
                out[m.group(1)] = (soft, hard)
    return out


class DockerdLimits(Check):
    """The running dockerd has the expected resource limits.

    Containers inherit dockerd's limits, which come from its systemd unit
    (``LimitNOFILE=``, ``LimitNPROC=``), not from limits.conf or
    /etc/profile. Read from ``/proc/<pid>/limits`` of the dockerd that serves
    the Docker socket (the one ``DOCKER_HOST`` names here; the one holding
    /var/run/docker.sock over SSH or in a snapshot), and only that one: other
    dockerd processes (rootless, test or CI daemons) are not Harbor's. Soft and
    hard are judged against the profile's ``limits.dockerd`` items. Skipped,
    with the reason, when dockerd is not running, on a sysroot, or when which
    dockerd serves the socket cannot be told.
    """

    id = "limits.dockerd"
    title = "dockerd resource limits (inherited by containers)"
    group = "limits"
    severity = Severity.HIGH
    remediation = (
        "Add a drop-in /etc/systemd/system/docker.service.d/limits.conf with [Service] "
        "LimitNOFILE=655350 and LimitNPROC=655350 (or infinity), then "
        "'systemctl daemon-reload && systemctl restart docker'"
    )
    #: the listening unix sockets: which dockerd holds the Docker socket
    reads = ("/proc/net/unix",)

    def run(self, ctx: CheckContext) -> Outcome:
        from harborkit.checks._dockerd import Unknown, serving_dockerd

        wanted = ctx.section("limits").get("dockerd") or {}
        if not wanted:
            raise SkipCheck("the profile sets no limits.dockerd items")
        procs = ctx.host.processes("dockerd")
        if not procs:
            raise SkipCheck("dockerd is not running")
        try:
            pid = serving_dockerd(ctx.host, {p.pid for p in procs})
        except Unknown as e:
            raise SkipCheck(str(e)) from None
        findings = []
        for p in [p for p in procs if p.pid == pid]:
            path = f"/proc/{p.pid}/limits"
            try:
                rows = parse_proc_limits(ctx.host.read_text(path))
            except OSError as e:
                findings.append(
                    Finding(Status.WARN, f"dockerd[{p.pid}]", f"cannot read {path}: {e}")
                )
                continue
            for item, spec in wanted.items():
                row = PROC_LIMIT_NAMES.get(item)
                if row is None or row not in rows:
                    findings.append(
                        Finding(
                            Status.WARN,
                            f"dockerd[{p.pid}] {item}",
                            f"no '{item}' limit known in {path}",
                        )
                    )
                    continue
                for label, actual in zip_strict(("soft", "hard"), rows[row]):
                    op, value = spec["op"], spec["value"]
                    ok = satisfies(op, parse_scalar(value), actual)
                    want = describe(op, value)
                    findings.append(
                        Finding(
                            Status.PASS if ok else Status.FAIL,
                            f"dockerd[{p.pid}] {label} {item}",
                            f"{show(actual)} (expected {want})"
                            if ok
                            else f"{show(actual)}, expected {want}: set "
                            f"{SYSTEMD_DIRECTIVE[item]}= in a docker.service drop-in",
                            expected=want,
                            actual=show(actual),
                            location=path,
                        )
                    )
        return Outcome.from_findings(findings, ok="dockerd limits as expected")

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        """A docker.service drop-in setting the failing limits, then a restart of docker."""
        from harborkit.checks.daemon_json_plan import docker_restart
        from harborkit.model.change import file_change

        wanted = ctx.section("limits").get("dockerd") or {}
        items = sorted(
            {f.subject.split()[-1] for f in outcome.findings if f.status is Status.FAIL}
            & set(wanted)
            & set(SYSTEMD_DIRECTIVE)
        )
        if not items:
            return ()
        lines = [
            "# Limits for dockerd and its containers (written by harborkit fix)",
            "[Service]",
            *(f"{SYSTEMD_DIRECTIVE[i]}={_systemd_value(wanted[i])}" for i in items),
        ]
        c = file_change(
            self.id,
            ctx.host,
            DOCKER_LIMITS_DROPIN,
            "\n".join(lines) + "\n",
            "containers inherit dockerd's limits from its unit, not from limits.conf",
            owned=True,
        )
        return [c, *docker_restart(self.id, reload=True)] if c is not None else []


CHECKS: list[type[Check]] = [PamLimitsCheck, DockerdLimits]
