"""SELinux mode, in config and at runtime."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harborkit.host.interface import Host
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, Status

if TYPE_CHECKING:
    from harborkit.model.change import Change

CONFIG = "/etc/selinux/config"
ENFORCE = "/sys/fs/selinux/enforce"
_RANK = {"disabled": 0, "permissive": 1, "enforcing": 2}


def _judge(mode: str, allowed: str) -> Status:
    """``mode`` is a known mode; an ``allowed`` the table does not know asks for disabled."""
    if _RANK[mode] <= _RANK.get(allowed, 0):
        return Status.PASS
    return Status.FAIL if mode == "enforcing" else Status.WARN


def _read_config(host: Host) -> tuple[str | None, str | None, int | None]:
    """The config's text (None when unreadable), its last ``SELINUX=`` mode and that line."""
    config, line = None, None
    try:
        text = host.read_text(CONFIG)
    except OSError:
        text = None
    if text is not None:
        for n, raw in enumerate(text.splitlines(), 1):
            m = re.match(r"\s*SELINUX\s*=\s*(\S*)", raw)
            if m:
                config, line = m.group(1).strip("\"'").lower(), n
    return text, config, line


def _read_runtime(host: Host) -> str | None:
    """The running kernel's mode; None when a sysroot cannot tell."""
    runtime_known = host.live or host.is_dir("/sys/fs")
    try:
        return {"1": "enforcing", "0": "permissive"}.get(
            host.read_text(ENFORCE).strip(), "enforcing"
        )
    except FileNotFoundError:
        return "disabled" if runtime_known else None


def _config_finding(
    text: str | None, config: str | None, line: int | None, allowed: str
) -> Finding:
    if text is None:
        return Finding(Status.WARN, "config", f"no {CONFIG}", expected=allowed)
    if config is None:
        return Finding(
            Status.WARN,
            "config",
            f"no SELINUX= line in {CONFIG}",
            expected=f"SELINUX={allowed}",
            location=CONFIG,
        )
    if config not in _RANK:
        return Finding(
            Status.FAIL,
            "config",
            f"SELINUX={config} is not a mode (enforcing, permissive, disabled)",
            expected=f"SELINUX={allowed}",
            actual=f"SELINUX={config}",
            location=f"{CONFIG}:{line}",
        )
    return Finding(
        _judge(config, allowed),
        "config",
        f"SELINUX={config}",
        expected=f"SELINUX={allowed}",
        actual=f"SELINUX={config}",
        location=f"{CONFIG}:{line}",
    )


def _runtime_finding(
    runtime: str | None, config: str | None, allowed: str
) -> tuple[Finding, str | None]:
    """The runtime mode's finding, and the outcome's summary when config and
    runtime differ until a reboot."""
    if runtime is None:
        return (
            Finding(
                Status.SKIP,
                "runtime",
                f"the runtime mode needs a running system; no {ENFORCE} in the sysroot",
            ),
            None,
        )
    summary = None
    status = _judge(runtime, allowed)
    msg = {
        "disabled": "off (no /sys/fs/selinux/enforce)",
        "permissive": "permissive (enforce = 0)",
        "enforcing": "enforcing (enforce = 1)",
    }[runtime]
    if config in _RANK and _RANK[config] < _RANK[runtime]:
        msg = f"{runtime} until reboot ({config} in config)"
        if status is not Status.PASS:
            summary = f"{config} in config, {runtime} until reboot"
    finding = Finding(
        status,
        "runtime",
        msg,
        expected=allowed,
        actual=runtime,
        location=ENFORCE if runtime != "disabled" else None,
    )
    return finding, summary


class SelinuxMode(Check):
    """SELinux is disabled in ``/etc/selinux/config`` and not enforcing now.

    The guide sets ``SELINUX=disabled``, which takes effect only after a
    reboot, so the config and the running kernel (``/sys/fs/selinux/enforce``:
    1 enforcing, 0 permissive, absent: off) are judged apart. Enforcing fails:
    Harbor v1.8.0's prepare container cannot write ``/config`` (goharbor/harbor
    issue 8129); permissive is a warning when the profile asks for disabled.
    "Disabled in config, enforcing until reboot" is said as such. A host
    without SELinux at all (Debian) passes.
    """

    id = "selinux.mode"
    title = "SELinux disabled"
    group = "selinux"
    severity = Severity.CRITICAL
    remediation = (
        "Set SELINUX=disabled in /etc/selinux/config and reboot (setenforce 0 makes it "
        "permissive until then); enforcing breaks Harbor's prepare on /config (goharbor issue 8129)"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        allowed = str(ctx.profile.get("selinux", {}).get("mode", "disabled"))
        text, config, line = _read_config(ctx.host)
        runtime = _read_runtime(ctx.host)
        if text is None and runtime in (None, "disabled"):
            f = Finding(Status.PASS, "SELinux", f"SELinux not present (no {CONFIG})")
            return Outcome.from_findings([f], ok="SELinux not present")
        findings = [_config_finding(text, config, line, allowed)]
        runtime_finding, summary = _runtime_finding(runtime, config, allowed)
        findings.append(runtime_finding)
        return Outcome.from_findings(
            findings,
            ok=f"SELinux {config} in config, {runtime or 'unknown'} at runtime",
            summary=summary,
        )

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        """SELINUX= set in the config; a runtime mode stricter than allowed
        is relaxed with setenforce 0 where the profile allows permissive or
        less, and a reboot is left as a manual step."""
        from harborkit.model.change import Command, ManualStep, edit_lines, file_change, read_bytes

        allowed = str(ctx.profile.get("selinux", {}).get("mode", "disabled"))
        by = {f.subject: f for f in outcome.findings}
        changes: list[Change] = []
        cfg = by.get("config")
        if cfg is not None and cfg.status is not Status.PASS:
            text = (read_bytes(ctx.host, CONFIG) or b"").decode("utf-8", "surrogateescape")
            line = f"SELINUX={allowed}"
            n = int(cfg.location.rpartition(":")[2]) if cfg.location and ":" in cfg.location else 0
            new = edit_lines(text, {n: line}) if n else edit_lines(text, {}, [line])
            c = file_change(self.id, ctx.host, CONFIG, new, "the mode from the next boot on")
            if c is not None:
                changes.append(c)
        rt = by.get("runtime")
        # a runtime mode not judged (a sysroot has no running kernel) needs no step
        if rt is not None and rt.status in (Status.FAIL, Status.WARN):
            if rt.actual == "enforcing" and _RANK[allowed] <= _RANK["permissive"]:
                changes.append(
                    Command(
                        (self.id,),
                        ("setenforce", "0"),
                        "permissive until the reboot",
                        irreversible="setenforce 0 is not undone: the mode stays permissive "
                        "until reboot (run setenforce 1 to go back)",
                    )
                )
            if allowed != "permissive":
                changes.append(
                    ManualStep(
                        (self.id,),
                        f"reboot to make SELINUX={allowed} take effect (the running kernel "
                        f"is {rt.actual})",
                    )
                )
        return changes


CHECKS: list[type[Check]] = [SelinuxMode]
