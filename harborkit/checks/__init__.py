"""The built-in checks, registered through the ``harborkit.checks`` entry point.

One module per area; each exports ``CHECKS``, a list of :class:`Check`
subclasses in the order reports show them.
"""

from __future__ import annotations

from harborkit.checks import (
    daemon_json,
    docker,
    firewall,
    harbor_config,
    hardware,
    limits,
    names,
    ports,
    post,
    selinux,
    sysctl,
    timesync,
)
from harborkit.model.check import Check

BUILTIN_CHECKS: list[type[Check]] = [
    *names.CHECKS,
    *timesync.CHECKS,
    *firewall.CHECKS,
    *selinux.CHECKS,
    *sysctl.CHECKS,
    *limits.CHECKS,
    *docker.CHECKS,
    *daemon_json.CHECKS,
    *harbor_config.CHECKS,
    *hardware.CHECKS,
    *ports.CHECKS,
    *post.CHECKS,
]
