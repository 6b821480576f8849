"""Hosts: where checks read files and run commands.

Checks never touch the machine directly. They go through a :class:`Host`,
which has one narrow contract: read a file, list a folder, run an argv
command, and answer a handful of system facts. :class:`LocalHost` is the live
machine; :class:`SysrootHost` is a folder holding copies of ``/etc`` and
``/proc/sys`` (a mounted disk image or a test fixture). An SSH host would be
one more implementation of the same protocol.
"""

from harborkit.host.interface import (
    ClockSample,
    CommandResult,
    Host,
    HostError,
    Listener,
    NotAvailable,
    ProcessInfo,
)
from harborkit.host.local import LocalHost, SysrootHost

__all__ = [
    "ClockSample",
    "CommandResult",
    "Host",
    "HostError",
    "Listener",
    "LocalHost",
    "NotAvailable",
    "ProcessInfo",
    "SysrootHost",
]
