"""What the cross-node checks share: per-host facts memoised in each host's
context, and the summary of findings that name their hosts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from harborkit.host.interface import NotAvailable
from harborkit.ipaddr import is_loopback as _is_loopback
from harborkit.model.check import CheckContext, Finding, Outcome, Status

T = TypeVar("T")

#: names every machine has: they cannot tell nodes apart
GENERIC_NAMES = {"localhost", "localhost.localdomain", "localhost4", "localhost6"}


def _fact(ctx: CheckContext, key: str, compute: Callable[[], T]) -> T | NotAvailable:
    """A per-host fact (memoised in the host's context), or why it is unknown."""
    try:
        return ctx.memo(key, compute)
    except NotAvailable as e:
        return e


def _hostname(ctx: CheckContext) -> str | NotAvailable:
    return _fact(ctx, "cluster:hostname", ctx.host.hostname)


def _resolve(ctx: CheckContext, name: str) -> list[str]:
    value = _fact(ctx, f"cluster:resolve:{name}", lambda: ctx.host.resolve(name))
    return [] if isinstance(value, NotAvailable) else value


def _first_routable(addrs: Sequence[str]) -> str | None:
    return next((a for a in addrs if not _is_loopback(a)), None)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _majority(values: Iterable[str]) -> str | None:
    """The most common value; None when there is none or a tie at the top."""
    ranked = Counter(values).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _summary(findings: Sequence[Finding], ok: str) -> Outcome:
    """Worst status wins; the message names the hosts in trouble."""
    status = Status.worst(f.status for f in findings)
    if status in (Status.PASS, Status.SKIP):
        return Outcome.from_findings(findings, ok=ok)
    bad = [f for f in findings if f.status is status]
    if len(bad) == 1:
        return Outcome(status, f"{bad[0].subject}: {bad[0].message}", tuple(findings))
    hosts = list(dict.fromkeys(f.subject for f in bad))
    first = f"{bad[0].subject}: {bad[0].message}"
    return Outcome(
        status,
        f"{_plural(len(bad), 'problem')} on {', '.join(hosts)}; first: {first}",
        tuple(findings),
    )


def _not_judged(why: str, findings: Sequence[Finding]) -> Outcome:
    """Skip, keeping each host's reason as a finding; the message quotes the first."""
    reasons = [f for f in findings if f.status is Status.SKIP]
    if reasons:
        more = f"; and {len(reasons) - 1} more" if len(reasons) > 1 else ""
        why += f" ({reasons[0].subject}: {reasons[0].message}{more})"
    return Outcome(Status.SKIP, why, tuple(findings))
