"""A check of this machine starts its slow probes before the command line is parsed.

``docker-compose version`` alone takes ~0.4 s of CPU (it is a Python program),
the daemon and the process table more: started here, before typer and the
commands are imported, they run while those load. This is only a head start:
``check`` decides from its parsed options whether this machine is audited and
takes the warmed host (:func:`harborkit.host.warm.take_early`) only then; a
command line read wrongly here costs a probe nobody waits for (daemon threads),
never a different result.
"""

from __future__ import annotations

from collections.abc import Sequence

#: options after which the run is not a check of this machine with the built-in
#: profile (another machine, a sysroot, a listing, help, another profile)
_ELSEWHERE = ("--root", "--host", "--snapshot", "--inventory", "--profile", "--list", "--help")
#: their short spellings (-i, -p, -h), alone or in a cluster such as -vp
_SHORT = frozenset("iph")


def local_check(args: Sequence[str]) -> bool:
    """``harborkit check ...`` of this machine with the built-in profile."""
    if not args or args[0] != "check":
        return False
    for a in args[1:]:
        if a == "--":
            break
        if a.startswith("--") and a.split("=", 1)[0] in _ELSEWHERE:
            return False
        if a.startswith("-") and not a.startswith("--") and _SHORT & set(a[1:]):
            return False
    return True


def start(args: Sequence[str]) -> None:
    """Warm this machine's slow facts now when ``args`` is a local check."""
    if local_check(args):
        from harborkit.engine.profile import builtin_data
        from harborkit.host.warm import WarmLocalHost, keep_early

        host = WarmLocalHost()  # the daemon and the process table, asked now
        host.warm_profile(builtin_data())  # the built-in profile's Compose binary
        host.warm_processes()  # after Compose: the slowest first
        keep_early(host)
