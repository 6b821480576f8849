"""Time synchronisation: ntpd, chronyd or systemd-timesyncd."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harborkit.checks import _services
from harborkit.engine.interface import Check, CheckContext, Finding, Outcome, Severity, Status

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


@dataclass
class TimeConfig:
    """Time sources a daemon's configuration names."""

    sources: list[tuple[str, str]] = field(default_factory=list)  # (source, file:line)
    files: list[str] = field(default_factory=list)
    note: str = ""  # how the sources were found, when not from a line

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
        fudge = {f[1]: f for _, f in lines if f[0] == "fudge" and len(f) > 1}
        for n, f in lines:
            if f[0] in ("server", "pool", "peer") and len(f) > 1:
                src = f[1]
                if LOCAL_CLOCK.match(src):
                    fl = fudge.get(src)
                    stratum = ""
                    if fl and "stratum" in fl:
                        i = fl.index("stratum")
                        stratum = f", fudge stratum {fl[i + 1]}" if i + 1 < len(fl) else ""
                    src = f"local clock {f[1]}{stratum}"
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
            elif f[0] == "local":
                cfg.sources.append(("local clock (" + " ".join(f[1:]) + ")", f"{path}:{n}"))
            elif f[0] == "confdir" and len(f) > 1:
                extra += [p for d in f[1:] for p in ctx.host.glob(f"{d}/*.conf")]
            elif f[0] == "sourcedir" and len(f) > 1:
                extra += [p for d in f[1:] for p in ctx.host.glob(f"{d}/*.sources")]
        for p in extra:
            for n, f in _lines(ctx, p) or []:
                if f[0] in ("server", "pool", "peer") and len(f) > 1:
                    cfg.sources.append((f[1], f"{p}:{n}"))
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
        if cfg.sources:
            break
    if not cfg.sources and "FallbackNTP" not in values:
        where = cfg.files[0] if cfg.files else TIMESYNCD_CONF
        cfg.sources.append(("the distribution's built-in fallback servers", where))
        cfg.note = "no NTP= or FallbackNTP= set: systemd-timesyncd uses"
    return cfg


READERS = {"ntpd": ntp_config, "chronyd": chrony_config, "systemd-timesyncd": timesyncd_config}


@dataclass
class Daemon:
    name: str
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
    return Daemon(name, installed, cfg, enabled, _services.active(host, unit, procs))


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
                first = (r.stdout.strip().splitlines() or [""])[0]
                return r.rc == 0, f"ntpstat: {first}"
            tried.append(f"ntpstat: rc {r.rc}")
        if host.which("ntpq"):
            r = host.run(["ntpq", "-pn"])
            if r.ok:
                peer = [ln.split()[0][1:] for ln in r.stdout.splitlines() if ln.startswith("*")]
                if peer:
                    return True, f"ntpq -p: system peer {peer[0]}"
                return False, "ntpq -p: no system peer (no line marked '*')"
            tried.append(f"ntpq -p: rc {r.rc}")
    return None, "; ".join(tried) or "no tool to ask (timedatectl, chronyc, ntpstat, ntpq)"


class TimeSync(Check):
    """A time daemon is configured with a server, enabled, running and synchronised.

    Any of the profile's ``time.services`` counts (ntpd as the guide uses,
    chronyd and systemd-timesyncd as the modern equivalents). The daemon
    judged is the one running (live) or enabled, else the first configured.

    - Configured: ntp.conf ``server``/``pool``/``peer`` lines that are not
      commented out (the guide's time master ``server 127.127.1.0`` with
      ``fudge 127.127.1.0 stratum 11`` is a valid source: the local clock);
      chrony.conf ``server``/``pool``/``peer`` or ``local stratum``;
      timesyncd.conf ``NTP=``/``FallbackNTP=``, or the distribution's built-in
      fallback servers when neither is set. No source: fail.
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
        "Configure a server in /etc/ntp.conf (or /etc/chrony.conf), then "
        "'systemctl enable --now ntpd' (or chronyd / systemd-timesyncd)"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        wanted = [s for s in ctx.section("time").get("services", list(DAEMONS)) if s in DAEMONS]
        daemons = [_daemon(ctx, s) for s in wanted]
        present = [d for d in daemons if d.installed]
        if not present:
            f = Finding(Status.FAIL, "time service", f"none of {', '.join(wanted)} is installed")
            return Outcome.from_findings([f])
        chosen = (
            next((d for d in present if d.active.value and d.config.sources), None)
            or next((d for d in present if d.enabled.value and d.config.sources), None)
            or next((d for d in present if d.config.sources), None)
            or present[0]
        )
        findings = [self._configured(chosen)]
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

    @staticmethod
    def _configured(d: Daemon) -> Finding:
        cfg = d.config
        subject = f"{d.name} configured"
        if not cfg.sources:
            where = ", ".join(cfg.files) or "no configuration file"
            return Finding(
                Status.FAIL,
                subject,
                f"no server configured ({where})",
                expected="a server",
                location=cfg.files[0] if cfg.files else None,
            )
        names = ", ".join(s for s, _ in cfg.sources)
        msg = f"{cfg.note} {names}" if cfg.note else f"time source {names}"
        return Finding(Status.PASS, subject, msg, actual=names, location=cfg.location or None)


CHECKS: list[type[Check]] = [TimeSync]
