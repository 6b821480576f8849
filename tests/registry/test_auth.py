"""Credentials from the Docker config file and challenge parsing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from harborkit.errors import ExitCode, InputError
from harborkit.registry.auth import (
    credentials_from_docker_config,
    parse_challenges,
    resolve_credentials,
)


def _config(tmp_path: Path, auths: dict[str, object]) -> Path:
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"auths": auths}))
    return p


def test_docker_login_entry(tmp_path: Path) -> None:
    auth = base64.b64encode(b"alice:pa:ss").decode()
    cfg = _config(tmp_path, {"127.0.0.1:5000": {"auth": auth}})
    c = credentials_from_docker_config("127.0.0.1:5000", cfg)
    assert c is not None
    assert (c.username, c.password, c.source) == ("alice", "pa:ss", f"{cfg} (127.0.0.1:5000)")
    assert "pa:ss" not in repr(c)


def test_hub_key_and_scheme_prefixed_keys(tmp_path: Path) -> None:
    auth = base64.b64encode(b"bob:pw").decode()
    cfg = _config(
        tmp_path,
        {"https://index.docker.io/v1/": {"auth": auth}, "https://reg.example:8443": {"auth": auth}},
    )
    hub = credentials_from_docker_config("registry-1.docker.io", cfg)
    assert hub is not None
    assert (hub.username, hub.password, hub.source) == (
        "bob",
        "pw",
        f"{cfg} (https://index.docker.io/v1/)",
    )
    other = credentials_from_docker_config("reg.example:8443", cfg)
    assert other is not None
    assert (other.username, other.password, other.source) == (
        "bob",
        "pw",
        f"{cfg} (https://reg.example:8443)",
    )
    assert credentials_from_docker_config("other:1", cfg) is None


def test_env_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, {"h:1": {"username": "u", "password": "p"}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    c = resolve_credentials("h:1")
    assert c is not None
    assert (c.username, c.password, c.source) == ("u", "p", f"{tmp_path / 'config.json'} (h:1)")
    c = resolve_credentials("h:1", "x", "y")
    assert c is not None
    assert (c.username, c.password, c.source) == ("x", "y", "options")


def test_malformed_auth(tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"h:1": {"auth": base64.b64encode(b"nocolon").decode()}})
    with pytest.raises(InputError) as e:
        credentials_from_docker_config("h:1", cfg)
    assert e.value.message == f"Docker config {cfg} (h:1): 'auth' is not base64 of user:password"
    assert e.value.exit_code == ExitCode.USAGE


def test_half_credentials() -> None:
    with pytest.raises(InputError) as e:
        resolve_credentials("h:1", "user", None)
    assert e.value.message == "give both --username and --password, or neither"
    assert e.value.exit_code == ExitCode.USAGE


def test_parse_challenges() -> None:
    (c,) = parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )
    assert c.scheme == "bearer"
    assert c.params["scope"] == "repository:library/busybox:pull"
    (b,) = parse_challenges('Basic realm="hk realm"')
    assert b.scheme == "basic" and b.params["realm"] == "hk realm"


def test_credential_helper_is_named(tmp_path: Path) -> None:
    from harborkit.registry.auth import credential_helper

    p = tmp_path / "config.json"
    p.write_text(json.dumps({"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}}))
    assert credential_helper("gcr.io", p) == "docker-credential-gcloud"
    assert credential_helper("127.0.0.1:5000", p) == "docker-credential-desktop"
    assert credentials_from_docker_config("127.0.0.1:5000", p) is None


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("[" * 100_000, "nested too deep"),  # was a RecursionError traceback
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        (" " * (5 << 20), "larger than 4 MiB"),
        (
            "{not json",
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (None, "not a regular file"),  # a FIFO: the read hung
    ],
    ids=["nested", "deep-valid", "large", "not-json", "fifo"],
)
def test_a_bad_docker_config_is_one_clear_error(
    content: str | None, why: str, tmp_path: Path
) -> None:
    import os
    import time

    from harborkit.registry.auth import credential_helper

    cfg = tmp_path / "config.json"
    if content is None:
        os.mkfifo(cfg)
    else:
        cfg.write_text(content)
    started = time.monotonic()
    with pytest.raises(InputError) as ei:
        credentials_from_docker_config("127.0.0.1:5000", cfg)
    assert str(ei.value) == f"cannot read Docker config {cfg}: {why}"
    assert credential_helper("127.0.0.1:5000", cfg) is None  # (only a hint: never fails)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("header", "schemes"),
    [
        ("Negotiate, NTLM", ["negotiate", "ntlm"]),
        ('Negotiate, Bearer realm="https://r/t"', ["negotiate", "bearer"]),
        ('NTLM,Basic realm="x"', ["ntlm", "basic"]),
        (',, Basic realm="x" ,', ["basic"]),
    ],
)
def test_challenges_without_parameters_do_not_hide_the_next(
    header: str, schemes: list[str]
) -> None:
    assert [c.scheme for c in parse_challenges(header)] == schemes
