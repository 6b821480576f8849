"""One image-reference parser, one Docker helper, no import cycle in the bundle CLI (no root)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from harborkit.dockerapi import repo_and_tag
from harborkit.errors import InputError

ROOT = Path(__file__).resolve().parents[2] / "harborkit"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("goharbor/harbor-core:v1.8.0", ("goharbor/harbor-core", "v1.8.0")),
        ("busybox", ("busybox", "latest")),
        ("docker.io/library/busybox:1.36", ("busybox", "1.36")),
        ("127.0.0.1:5000/hk/nothere:v1", ("127.0.0.1:5000/hk/nothere", "v1")),
        ("localhost:5000/hk/x", ("localhost:5000/hk/x", "latest")),
        (
            "registry.example/goharbor/x@sha256:" + "a" * 64,
            ("registry.example/goharbor/x", "sha256:" + "a" * 64),
        ),
    ],
)
def test_daemon_names_come_from_the_one_reference_parser(
    reference: str, expected: tuple[str, str]
) -> None:
    assert repo_and_tag(reference) == expected


def test_a_malformed_reference_is_input_error() -> None:
    with pytest.raises(InputError, match="malformed repository name"):
        repo_and_tag("Goharbor/UPPER:v1")


def _calls(path: Path) -> set[str]:
    """Dotted names called in ``path`` (``client.api._get`` ...)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            parts = []
            f = node.func
            while isinstance(f, ast.Attribute):
                parts.append(f.attr)
                f = f.value
            out.add(".".join(reversed(parts)))
    return out


def test_no_private_docker_sdk_calls_and_one_connection_helper() -> None:
    for path in ROOT.rglob("*.py"):
        private = {c for c in _calls(path) if c.startswith("api._")}
        assert not private, f"{path}: {private}"
        if path.name != "dockerapi.py":
            own = {c for c in _calls(path) if c.split(".")[-1] in {"from_env", "DockerClient"}}
            assert not own, f"{path} opens its own Docker client: {own}"


def test_registry_cli_does_not_import_cli() -> None:
    code = (
        "import sys, harborkit.commands.bundle.registry;"
        " print('harborkit.commands.bundle.core' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
