"""post.replication against real distribution registries (token and htpasswd auth)."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

from tests.post.conftest import result, run_post
from tests.support.registry import PASSWORD, USER, start_registry


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_targets_reachable_refused_and_unreachable(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{_free_port()}"
    with start_registry("token") as tok, start_registry("htpasswd") as htp:
        rc, report, err = run_post(
            None,
            "--only",
            "post.replication",
            "--replication-target",
            tok.url,
            "--replication-target",
            htp.url,
            "--replication-user",
            USER,
            env={"HARBORKIT_REPLICATION_PASSWORD": PASSWORD},
        )
        r = result(report, "post.replication")
        assert (rc, r["status"], err) == (0, "pass", ""), r
        assert [f["message"] for f in r["findings"]] == [f"reachable, {USER} accepted"] * 2
        # the Docker config file's entry when no --replication-user; a wrong one is refused
        auth = base64.b64encode(f"{USER}:wrong-pw".encode()).decode()
        (tmp_path / "config.json").write_text(json.dumps({"auths": {tok.host: {"auth": auth}}}))
        rc, report, err = run_post(
            None,
            "--only",
            "post.replication",
            "--replication-target",
            tok.url,
            "--replication-target",
            down,
            env={"DOCKER_CONFIG": str(tmp_path)},
        )
    r = result(report, "post.replication")
    assert rc == 1 and "wrong-pw" not in json.dumps(report) + err
    assert [(f["subject"], f["message"]) for f in r["findings"]] == [
        (tok.url, f"reachable, but {USER} refused (HTTP 401)"),
        (down, f"{down}: cannot connect: Connection refused"),
    ]


def test_no_target_skips() -> None:
    rc, report, _ = run_post(None, "--only", "post.replication")
    assert (rc, result(report, "post.replication")["message"]) == (
        0,
        "no --replication-target given",
    )


def test_registry_over_https_checks_chain_and_name(tmp_path: Path) -> None:
    """post.registry against the real registry on TLS: valid with --ca, refused without."""
    with start_registry("tls") as reg:
        assert reg.pki is not None
        folder = tmp_path / "harbor"
        folder.mkdir()
        (folder / "harbor.yml").write_text(
            f"hostname: 127.0.0.1\nhttp:\n  port: 80\nhttps:\n  port: {reg.port}\n"
            "  certificate: /c.pem\n  private_key: /k.pem\n"
        )
        ca = str(reg.pki.ca_cert)
        rc, report, err = run_post(None, "--only", "post.registry", "--ca", ca, install_dir=folder)
        r = result(report, "post.registry")
        assert (rc, r["message"], err) == (
            0,
            f"https://127.0.0.1:{reg.port}/v2/ answers 200 (no authentication)",
            "",
        )
        rc, report, _ = run_post(None, "--only", "post.registry", install_dir=folder)
        r = result(report, "post.registry")
        assert (rc, r["message"]) == (
            1,
            f"https://127.0.0.1:{reg.port}: certificate not valid: unable to get local issuer certificate",
        )
