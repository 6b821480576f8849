"""Kernel parameters: the value in effect (/proc/sys) and the persisted one (sysctl.d)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harborkit.checks._compare import describe, satisfies
from harborkit.checks._parse import kernel_numbers
from harborkit.compat import zip_strict
from harborkit.model.check import (
    Check,
    CheckContext,
    Finding,
    NotAvailable,
    Outcome,
    Severity,
    Status,
)

#: systemd-sysctl's directories, highest precedence first for same-named files
SYSCTL_DIRS = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
SYSCTL_CONF = "/etc/sysctl.conf"
DROPIN = "/etc/sysctl.d/90-harbor.conf"

if TYPE_CHECKING:
    from harborkit.model.change import Change


def proc_path(key: str) -> str:
    """``net.ipv4.tcp_tw_reuse`` -> ``/proc/sys/net/ipv4/tcp_tw_reuse``."""
    return "/proc/sys/" + key.replace(".", "/")


def normalize_key(key: str) -> str:
    """sysctl.d(5): when the first separator is ``/``, slashes separate and
    dots are literal; we key everything by the dotted form."""
    key = key.strip()
    if "/" in key and (key.find("/") < key.find(".") or "." not in key):
        return key.strip("/").replace("/", ".")
    return key


def _norm_value(value: str) -> str:
    return " ".join(value.split())


def read_runtime(ctx: CheckContext, key: str) -> str | None:
    """The kernel's current value (whitespace-normalised), None when the
    kernel has no such key."""
    try:
        return _norm_value(ctx.host.read_text(proc_path(key)))
    except FileNotFoundError:
        return None


def has_proc_sys(ctx: CheckContext) -> bool:
    return ctx.memo("sysctl-proc", lambda: ctx.host.is_dir("/proc/sys/kernel"))


@dataclass(frozen=True)
class Assignment:
    key: str
    value: str
    location: str  # file:line


def sysctl_files(ctx: CheckContext) -> list[str]:
    """Files in the order systemd-sysctl and ``sysctl --system`` apply them:
    ``*.conf`` of all directories sorted by file name, a name in /etc hiding
    the same name in /run and /usr/lib, then /etc/sysctl.conf last."""
    chosen: dict[str, str] = {}
    for d in SYSCTL_DIRS:
        for path in ctx.host.glob(f"{d}/*.conf"):
            chosen.setdefault(path.rsplit("/", 1)[-1], path)
    files = [chosen[name] for name in sorted(chosen)]
    if ctx.host.exists(SYSCTL_CONF):
        files.append(SYSCTL_CONF)
    return files


def persisted(ctx: CheckContext) -> dict[str, Assignment]:
    """The last assignment of every key across the sysctl files."""

    def parse() -> dict[str, Assignment]:
        out: dict[str, Assignment] = {}
        for path in sysctl_files(ctx):
            try:
                text = ctx.host.read_text(path)
            except OSError:
                continue
            for n, line in enumerate(text.splitlines(), 1):
                s = line.strip()
                if not s or s[0] in "#;" or "=" not in s:
                    continue
                key, _, value = s.partition("=")
                key = normalize_key(key.lstrip("-"))
                out[key] = Assignment(key, _norm_value(value), f"{path}:{n}")
        return out

    return ctx.memo("sysctl-persisted", parse)


def _settings(ctx: CheckContext) -> dict[str, dict[str, Any]]:
    return dict(ctx.section("sysctl"))


def _na(key: str, spec: dict[str, Any]) -> str:
    note = spec.get("note")
    return f"not applicable: this kernel has no {key}" + (f" ({note})" if note else "")


def _numeric(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(isinstance(v, int) and not isinstance(v, bool) for v in items)


def _judge(key: str, spec: dict[str, Any], actual: str, location: str | None) -> Finding:
    op, value = spec["op"], spec.get("value")
    want = describe(op, value)
    if _numeric(value) or (op == "in" and all(_numeric(v) for v in value or [])):
        numbers = kernel_numbers(actual)
        if numbers is None:
            return Finding(
                Status.FAIL,
                key,
                f"{actual!r} is not a number the kernel reads (the write fails), expected {want}",
                expected=want,
                actual=actual,
                location=location,
            )
        ok = satisfies(op, value, " ".join(str(n) for n in numbers))
    else:
        ok = satisfies(op, value, actual)
    return Finding(
        Status.PASS if ok else Status.FAIL,
        key,
        f"{actual} (expected {want})" if ok else f"{actual}, expected {want}",
        expected=want,
        actual=actual,
        location=location,
    )


def _wanted_value(spec: dict[str, Any], current: str | None) -> str:
    """The value to persist: the profile's, or the current one where it is
    already better than a minimum (ge) or maximum (le)."""
    op, value = spec["op"], spec.get("value")
    if op == "in" and isinstance(value, list):
        value = value[0]
    if current is not None and op in ("ge", "le") and satisfies(op, value, current):
        return current
    if isinstance(value, list):
        if current is not None and op in ("ge", "le"):
            cur = current.split()
            if len(cur) == len(value) and all(c.lstrip("-").isdigit() for c in cur):
                pick = max if op == "ge" else min
                return " ".join(str(pick(int(c), int(v))) for c, v in zip_strict(cur, value))
        return " ".join(str(v) for v in value)
    return str(value)


def plan_persist(ctx: CheckContext) -> dict[str, tuple[str, str]]:
    """What to persist, shared by both sysctl checks: {path: (new text, reason)}.

    A key whose winning assignment sits in a file applied after the drop-in
    (or in /etc/sysctl.conf, applied last) is changed on that line, so that
    the drop-in is not overridden; every other key that is not persisted as
    expected goes to /etc/sysctl.d/90-harbor.conf. Keys this kernel lacks are
    left out with a comment saying so; ``op: ignore`` keys (vm.drop_caches)
    are never written.
    """

    def compute() -> dict[str, tuple[str, str]]:
        from harborkit.model.change import edit_lines, read_bytes

        saved = persisted(ctx)
        know_kernel = has_proc_sys(ctx)
        order = sysctl_files(ctx)
        after_dropin = {
            p
            for p in order
            if p == SYSCTL_CONF or (p != DROPIN and p.rsplit("/", 1)[-1] > "90-harbor.conf")
        }
        # a file of the drop-in's name in /run or /usr/lib is hidden by the drop-in once
        # that exists: the drop-in then starts as its copy, so none of its lines is lost
        vendor = next((p for p in order if p != DROPIN and p.endswith("/90-harbor.conf")), None)
        own = {DROPIN, vendor} if vendor else {DROPIN}
        line_edits: dict[str, dict[int, str | None]] = {}
        append: list[str] = []
        absent: list[str] = []
        absent_edits: dict[int, str | None] = {}
        for key, spec in _settings(ctx).items():
            if spec["op"] == "ignore":
                continue
            if know_kernel and not ctx.host.exists(proc_path(key)):
                a = saved.get(key)
                path, _, n = a.location.rpartition(":") if a else ("", "", "")
                if path in own:
                    raw = (read_bytes(ctx.host, path) or b"").decode("utf-8", "surrogateescape")
                    line = raw.splitlines()[int(n) - 1].strip()
                    absent_edits[int(n)] = f"# {line}  # harborkit: this kernel has no such key"
                else:
                    absent.append(f"# {key} left out: this kernel has no such key")
                continue
            a = saved.get(key)
            if a is not None and satisfies(spec["op"], spec.get("value"), a.value):
                continue
            try:
                current = read_runtime(ctx, key) if know_kernel else None
            except OSError:
                current = None
            line = f"{key} = {_wanted_value(spec, current)}"
            if a is not None:
                path, _, n = a.location.rpartition(":")
                if path in own:
                    line_edits.setdefault(DROPIN, {})[int(n)] = line
                    continue
                if path in after_dropin:
                    line_edits.setdefault(path, {})[int(n)] = line
                    continue
            append.append(line)
        out: dict[str, tuple[str, str]] = {}
        for path, edits in line_edits.items():
            if path == DROPIN:
                continue  # with the drop-in's notes and appended lines below
            text = (read_bytes(ctx.host, path) or b"").decode("utf-8", "surrogateescape")
            out[path] = (edit_lines(text, edits), f"{path} is applied after {DROPIN}")
        if append or DROPIN in line_edits:
            old = read_bytes(ctx.host, vendor or DROPIN)
            text = (
                old.decode("utf-8", "surrogateescape")
                if old is not None
                else ("# Kernel parameters for Harbor (written by harborkit fix)\n")
            )
            edits = {**absent_edits, **line_edits.get(DROPIN, {})}
            said = [n for n in absent if n not in text.splitlines()]
            new = edit_lines(text, edits, [*said, *append])
            why = "sysctl --system and every boot apply it"
            if vendor:
                why += f"; it hides {vendor}, so it starts as a copy of that file"
            out[DROPIN] = (new, why)
        return out

    return ctx.memo("sysctl-plan", compute)


def _plan_files(ctx: CheckContext, check_id: str) -> list[Change]:
    from harborkit.model.change import file_change

    out: list[Change] = []
    for path, (text, reason) in plan_persist(ctx).items():
        c = file_change(check_id, ctx.host, path, text, reason, owned=path == DROPIN)
        if c is not None:
            out.append(c)
    return out


class SysctlRuntime(Check):
    """Every kernel parameter of the profile has the expected value now.

    Values are read from ``/proc/sys/<key with dots as slashes>`` and judged
    with the key's operator (``eq``, ``ge``, ``le``, ``in``; ``kernel.sem`` is
    four numbers, each judged). A key this kernel lacks is not applicable
    (``net.ipv4.tcp_tw_recycle`` was removed in Linux 4.12); ``op: ignore``
    keys are skipped with the profile's note (``vm.drop_caches`` is a
    one-shot trigger, not a setting).
    """

    id = "sysctl.runtime"
    title = "Kernel parameters in effect"
    group = "kernel"
    severity = Severity.HIGH
    remediation = "Set the keys in /etc/sysctl.d/90-harbor.conf and run 'sysctl --system'"

    def run(self, ctx: CheckContext) -> Outcome:
        settings = _settings(ctx)
        if not has_proc_sys(ctx):
            raise NotAvailable("kernel parameters need /proc/sys; the sysroot has none")
        findings = []
        for key, spec in settings.items():
            if spec["op"] == "ignore":
                findings.append(Finding(Status.SKIP, key, str(spec.get("note") or "ignored")))
                continue
            try:
                actual = read_runtime(ctx, key)
            except PermissionError:
                findings.append(
                    Finding(
                        Status.WARN,
                        key,
                        f"cannot read {proc_path(key)}: permission denied (run as root)",
                        location=proc_path(key),
                    )
                )
                continue
            if actual is None:
                findings.append(Finding(Status.SKIP, key, _na(key, spec)))
                continue
            findings.append(_judge(key, spec, actual, proc_path(key)))
        judged = sum(1 for f in findings if f.status is not Status.SKIP)
        return Outcome.from_findings(findings, ok=f"{judged} keys as expected")

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        from harborkit.model.change import Command

        if not any(f.status is Status.FAIL for f in outcome.findings):
            return ()
        return [
            *_plan_files(ctx, self.id),
            Command(
                (self.id,),
                ("sysctl", "--system"),
                "apply the persisted values now",
                irreversible="the kernel values set by sysctl --system stay until reboot",
            ),
        ]


class SysctlPersisted(Check):
    """Every kernel parameter of the profile is persisted with the expected value.

    The guide writes ``/etc/sysctl.conf`` and runs ``sysctl -p``; what
    survives a reboot is what systemd-sysctl (and ``sysctl --system``) apply:
    ``*.conf`` from /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d and
    /usr/lib/sysctl.d sorted by file name (a name in /etc hides the same name
    elsewhere), then /etc/sysctl.conf; the last assignment wins. The finding
    names the file and line of the value used. A key never persisted fails
    (lost at reboot); a key this kernel lacks is not applicable.
    """

    id = "sysctl.persisted"
    title = "Kernel parameters persisted for the next boot"
    group = "kernel"
    severity = Severity.MEDIUM
    remediation = "Write the keys to /etc/sysctl.d/90-harbor.conf (one 'key = value' per line)"

    def run(self, ctx: CheckContext) -> Outcome:
        settings = _settings(ctx)
        saved = persisted(ctx)
        know_kernel = has_proc_sys(ctx)
        findings = []
        for key, spec in settings.items():
            a = saved.get(key)
            where = a.location if a else None
            if spec["op"] == "ignore":
                note = str(spec.get("note") or "ignored")
                if a:
                    note += f" (persisted as {a.value})"
                findings.append(Finding(Status.SKIP, key, note, location=where))
                continue
            if know_kernel and not ctx.host.exists(proc_path(key)):
                findings.append(Finding(Status.SKIP, key, _na(key, spec), location=where))
                continue
            if a is None:
                findings.append(
                    Finding(
                        Status.FAIL,
                        key,
                        "not persisted (lost at reboot)",
                        expected=describe(spec["op"], spec.get("value")),
                    )
                )
                continue
            findings.append(_judge(key, spec, a.value, a.location))
        judged = sum(1 for f in findings if f.status is not Status.SKIP)
        return Outcome.from_findings(findings, ok=f"{judged} keys persisted as expected")

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        return _plan_files(ctx, self.id)


CHECKS: list[type[Check]] = [SysctlRuntime, SysctlPersisted]
