"""Checks: harbor_config (in progress)."""

from harborkit.engine.interface import Check

CHECKS: list[type[Check]] = []
