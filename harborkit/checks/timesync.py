"""Time synchronisation: ntpd, chronyd or systemd-timesyncd."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harborkit.checks import _services
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, Status

if TYPE_CHECKING:
    from harborkit.model.change import Change

#: profile service name -> (unit names, process names, binaries)
DAEMONS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "ntpd": (("ntpd", "ntp", "ntpsec"), ("ntpd",), ("ntpd",)),
    "chronyd": (("chronyd", "chrony"), ("chronyd",), ("chronyd",)),
    "systemd-timesyncd": (
        ("systemd-timesyncd",),
        ("systemd-timesyncd",),
        ("/usr/lib/systemd/systemd-timesyncd", "/lib/systemd/systemd-timesyncd"),
    ),
}

NTP_CONFS = ("/etc/ntp.conf", "/etc/ntpsec/ntp.conf")
CHRONY_CONFS = ("/etc/chrony.conf", "/etc/chrony/chrony.conf")
TIMESYNCD_CONF = "/etc/systemd/timesyncd.conf"
TIMESYNCD_DROPINS = (
    "/usr/lib/systemd/timesyncd.conf.d",
    "/usr/local/lib/systemd/timesyncd.conf.d",
    "/run/systemd/timesyncd.conf.d",
    "/etc/systemd/timesyncd.conf.d",
)
LOCAL_CLOCK = re.compile(r"^127\.127\.1\.\d+$")
TIMESYNCD_DROPIN = "/etc/systemd/timesyncd.conf.d/90-harbor.conf"
BUILTIN_FALLBACK = "the distribution's built-in fallback servers"
#: the header of ``ntpq -p``'s peer table (ntp 4.2 and ntpsec)
NTPQ_HEADER = re.compile(r"^\s*remote\s+refid\s", re.M)
#: public time services an air-gapped site has no route to
PUBLIC_NTP = re.compile(
    r"(^|\.)(pool\.ntp\.org|ntp\.ubuntu\.com|time\.google\.com|time\.cloudflare\.com|"
    r"time\.windows\.com|time\.apple\.com|time\.nist\.gov)$"
)


@dataclass
class TimeConfig:
    """Time sources a daemon's configuration names."""

    sources: list[tuple[str, str]] = field(default_factory=list)  # (source, file:line)
    files: list[str] = field(default_factory=list)
    note: str = ""  # how the sources were found, when not from a line
    #: sources that are local clocks (the guide's time master)
    local: set[str] = field(default_factory=set)
    #: sources only used as a fallback, or pools (directive ``pool``)
    fallback: set[str] = field(default_factory=set)
    pools: set[str] = field(default_factory=set)

    @property
    def location(self) -> str | None:
        if self.sources:
            return self.sources[0][1]
        return self.files[0] if self.files else None


def _lines(ctx: CheckContext, path: str) -> list[tuple[int, list[str]]] | None:
    try:
        text = ctx.host.read_text(path)
    except OSError:
        return None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if fields:
            out.append((n, fields))
    return out


def ntp_config(ctx: CheckContext) -> TimeConfig:
    """``server``/``pool``/``peer`` lines of ntp.conf; the local clock
    (``server 127.127.1.0`` with ``fudge 127.127.1.0 stratum N``) is a source:
    the guide's time master serves its own clock."""
    cfg = TimeConfig()
    for path in NTP_CONFS:
        lines = _lines(ctx, path)
        if lines is None:
            continue
        cfg.files.append(path)
        # the last fudge line that sets a stratum (others, e.g. "refid", keep it)
        fudge = {f[1]: f for _, f in lines if f[0] == "fudge" and "stratum" in f}
        for n, f in lines:
            if f[0] in ("server", "pool", "peer") and len(f) > 1:
                src = f[1]
                if LOCAL_CLOCK.match(src):
                    fl = fudge.get(src)
                    stratum = ""
                    if fl:
                        i = fl.index("stratum")
                        stratum = f", fudge stratum {fl[i + 1]}" if i + 1 < len(fl) else ""
                    src = f"local clock {f[1]}{stratum}"
                    cfg.local.add(src)
                if f[0] == "pool":
                    cfg.pools.add(src)
                cfg.sources.append((src, f"{path}:{n}"))
        break
    return cfg


def chrony_config(ctx: CheckContext) -> TimeConfig:
    """``server``/``pool``/``peer`` of chrony.conf and its ``confdir``/
    ``sourcedir`` files; ``local stratum N`` makes the host a time master."""
    cfg = TimeConfig()
    for path in CHRONY_CONFS:
        lines = _lines(ctx, path)
        if lines is None:
            continue
        cfg.files.append(path)
        extra: list[str] = []
        for n, f in lines:
            if f[0] in ("server", "pool", "peer") and len(f) > 1:
                cfg.sources.append((f[1], f"{path}:{n}"))
                if f[0] == "pool":
                    cfg.pools.add(f[1])
            elif f[0] == "local":
                src = "local clock (" + " ".join(f[1:]) + ")"
                cfg.local.add(src)
                cfg.sources.append((src, f"{path}:{n}"))
            elif f[0] == "confdir" and len(f) > 1:
                extra += [p for d in f[1:] for p in ctx.host.glob(f"{d}/*.conf")]
            elif f[0] == "sourcedir" and len(f) > 1:
                extra += [p for d in f[1:] for p in ctx.host.glob(f"{d}/*.sources")]
        for p in extra:
            for n, f in _lines(ctx, p) or []:
                if f[0] in ("server", "pool", "peer") and len(f) > 1:
                    cfg.sources.append((f[1], f"{p}:{n}"))
                    if f[0] == "pool":
                        cfg.pools.add(f[1])
        break
    return cfg


def timesyncd_config(ctx: CheckContext) -> TimeConfig:
    """``NTP=`` and ``FallbackNTP=`` of timesyncd.conf and its drop-ins (later
    assignments win; an empty one resets). Without ``FallbackNTP=`` the
    distribution's built-in fallback servers apply."""
    cfg = TimeConfig()
    values: dict[str, tuple[list[str], str]] = {}
    dropins = sorted(
        (p for d in TIMESYNCD_DROPINS for p in ctx.host.glob(f"{d}/*.conf")),
        key=lambda p: p.rsplit("/", 1)[-1],
    )
    for path in [TIMESYNCD_CONF, *dropins]:
        try:
            text = ctx.host.read_text(path)
        except OSError:
            continue
        cfg.files.append(path)
        for n, line in enumerate(text.splitlines(), 1):
            s = line.strip()
            if not s or s[0] in "#;" or "=" not in s:
                continue
            key, _, value = s.partition("=")
            if key.strip() in ("NTP", "FallbackNTP"):
                values[key.strip()] = (value.split(), f"{path}:{n}")
    for key in ("NTP", "FallbackNTP"):
        servers, where = values.get(key, ([], ""))
        cfg.sources += [(s, where) for s in servers]
        if key == "FallbackNTP":
            cfg.fallback.update(servers)
        if cfg.sources:
            break
    if not cfg.sources and "FallbackNTP" not in values:
        where = cfg.files[0] if cfg.files else TIMESYNCD_CONF
        cfg.sources.append((BUILTIN_FALLBACK, where))
        cfg.fallback.add(BUILTIN_FALLBACK)
        cfg.note = "no NTP= or FallbackNTP= set: systemd-timesyncd uses"
    return cfg


READERS = {"ntpd": ntp_config, "chronyd": chrony_config, "systemd-timesyncd": timesyncd_config}


@dataclass
class Daemon:
    name: str
    unit: str
    installed: bool
    config: TimeConfig
    enabled: _services.Fact
    active: _services.Fact


def _daemon(ctx: CheckContext, name: str) -> Daemon:
    units, procs, binaries = DAEMONS[name]
    cfg = READERS[name](ctx)
    host = ctx.host
    found_units = [u for u in units if _services.unit_file(host, u)]
    installed = bool(found_units) or any(
        (host.which(b) if "/" not in b else host.exists(b)) for b in binaries
    )
    if name != "systemd-timesyncd":
        installed = installed or bool(cfg.files)
    unit = found_units[0] if found_units else units[0]
    enabled = _services.enabled(host, unit)
    for other in found_units[1:]:
        if enabled.value:
            break
        enabled = _services.enabled(host, other)
    return Daemon(name, unit, installed, cfg, enabled, _services.active(host, unit, procs))


def _synchronised(ctx: CheckContext, daemon: str) -> tuple[bool | None, str]:
    """Ask timedatectl, then the daemon's own tool."""
    host = ctx.host
    tried = []
    if host.which("timedatectl"):
        r = host.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        v = r.stdout.strip()
        if r.ok and v in ("yes", "no"):
            return v == "yes", f"timedatectl: NTPSynchronized={v}"
        tried.append("timedatectl: " + (r.stderr.strip().splitlines() or ["no answer"])[-1])
    if daemon == "chronyd" and host.which("chronyc"):
        r = host.run(["chronyc", "tracking"])
        m = re.search(r"^Leap status\s*:\s*(.+)$", r.stdout, re.M)
        if r.ok and m:
            status = m.group(1).strip()
            return status != "Not synchronised", f"chronyc tracking: Leap status {status}"
        tried.append("chronyc tracking: rc " + str(r.rc))
    if daemon == "ntpd":
        if host.which("ntpstat"):
            r = host.run(["ntpstat"])
            if r.rc in (0, 1):
                first = r.stdout.strip().partition("\n")[0].strip()
                return r.rc == 0, f"ntpstat: {first}"
            tried.append(f"ntpstat: rc {r.rc}")
        if host.which("ntpq"):
            r = host.run(["ntpq", "-pn"])
            # ntpq says "***Socket error; ..." with rc 0 when ntpd does not
            # answer: only a peer table (under its header) is an answer
            if r.ok and NTPQ_HEADER.search(r.stdout):
                peer = [ln.split()[0][1:] for ln in r.stdout.splitlines() if ln.startswith("*")]
                if peer:
                    return True, f"ntpq -p: system peer {peer[0]}"
                return False, "ntpq -p: no system peer (no line marked '*')"
            said = (r.stderr.strip() or r.stdout.strip().removeprefix("***")).splitlines()
            tried.append("ntpq -p: " + (said[-1] if said else f"rc {r.rc}"))
    return None, "; ".join(tried) or "no tool to ask (timedatectl, chronyc, ntpstat, ntpq)"


@dataclass(frozen=True)
class Expectation:
    """What the profile asks of this host's time sources."""

    role: str  # "master", "client" (of time.master), "servers" (time.servers) or "any"
    servers: tuple[str, ...]  # the sources it must use (client: the master)
    air_gapped: bool
    why: str  # where the expectation comes from, as said in messages


def expectation(ctx: CheckContext) -> Expectation:
    """The guide's roles: the time master (``time.master``) serves its local
    clock, every other node syncs from it; else the profile's ``time.servers``;
    else any server the site can reach."""
    section: dict[str, Any] = dict(ctx.profile.get("time") or {})
    air = bool(section.get("air_gapped", True))
    master = str(section.get("master") or "")
    if master:
        me = {ctx.host.hostname()}
        me.update(ctx.host.resolve(ctx.host.hostname()))
        them = {master, *ctx.host.resolve(master)}
        # the profile's nodes name the master as cluster.ntp reads them
        for node in ctx.profile.get("nodes") or []:
            if not isinstance(node, dict):
                continue
            name, address = str(node.get("name", "")), str(node.get("address", ""))
            if master in (name, address):
                them.update(x for x in (name, address) if x)
        if me & them:
            return Expectation("master", (), air, f"this host is the time master ({master})")
        # a client may name the master by its profile name or address, as
        # cluster.ntp accepts it; the master as written comes first (the fix adds it)
        aliases = sorted(x for x in them if x != master and _is_node_name(ctx, x))
        return Expectation("client", (master, *aliases), air, f"the time master {master}")
    servers = tuple(str(x) for x in section.get("servers") or ())
    if servers:
        return Expectation("servers", servers, air, "the profile's time.servers")
    return Expectation("any", (), air, "")


def _is_node_name(ctx: CheckContext, x: str) -> bool:
    """``x`` is a name or address the profile's nodes list (not one DNS gave)."""
    return any(
        isinstance(n, dict) and x in (str(n.get("name", "")), str(n.get("address", "")))
        for n in ctx.profile.get("nodes") or []
    )


def _unreachable(src: str) -> str | None:
    """Why an air-gapped site cannot use ``src``, None when it may."""
    if src == BUILTIN_FALLBACK:
        return "built-in fallback"
    if PUBLIC_NTP.search(src.lower().rstrip(".")):
        return "public pool" if "pool" in src.lower() else "public server"
    return None


class TimeSync(Check):
    """A time daemon is configured with a server, enabled, running and synchronised.

    Any of the profile's ``time.services`` counts (ntpd as the guide uses,
    chronyd and systemd-timesyncd as the modern equivalents). The daemon
    judged is the one running (live) or enabled, else the first configured.

    - Configured: ntp.conf ``server``/``pool``/``peer`` lines that are not
      commented out (the guide's time master ``server 127.127.1.0`` with
      ``fudge 127.127.1.0 stratum 11`` is a valid source: the local clock);
      chrony.conf ``server``/``pool``/``peer`` or ``local stratum``;
      timesyncd.conf ``NTP=``/``FallbackNTP=``. No source: fail.
    - Reachable from an air-gapped site (profile ``time.air_gapped``, on by
      default): timesyncd's built-in fallback servers (no ``NTP=`` and no
      ``FallbackNTP=``) and public names such as ``*.pool.ntp.org`` do not
      count; only those: fail.
    - The guide's roles: with ``time.master`` (a name or address), the master
      must serve its local clock and every other host must use the master;
      with ``time.servers``, one of them must be a source.
    - Enabled at boot: a warning when not.
    - Running and synchronised need a running system (``timedatectl show -p
      NTPSynchronized``, ``chronyc tracking``, ``ntpstat`` or ``ntpq -p``);
      on a sysroot they are skipped. Not running fails; running but not
      synchronised (or not known to be) is a warning: configured is not the
      same as synchronised.
    """

    id = "time.sync"
    title = "Clock synchronised by ntpd, chronyd or systemd-timesyncd"
    group = "time"
    severity = Severity.HIGH
    remediation = (
        "Configure the site's time server in the time service in use, then enable and restart it"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        ctx.section("time")  # a profile without one skips the check
        wanted, chosen = chosen_daemon(ctx)
        if chosen is None:
            f = Finding(Status.FAIL, "time service", f"none of {', '.join(wanted)} is installed")
            return Outcome.from_findings([f])
        findings = [judge_sources(chosen, expectation(ctx))]
        name = chosen.name
        if chosen.enabled.value:
            findings.append(
                Finding(
                    Status.PASS,
                    f"{name} enabled",
                    chosen.enabled.detail,
                    location=chosen.enabled.location,
                )
            )
        else:
            findings.append(
                Finding(
                    Status.WARN, f"{name} enabled", f"not enabled at boot ({chosen.enabled.detail})"
                )
            )
        act = chosen.active
        if act.value is None:
            findings.append(Finding(Status.SKIP, f"{name} running", act.detail))
        elif act.value:
            findings.append(Finding(Status.PASS, f"{name} running", act.detail))
        else:
            findings.append(Finding(Status.FAIL, f"{name} running", f"not running ({act.detail})"))
        if not ctx.host.live:
            findings.append(
                Finding(
                    Status.SKIP,
                    "clock synchronised",
                    "synchronisation needs a running system; auditing a sysroot",
                )
            )
        else:
            synced, how = _synchronised(ctx, name)
            if synced:
                findings.append(Finding(Status.PASS, "clock synchronised", how))
            elif synced is None:
                findings.append(
                    Finding(Status.WARN, "clock synchronised", f"could not tell ({how})")
                )
            else:
                findings.append(
                    Finding(Status.WARN, "clock synchronised", f"not synchronised ({how})")
                )
        return Outcome.from_findings(findings, ok=f"{name}: {findings[0].message}")

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        return plan_time(ctx, self.id, outcome)


def chosen_daemon(ctx: CheckContext) -> tuple[list[str], Daemon | None]:
    """The profile's time services, and the one a host uses: running with a
    source, else enabled with one, else the first configured or installed."""
    section = ctx.profile.get("time") or {}
    wanted = [s for s in section.get("services", list(DAEMONS)) if s in DAEMONS]
    present = [d for d in (_daemon(ctx, s) for s in wanted) if d.installed]
    if not present:
        return wanted, None
    chosen = (
        next((d for d in present if d.active.value and d.config.sources), None)
        or next((d for d in present if d.enabled.value and d.config.sources), None)
        or next((d for d in present if d.config.sources), None)
        or present[0]
    )
    return wanted, chosen


def judge_sources(d: Daemon, exp: Expectation) -> Finding:
    """Whether a daemon's sources are acceptable: the one rule that time.sync
    and cluster.ntp both apply (a role the profile gives, reachability from an
    air-gapped site)."""
    cfg = d.config
    subject = f"{d.name} configured"
    if not cfg.sources:
        where = ", ".join(cfg.files) or "no configuration file"
        return Finding(
            Status.FAIL,
            subject,
            f"no server configured ({where})",
            expected=", ".join(exp.servers) or "a server",
            location=cfg.files[0] if cfg.files else None,
        )
    names = ", ".join(s for s, _ in cfg.sources)
    msg = f"{cfg.note} {names}" if cfg.note else f"time source {names}"
    sources = [s for s, _ in cfg.sources]
    bad = None
    if exp.role == "master" and not cfg.local:
        bad = f"{exp.why} but serves no local clock ({names})"
    elif exp.role in ("client", "servers") and not set(exp.servers) & set(sources):
        which = " or ".join(exp.servers)
        bad = f"does not use {which} ({exp.why}); sources: {names}"
    elif exp.air_gapped:
        usable = [s for s in sources if _unreachable(s) is None]
        if not usable:
            shown = ", ".join(
                s if s == BUILTIN_FALLBACK else f"{s} ({_unreachable(s)})" for s in sources
            )
            said = f"{cfg.note} {shown}" if cfg.note else f"time source {shown}"
            bad = f"{said}, which an air-gapped site cannot reach: not configured"
    if bad:
        return Finding(
            Status.FAIL,
            subject,
            bad,
            expected=", ".join(exp.servers)
            or ("local clock" if exp.role == "master" else "a server the site can reach"),
            actual=names,
            location=cfg.location or None,
        )
    return Finding(Status.PASS, subject, msg, actual=names, location=cfg.location or None)


def plan_time(ctx: CheckContext, check_id: str, outcome: Outcome) -> list[Change]:
    """Point the time service in use at the expected servers (or make it the
    master), enable it and restart it."""
    from harborkit.model.change import Command, ManualStep

    section = ctx.profile.get("time") or {}
    wanted = [s for s in section.get("services", list(DAEMONS)) if s in DAEMONS]
    present = [d for d in (_daemon(ctx, s) for s in wanted) if d.installed]
    if not present:
        return [
            ManualStep(
                (check_id,),
                f"install one of {', '.join(wanted)} (chrony or ntp from the site's package "
                "mirror), then run harborkit fix again",
            )
        ]
    name = outcome.findings[0].subject.split()[0] if outcome.findings else present[0].name
    d = next((x for x in present if x.name == name), present[0])
    bad = {f.subject for f in outcome.findings if f.status in (Status.FAIL, Status.WARN)}
    exp = expectation(ctx)
    changes: list[Change] = []
    if f"{d.name} configured" in bad:
        manual = _manual_config(check_id, d, exp)
        if manual is not None:
            return [manual]
        c = _config_change(ctx, check_id, d, exp)
        if c is not None:
            changes.append(c)
    if f"{d.name} enabled" in bad:
        changes.append(
            Command((check_id,), ("systemctl", "enable", d.unit), f"start {d.name} at boot")
        )
    if changes or f"{d.name} running" in bad:
        changes.append(
            Command(
                (check_id,),
                ("systemctl", "restart", d.unit),
                f"{d.name} reads its configuration at start",
            )
        )
    return changes


def _manual_config(check_id: str, d: Daemon, exp: Expectation) -> Change | None:
    """The step left to the operator when harborkit cannot configure ``d``: no
    server named in the profile, or systemd-timesyncd asked to be the master."""
    from harborkit.model.change import ManualStep

    if exp.role == "any":
        what = {
            "ntpd": "add 'server <site NTP server> iburst' to /etc/ntp.conf",
            "chronyd": "add 'server <site NTP server> iburst' to /etc/chrony.conf",
            "systemd-timesyncd": f"set NTP=<site NTP server> in {TIMESYNCD_DROPIN}",
        }[d.name]
        return ManualStep(
            (check_id,),
            f"{d.name} is the time service here: {what}; name the server in the "
            "profile (time.servers, or time.master for the guide's roles) and "
            "harborkit fix writes it",
        )
    if d.name == "systemd-timesyncd" and exp.role == "master":
        return ManualStep(
            (check_id,),
            "systemd-timesyncd cannot serve time to the other nodes: install "
            "chrony or ntp on the time master",
        )
    return None


def _config_change(ctx: CheckContext, check_id: str, d: Daemon, exp: Expectation) -> Change | None:
    """``d``'s configuration pointed at the expected servers (or made the master):
    a drop-in for systemd-timesyncd; for ntpd and chronyd, their main file with
    unreachable sources commented out and the missing lines added."""
    from harborkit.model.change import edit_lines, file_change, read_bytes

    if d.name == "systemd-timesyncd":
        body = (
            "# Time servers for Harbor (written by harborkit fix)\n[Time]\n"
            f"NTP={' '.join(exp.servers)}\n"
        )
        return file_change(check_id, ctx.host, TIMESYNCD_DROPIN, body, exp.why, owned=True)
    path = (
        d.config.files[0]
        if d.config.files
        else (NTP_CONFS[0] if d.name == "ntpd" else CHRONY_CONFS[0])
    )
    text = (read_bytes(ctx.host, path) or b"").decode("utf-8", "surrogateescape")
    edits: dict[int, str | None] = {}
    for src, where in d.config.sources:
        p, _, n = where.rpartition(":")
        if p == path and n.isdigit() and _unreachable(src):
            raw = text.splitlines()[int(n) - 1]
            edits[int(n)] = f"# {raw.strip()}  # harborkit: unreachable from an air-gapped site"
    have = {s for s, _ in d.config.sources}
    if exp.role == "master":
        add = (
            ["server 127.127.1.0", "fudge 127.127.1.0 stratum 10"]
            if d.name == "ntpd"
            else ["local stratum 10", "allow"]
        )
        add = [] if d.config.local else add
    elif exp.role == "client":  # the master under one of its names is enough
        add = [] if set(exp.servers) & have else [f"server {exp.servers[0]} iburst"]
    else:
        add = [f"server {s} iburst" for s in exp.servers if s not in have]
    return file_change(check_id, ctx.host, path, edit_lines(text, edits, add), exp.why)


CHECKS: list[type[Check]] = [TimeSync]
