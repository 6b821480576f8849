"""Checks: daemon_json (in progress)."""

from harborkit.engine.interface import Check

CHECKS: list[type[Check]] = []
