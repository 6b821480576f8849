"""--phase pre|post|all and the post options on `harborkit check`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.post.conftest import REPO

POST_IDS = [
    "post.containers",
    "post.ports",
    "post.network",
    "post.registry",
    "post.version",
    "post.default_password",
    "post.login",
    "post.smoke",
    "post.clients",
    "post.replication",
]


def _check(*args: str) -> tuple[int, str, str]:
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "check", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    return r.returncode, r.stdout, r.stderr


def _ids(out: str) -> list[str]:
    return [r["id"] for r in json.loads(out)["results"]]


def test_default_phase_is_pre_and_all_adds_post() -> None:
    rc, out, _ = _check(
        "--skip", "hardware,docker,time,kernel,network,limits,firewall,selinux,ports", "-f", "json"
    )
    assert not [i for i in _ids(out) if i.startswith("post.")]
    rc, out, _ = _check("--phase", "all", "--only", "post,docker.engine", "-f", "json")
    assert _ids(out) == ["docker.engine", *POST_IDS]


def test_post_without_harbor_skips_every_check_saying_why(tmp_path: Path) -> None:
    rc, out, err = _check("--phase", "post", "-f", "json")
    report = json.loads(out)
    assert (rc, err, _ids(out)) == (0, "", POST_IDS)
    reasons = {r["id"]: r["message"] for r in report["results"]}
    assert reasons["post.containers"].endswith(
        "(the post-install checks read DIR/harbor.yml: --install-dir DIR)"
    )
    assert reasons["post.registry"].endswith(
        "(the post-install checks need harbor.yml: --install-dir DIR, or --harbor)"
    )
    assert {r["status"] for r in report["results"]} == {"skip"}


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--phase", "later"], "harborkit: error: --phase 'later': expected one of pre, post, all"),
        (
            ["--phase", "post", "--smoke", "../v2/x"],
            "harborkit: error: --smoke '../v2/x': not a Harbor project name (a-z, 0-9, . _ -)",
        ),
        (
            ["--phase", "post", "--ca", "/nonexistent/ca.pem"],
            "harborkit: error: --ca /nonexistent/ca.pem: no such file",
        ),
        (
            ["--only", "post.containers"],
            "harborkit: error: --phase pre: the selected checks are all of phase post (add --phase post or --phase all)",
        ),
        (
            ["--phase", "post", "--only", "docker"],
            "harborkit: error: --phase post: the selected checks are all of phase pre (add --phase pre or --phase all)",
        ),
    ],
    ids=["bad-phase", "bad-smoke-project", "missing-ca", "post-check-in-pre", "pre-check-in-post"],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], line: str) -> None:
    rc, out, err = _check(*args)
    assert (rc, out, err) == (2, "", line + "\n")
