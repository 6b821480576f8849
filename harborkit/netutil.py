"""What harborkit's two HTTP clients share: the registry's transport
(:mod:`harborkit.registry.transport`, on ``requests``) and the post-install checks'
small client (:mod:`harborkit.checks.post._http`, on ``http.client``). The deadline
that holds against a trickle is :class:`harborkit.transfer.Deadline`, used by both.
"""

from __future__ import annotations

import base64
import os


def env_seconds(name: str, default: float, most: float = 1e9) -> float:
    """Seconds from the environment variable ``name``: ``default`` when it is unset,
    not a number, or not above 0 and below ``most`` (``most`` itself is taken)."""
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if 0 < value <= most else default


def basic_auth(username: str, password: str) -> str:
    """An ``Authorization`` header's value for HTTP Basic (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
