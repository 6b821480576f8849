"""Checks of Harbor 1.8's hardware prerequisites: CPUs, memory, disk."""

from __future__ import annotations

from harborkit.checks import _harbor
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, Status

GIB = 1024**3
#: "4 GB" machines report a MemTotal a little under 4 GiB (kernel and firmware
#: reservations): memory up to this fraction below a figure still meets it.
MEMORY_TOLERANCE = 0.05
DEFAULT_DATA_VOLUME = "/data"


def _judge(
    subject: str, actual: float, minimum: float, preferred: float, shown: str, unit: str = ""
) -> Finding:
    expected = f">= {minimum:g}{unit} (preferred {preferred:g}{unit})"
    if actual < minimum:
        return Finding(
            Status.FAIL,
            subject,
            f"{shown}: below Harbor's minimum of {minimum:g}{unit}",
            expected=expected,
            actual=shown,
        )
    if actual < preferred:
        return Finding(
            Status.WARN,
            subject,
            f"{shown}: meets the minimum, below the preferred {preferred:g}{unit}",
            expected=expected,
            actual=shown,
        )
    return Finding(Status.PASS, subject, shown, expected=expected, actual=shown)


def _outcome(finding: Finding) -> Outcome:
    return Outcome(finding.status, finding.message, (finding,))


class HardwareCpu(Check):
    """Enough CPUs for Harbor: at least the profile's ``hardware.cpu.min`` (2)
    or fail, at least ``preferred`` (4) or warn. Counts the CPUs this process
    may run on (the affinity mask, as ``nproc`` does). Live system only."""

    id = "hardware.cpu"
    title = "CPU count"
    group = "hardware"
    severity = Severity.HIGH
    remediation = "Give the machine at least 2 CPUs (4 preferred)"

    def run(self, ctx: CheckContext) -> Outcome:
        figures = ctx.section("hardware")["cpu"]
        n = ctx.host.cpu_count()
        return _outcome(_judge("cpu", n, figures["min"], figures["preferred"], f"{n} CPUs"))


class HardwareMemory(Check):
    """Enough memory for Harbor: ``hardware.memory_gib`` min (4) or fail,
    preferred (8) or warn, against MemTotal. A machine sold as "4 GB" reports a
    MemTotal a little under 4 GiB because the kernel and firmware reserve some
    memory, so memory up to 5% below a figure is accepted as meeting it (the
    finding says so). Live system only."""

    id = "hardware.memory"
    title = "Memory size"
    group = "hardware"
    severity = Severity.HIGH
    remediation = "Give the machine at least 4 GB of memory (8 GB preferred)"

    def run(self, ctx: CheckContext) -> Outcome:
        figures = ctx.section("hardware")["memory_gib"]
        total = ctx.host.memory_bytes()
        gib = total / GIB
        shown = f"{gib:.1f} GiB"
        slack = 1 - MEMORY_TOLERANCE
        finding = _judge(
            "memory",
            gib,
            figures["min"] * slack,
            figures["preferred"] * slack,
            shown,
        )
        # report the figures themselves, not the tolerated ones
        expected = f">= {figures['min']:g} GiB (preferred {figures['preferred']:g} GiB)"
        message = finding.message
        if finding.status is Status.FAIL:
            message = f"{shown}: below Harbor's minimum of {figures['min']:g} GiB"
        elif finding.status is Status.WARN:
            message = (
                f"{shown}: meets the minimum, below the preferred {figures['preferred']:g} GiB"
            )
        for figure in (figures["min"], figures["preferred"]):
            if figure * slack <= gib < figure:
                message += f" (counted as {figure:g} GiB: within 5% of it)"
                break
        return _outcome(Finding(finding.status, "memory", message, expected=expected, actual=shown))


class HardwareDisk(Check):
    """Enough free disk for Harbor's data: the free space of the filesystem that
    holds ``data_volume`` (from harbor.yml; ``/data`` without one, or its
    nearest existing parent such as ``/``) against ``hardware.disk_gib`` min
    (40) or fail, preferred (160) or warn. Live system only."""

    id = "hardware.disk"
    title = "Free disk for data_volume"
    group = "hardware"
    severity = Severity.HIGH
    remediation = "Put data_volume on a filesystem with at least 40 GB free (160 GB preferred)"

    def run(self, ctx: CheckContext) -> Outcome:
        figures = ctx.section("hardware")["disk_gib"]
        cfg, _ = _harbor.load_optional(ctx)
        path = (cfg.path_setting("data_volume") if cfg else None) or DEFAULT_DATA_VOLUME
        mount, free = ctx.host.disk_free(path)
        gib = free / GIB
        where = path if mount == path else f"{path} (nearest existing folder: {mount})"
        return _outcome(
            _judge(
                "disk",
                gib,
                figures["min"],
                figures["preferred"],
                f"{gib:.1f} GiB free under {where}",
                " GiB",
            )
        )


CHECKS: list[type[Check]] = [HardwareCpu, HardwareMemory, HardwareDisk]
