"""A check of this machine starts its slow probes before the command line is parsed.

``docker-compose version`` alone takes ~0.4 s of CPU (it is a Python program):
it is started first thing, before typer, the commands, the profile or even the
rest of harborkit is imported (only :mod:`harborkit.childproc`, the standard
library's subprocess), so it runs while all that loads. The daemon and the
process table are asked next, in threads. This is only a head start: ``check``
decides from its parsed options whether this machine is audited and takes the
warmed host (:func:`harborkit.host.warm.take_early`) only then, and the
profile's own ``compose.binary`` decides which Compose is asked (the one started
here is taken only when it is that one). A command line read wrongly here costs
a probe nobody waits for (killed at exit), never a different result.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (early: see above)
if TYPE_CHECKING:  # annotations only
    from collections.abc import Sequence

#: options after which the run is not a check of this machine with the built-in
#: profile (another machine, a sysroot, a listing, help, another profile)
_ELSEWHERE = ("--root", "--host", "--snapshot", "--inventory", "--profile", "--list", "--help")
#: their short spellings (-i, -p, -h), alone or in a cluster such as -vp
_SHORT = frozenset("iph")
#: the built-in profile's compose.binary (tests/host/test_warm.py holds them equal)
BUILTIN_COMPOSE = "docker-compose"


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


def compose_argv() -> list[str] | None:
    """The built-in profile's Compose version probe, as the docker.compose check
    asks it: the first executable ``docker-compose`` on PATH, as shutil.which
    (``LocalHost.which``) finds it, without importing shutil (and with it zlib,
    bz2, lzma); None when there is none (the check then looks further itself).
    Should this ever differ from LocalHost.which, the probe started is not the
    one the check asks for: it runs the right one itself."""
    import os

    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder, BUILTIN_COMPOSE)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return [path, "version", "--short"]
    return None


def start(args: Sequence[str]) -> None:
    """Warm this machine's slow facts now when ``args`` is a local check."""
    if not local_check(args):
        return
    argv = compose_argv()
    if argv is not None:
        from harborkit import childproc

        childproc.prestart(argv)  # before any other import: the slowest first
    from harborkit.engine.profile import builtin_data
    from harborkit.host.warm import WarmLocalHost, keep_early

    host = WarmLocalHost()  # the daemon, asked now
    host.warm_profile(builtin_data())  # takes the Compose started above when it is the one
    host.warm_processes()
    keep_early(host)
