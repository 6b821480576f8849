"""harborkit check --phase post against a real Harbor-shaped stack: real
docker-compose, real nginx, the real distribution registry with token auth."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

from tests.post import stack as st
from tests.post.conftest import result, run_post, statuses

STACK_CHECKS = ("post.containers", "post.ports", "post.network")
API_CHECKS = ("post.registry", "post.version", "post.default_password")


def test_healthy_stack_with_changed_password_passes(stack: st.HarborStack) -> None:
    stack.tokens.users["admin"] = "s3cret-changed"
    rc, report, err = run_post(stack)
    assert statuses(report) == {
        **dict.fromkeys(STACK_CHECKS + API_CHECKS, "pass"),
        "post.login": "skip",
        "post.smoke": "skip",
        "post.clients": "pass",
        "post.replication": "skip",
    }, report
    assert rc == 0 and err == ""
    containers = result(report, "post.containers")
    assert [f["subject"] for f in containers["findings"]] == [
        f"{name} ({spec[0]})" for name, spec in st.SERVICES.items()
    ]
    assert {f["message"] for f in containers["findings"]} == {"running, healthy"}
    assert result(report, "post.version")["message"] == f"Harbor {st.VERSION}"
    assert result(report, "post.registry")["message"] == (
        f"{stack.url}/v2/ asks for a token from {stack.url}/service/token"
    )


def test_default_password_still_accepted_is_critical(stack: st.HarborStack) -> None:
    before = stack.tokens.requests
    rc, report, _ = run_post(stack, "--only", "post.default_password")
    r = result(report, "post.default_password")
    assert (rc, r["status"], r["severity"]) == (1, "fail", "critical")
    assert r["message"] == "admin still logs in with the default password Harbor12345"
    assert stack.tokens.requests == before + 1  # one token request, nothing else
    catalog = stack.docker("exec", "registry", "ls", "/storage").stdout
    assert catalog == ""  # nothing written to the registry


def test_default_password_other_variants(stack: st.HarborStack) -> None:
    stack.tokens.users["admin"] = "Harbor12345 "  # near miss is still a change
    rc, report, _ = run_post(stack, "--only", "post.default_password")
    r = result(report, "post.default_password")
    assert (rc, r["status"]) == (0, "pass")
    assert r["message"] == ("the token service refuses admin with the default password (HTTP 401)")


@contextlib.contextmanager
def replaced(stack: st.HarborStack, container: str, *run_args: str) -> Iterator[None]:
    """The compose container replaced by a hand-made one (``docker run``),
    put back by docker-compose afterwards."""
    stack.docker("rm", "-f", container)
    try:
        stack.docker("run", "-d", "--name", container, *run_args)
        yield
    finally:
        stack.docker("rm", "-f", container, check=False)


def _image(service: str) -> str:
    return f"{st.SERVICES[service][1]}:{st.IMAGE_TAG}"


def test_stopped_service_is_named_with_its_last_log_line(stack: st.HarborStack) -> None:
    stack.docker("stop", "-t", "1", "harbor-jobservice")
    rc, report, _ = run_post(stack, "--only", "post.containers")
    r = result(report, "post.containers")
    assert (rc, r["status"]) == (1, "fail")
    assert r["message"] == (
        "jobservice (harbor-jobservice): exited (exit code 137); "
        "last log line: jobservice listening on 8080"
    )


def test_missing_and_unhealthy_services(stack: st.HarborStack) -> None:
    stack.docker("rm", "-f", "redis")
    (stack.install_dir / "common/config/core/ping").unlink()  # core's healthcheck fails
    try:
        stack.docker("inspect", "harbor-core")
        import time

        for _ in range(40):  # interval 1s, 3 retries
            state = stack.docker(
                "inspect", "--format", "{{.State.Health.Status}}", "harbor-core"
            ).stdout.strip()
            if state == "unhealthy":
                break
            time.sleep(0.5)
        rc, report, _ = run_post(stack, "--only", "post.containers")
    finally:
        (stack.install_dir / "common/config/core/ping").write_text("Pong\n")
    r = result(report, "post.containers")
    bad = {f["subject"]: f["message"] for f in r["findings"] if f["status"] == "fail"}
    assert bad == {
        "redis (redis)": "no such container",
        "core (harbor-core)": "running but unhealthy",
    }
    assert (rc, r["message"]) == (1, "2 of 9 fail: core (harbor-core), redis (redis)")


def test_restarting_service_is_named(stack: st.HarborStack) -> None:
    with replaced(
        stack,
        "redis",
        "--restart",
        "always",
        "--network",
        "harbor_harbor",
        _image("redis"),
        "sh",
        "-c",
        "echo redis: cannot open /data/dump.rdb; exit 3",
    ):
        rc, report, _ = run_post(stack, "--only", "post.containers")
    r = result(report, "post.containers")
    assert (rc, r["status"]) == (1, "fail")
    (finding,) = [f for f in r["findings"] if f["status"] == "fail"]
    assert finding["subject"] == "redis (redis)"
    assert finding["message"].startswith("restarting")
    assert finding["message"].endswith("last log line: redis: cannot open /data/dump.rdb") or (
        "restart count went" in finding["message"]
    )


def test_log_published_on_all_addresses_fails(stack: st.HarborStack) -> None:
    with replaced(
        stack,
        "harbor-log",
        "--network",
        "harbor_harbor",
        "-p",
        "1514:10514",
        _image("log"),
        "httpd",
        "-f",
        "-p",
        "10514",
    ):
        rc, report, _ = run_post(stack, "--only", "post.ports")
    r = result(report, "post.ports")
    assert (rc, r["status"]) == (1, "fail")
    assert r["message"] == (
        "log (harbor-log): publishes 0.0.0.0:1514, [::]:1514; only 127.0.0.1:1514 expected"
    )


def test_other_service_publishing_and_off_network(stack: st.HarborStack) -> None:
    stack.docker("network", "create", "hk-other")
    try:
        with replaced(
            stack,
            "redis",
            "--network",
            "hk-other",
            "-p",
            "127.0.0.1:6379:6379",
            _image("redis"),
            "httpd",
            "-f",
            "-p",
            "6379",
        ):
            rc, report, _ = run_post(stack, "--only", "post.ports,post.network")
    finally:
        stack.docker("network", "rm", "hk-other", check=False)
    ports, network = result(report, "post.ports"), result(report, "post.network")
    assert rc == 1
    assert ports["message"] == (
        "redis (redis): publishes 127.0.0.1:6379; only the proxy and harbor-log may"
    )
    assert network["message"] == "redis (redis): not on harbor_harbor (on hk-other)"


def test_network_missing_is_named(stack: st.HarborStack) -> None:
    stack.compose("down", "-t", "1")
    rc, report, _ = run_post(stack, "--only", "post.network,post.containers")
    net = result(report, "post.network")
    assert (rc, net["status"], net["message"]) == (1, "fail", "harbor_harbor: no such network")
    assert (
        result(report, "post.containers")["message"]
        == "9 of 9 fail: log (harbor-log), registry (registry), registryctl (registryctl) and 6 more"
    )


def test_version_other_than_the_profile_fails(stack: st.HarborStack) -> None:
    info = stack.install_dir / "common/config/core/systeminfo"
    saved = info.read_text()
    try:
        for text, message in [
            (
                '{"harbor_version": "v1.9.0-abcdef"}',
                "Harbor reports 'v1.9.0-abcdef', the profile expects v1.8.0",
            ),
            ('{"auth_mode": "db_auth"}', "answered no harbor_version"),
            ("<html>not json</html>", "answered no harbor_version: '<html>not json</html>'"),
        ]:
            info.write_text(text)
            rc, report, err = run_post(stack, "--only", "post.version")
            r = result(report, "post.version")
            assert (rc, r["status"], err) == (1, "fail", "")
            assert r["message"].endswith(message) or message in r["message"], r["message"]
    finally:
        info.write_text(saved)


def test_login_with_user_and_password_from_the_environment(stack: st.HarborStack) -> None:
    secret = "hk-Login-Secret-7"
    stack.tokens.users["ci-bot"] = secret
    rc, report, err = run_post(
        stack,
        "--only",
        "post.login",
        "--harbor-user",
        "ci-bot",
        "--smoke",
        "test",
        env={"HARBORKIT_HARBOR_PASSWORD": secret},
    )
    r = result(report, "post.login")
    assert (rc, r["status"], r["message"]) == (
        0,
        "pass",
        "ci-bot: token with pull and push on test",
    )
    rc, report, err2 = run_post(
        stack,
        "--only",
        "post.login",
        "--harbor-user",
        "ci-bot",
        env={"HARBORKIT_HARBOR_PASSWORD": "wrong"},
    )
    r = result(report, "post.login")
    assert (rc, r["status"], r["message"]) == (1, "fail", "ci-bot: login refused (HTTP 401)")
    rc, report, _ = run_post(stack, "--only", "post.login", "--harbor-user", "ci-bot")
    assert result(report, "post.login")["message"] == (
        "--harbor-user ci-bot: HARBORKIT_HARBOR_PASSWORD is not set"
    )
    for text in (str(report), err, err2):
        assert secret not in text and "wrong" not in text


def test_smoke_round_trip_is_byte_exact_and_cleaned_up(stack: st.HarborStack) -> None:
    secret = "hk-Smoke-Secret-3"
    stack.tokens.users["ci-bot"] = secret
    rc, report, err = run_post(
        stack,
        "--only",
        "post.smoke,post.login",
        "--smoke",
        "test",
        "--harbor-user",
        "ci-bot",
        env={"HARBORKIT_HARBOR_PASSWORD": secret},
    )
    r = result(report, "post.smoke")
    assert (rc, r["status"], err) == (0, "pass", ""), r["message"]
    assert r["message"].startswith(
        "pushed, pulled back byte-exact and deleted test/harborkit-smoke:hk-"
    )
    tags = "/storage/docker/registry/v2/repositories/test/harborkit-smoke/_manifests/tags"
    assert stack.docker("exec", "registry", "ls", "-A", tags).stdout == ""  # the tag is gone
    revs = tags.replace("tags", "revisions")
    links = stack.docker("exec", "registry", "find", revs, "-name", "link").stdout
    assert links == ""  # and its manifest: distribution deleted the revision's link
    assert secret not in str(report)


def test_smoke_refused_or_not_asked(stack: st.HarborStack) -> None:
    stack.tokens.users["ci-bot"] = "right"
    rc, report, _ = run_post(
        stack,
        "--only",
        "post.smoke",
        "--smoke",
        "test",
        "--harbor-user",
        "ci-bot",
        env={"HARBORKIT_HARBOR_PASSWORD": "not-right"},
    )
    assert (rc, result(report, "post.smoke")["message"]) == (
        1,
        "ci-bot: no token for test/harborkit-smoke (HTTP 401)",
    )
    rc, report, _ = run_post(stack, "--only", "post.smoke")
    assert (rc, result(report, "post.smoke")["message"]) == (0, "opt-in: --smoke PROJECT")


def test_clients_insecure_entry_and_reach(stack: st.HarborStack, tmp_path) -> None:
    # an address that exists only in the stack's network namespace: not 127/8,
    # so dockerd does not treat it as insecure by default
    subprocess.run(
        st.in_netns(stack.daemon, ["ip", "addr", "replace", "10.231.0.1/32", "dev", "lo"]),
        check=True,
    )
    rc, report, err = run_post(stack, "--only", "post.clients")
    r = result(report, "post.clients")
    assert (rc, r["status"], err) == (0, "pass", ""), r
    assert [f["message"] for f in r["findings"]] == [
        f"the running daemon treats 127.0.0.1:{stack.http_port} as insecure",
        f"{stack.url}/v2/ answers (HTTP 401)",
    ]
    for host, reach in [("10.231.0.1", "answers (HTTP 401)"), ("10.231.0.2", "cannot connect")]:
        folder = tmp_path / host / "harbor"
        folder.mkdir(parents=True)
        (folder / "harbor.yml").write_text(f"hostname: {host}\nhttp:\n  port: {stack.http_port}\n")
        rc, report, err = run_post(
            stack, "--only", "post.clients", install_dir=folder, env={"HARBORKIT_POST_TIMEOUT": "3"}
        )
        r = result(report, "post.clients")
        msgs = [f["message"] for f in r["findings"]]
        assert (rc, r["status"]) == (1, "fail")
        assert msgs[0].startswith(
            f"the running daemon does not treat Harbor's {host}:{stack.http_port} as insecure"
        )
        assert reach in msgs[1], msgs
