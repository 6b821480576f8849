"""Post-install checks (group ``post``, ``harborkit check --phase post``): is the
installed Harbor up, reachable, and safe?"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from harborkit.checks.post import api_checks, clients, replication, smoke, stack_checks
from harborkit.errors import InputError
from harborkit.model.check import PHASES, Check, in_phase
from harborkit.model.check import POST_GROUP as GROUP

P = TypeVar("P")
_PROJECT = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", re.ASCII)
L = TypeVar("L")

CHECKS: list[type[Check]] = [
    stack_checks.PostContainers,
    stack_checks.PostPorts,
    stack_checks.PostNetwork,
    api_checks.PostRegistry,
    api_checks.PostVersion,
    api_checks.PostDefaultPassword,
    api_checks.PostLogin,
    smoke.PostSmoke,
    clients.PostClients,
    replication.PostReplication,
]


def with_options(
    profile: P,
    phase: str,
    smoke: str | None,
    user: str | None,
    ca: str | None,
    targets: Sequence[str] | None,
    target_user: str | None,
) -> P:
    """The profile with the run's post options as its ``post_run`` section;
    :class:`InputError` (exit 2) for a bad ``--phase`` or ``--ca``."""
    if phase not in PHASES:
        raise InputError(f"--phase {phase!r}: expected one of {', '.join(PHASES)}")
    if smoke is not None and not _PROJECT.fullmatch(smoke):
        raise InputError(f"--smoke {smoke!r}: not a Harbor project name (a-z, 0-9, . _ -)")
    if ca is not None and not os.path.isfile(ca):
        raise InputError(f"--ca {ca}: no such file")
    given = {
        "smoke": smoke,
        "user": user,
        "ca": os.path.abspath(ca) if ca else None,
        "replication": list(targets or ()),
        "replication_user": target_user,
    }
    data: Mapping[str, Any] = profile.data  # type: ignore[attr-defined]
    merged = {**data, "post_run": {k: v for k, v in given.items() if v}}
    return dataclasses.replace(profile, data=merged)  # type: ignore[type-var]


__all__: Sequence[str] = [
    "CHECKS",
    "GROUP",
    "PHASES",
    "in_phase",
    "with_options",
]
