"""What an installed harborkit needs: its data through harborkit.resources, help in plain words.

The installed-wheel run of every command is `make smoke` (.ci/wheel_smoke.py),
which CI runs before `make test`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer.main

from harborkit.commands.app import app
from harborkit.resources import KINDS, data_dir, default_manifest, default_profile, load_schema
from tests.test_cli import hk

REPO = Path(__file__).resolve().parents[1]


def _command_paths() -> list[list[str]]:
    out: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        out.append(path)
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def test_checkout_reads_the_top_level_data_folders() -> None:
    for kind in KINDS:
        assert data_dir(kind) == REPO / kind
    assert default_profile() == REPO / "checks" / "harbor-v1.8.0.yaml"
    assert default_manifest() == REPO / "bundles" / "harbor-v1.8.0.yaml"
    assert load_schema("report.schema.json") == json.loads(
        (REPO / "schemas" / "report.schema.json").read_text()
    )


def test_every_command_help_has_no_type_placeholders() -> None:
    paths = _command_paths()
    assert ["bundle", "verify"] in paths and ["check"] in paths
    for path in paths:
        r = hk(*path, "--help", env={"COLUMNS": "200"})
        assert r.returncode == 0, (path, r.stderr)
        assert "<bool>" not in r.stdout, path
        assert "{" not in r.stdout, path
    r = hk("bundle", "verify", "--help", env={"COLUMNS": "200"})
    assert "Usage: harborkit bundle verify [OPTIONS] BUNDLE" in r.stdout


def test_bundle_manifest_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(
        "harbor_version: v1.8.0\n"
        "installer:\n"
        "  name: harbor-online-installer-v1.8.0.tgz\n"
        "  url: https://example.invalid/x.tgz\n"
        "images: nope\n"
    )
    r = hk("bundle", "build", "-m", str(bad), "-o", str(tmp_path / "out.tar"))
    assert r.returncode == 2
    assert r.stderr == f"harborkit: error: {bad}:5: images: 'nope' is not of type 'array'\n"
    assert not (tmp_path / "out.tar").exists()


def test_bundle_manifest_yaml_error_names_file_line_column(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text("harbor_version: v1.8.0\nimages: [a,\n")
    r = hk("bundle", "build", "-m", str(bad), "-o", str(tmp_path / "out.tar"))
    assert r.returncode == 2
    assert r.stderr.startswith(f"harborkit: error: {bad}:3:1: invalid YAML: ")
    assert r.stderr.count("\n") == 1


def test_command_line_mistakes_are_one_line_exit_2() -> None:
    for args, line in (
        (
            ("check", "--format", "xml"),
            "harborkit: error: Invalid value for '--format' / '-f': 'xml' is not one of "
            "'table', 'json', 'junit', 'html'. (see 'harborkit check -h')",
        ),
        (
            ("bundle", "verify"),
            "harborkit: error: Missing argument 'bundle'. (see 'harborkit bundle verify -h')",
        ),
        (
            ("bundle", "frobnicate"),
            "harborkit: error: No such command 'frobnicate'. (see 'harborkit bundle -h')",
        ),
    ):
        r = hk(*args)
        assert (r.returncode, r.stdout, r.stderr) == (2, "", line + "\n"), args


def test_no_arguments_shows_the_help() -> None:
    r = hk()
    assert r.returncode == 2
    assert "Usage: harborkit [OPTIONS] COMMAND [ARGS]..." in r.stdout


def test_installed_layout_reads_harborkit_data(tmp_path: Path) -> None:
    """The package copied as a wheel installs it (no checkout beside it): the data
    comes from harborkit/data; without it, one line and exit 3."""
    import shutil
    import subprocess
    import sys

    site = tmp_path / "site"
    shutil.copytree(
        REPO / "harborkit", site / "harborkit", ignore=shutil.ignore_patterns("__pycache__")
    )
    for kind in KINDS:
        shutil.copytree(REPO / kind, site / "harborkit" / "data" / kind)
    code = (
        "import harborkit.resources as r; print(r.data_dir('schemas')); print(r.default_profile())"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [
        str(site / "harborkit/data/schemas"),
        str(site / "harborkit/data/checks/harbor-v1.8.0.yaml"),
    ]
    shutil.rmtree(site / "harborkit" / "data")
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "check", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert (r.returncode, r.stdout) == (3, "")
    assert r.stderr == (
        "harborkit: error: harborkit's built-in checks/ folder is missing from this installation "
        f"(looked in {site / 'harborkit/data/checks'}); reinstall harborkit from a wheel or sdist\n"
    )
