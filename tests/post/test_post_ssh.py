"""The post checks over SSH (--host): the Harbor host is a real sshd host whose
docker CLI talks to the stack's daemon; HTTP goes from harborkit to Harbor."""

from __future__ import annotations

import ctypes
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.post import stack as st
from tests.post.conftest import run_post
from tests.support import sshhost

T = TypeVar("T")


def _in_stack_netns(daemon_pid: int, fn: Callable[[], T]) -> T:
    """``fn()`` on a thread that joined the stack's network namespace (sshhost
    waits for the banner from the calling process; setns is per thread)."""
    out: list[T] = []
    errors: list[BaseException] = []

    def work() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        with open(f"/proc/{daemon_pid}/ns/net") as ns:
            if libc.setns(ns.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
                errors.append(OSError(ctypes.get_errno(), "setns"))
                return
        try:
            out.append(fn())
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return out[0]


@pytest.fixture(scope="module")
def harbor_host(harbor_stack: st.HarborStack) -> Iterator[tuple[sshhost.SshHost, sshhost.Client]]:
    env = harbor_stack.env()
    image = sshhost.import_image(env)
    docker_cli = shutil.which("docker") or "/usr/bin/docker"
    with sshhost.make_client() as client:
        host = _in_stack_netns(
            harbor_stack.daemon.pid,
            lambda: sshhost.start_host(
                image,
                env,
                "harbor60",
                client.public_key,
                volumes=[
                    f"{docker_cli}:/usr/bin/docker:ro",
                    f"{harbor_stack.daemon.socket_path}:/var/run/docker.sock",
                    f"{harbor_stack.install_dir}:/opt/harbor:ro",
                ],
            ),
        )
        try:
            client.trust([host])
            yield host, client
        finally:
            host.stop()


def test_post_over_ssh_judges_the_stack(stack: st.HarborStack, harbor_host) -> None:
    host, client = harbor_host
    stack.tokens.users["admin"] = "changed-pw"
    stack.docker("stop", "-t", "1", "harbor-portal")
    rc, report, err = run_post(
        stack,
        "--host",
        f"root@{host.address}",
        "--ssh-config",
        str(client.config),
        install_dir=Path("/opt/harbor"),
        timeout=180,
    )
    assert report["schema"] == "harborkit/cluster-report/v1", err
    (section,) = report["hosts"]
    assert (section["name"], section["reachable"]) == ("harbor60", True)
    results = {r["id"]: r for r in section["report"]["results"]}
    assert results["post.containers"]["message"].startswith(
        "portal (harbor-portal): exited (exit code 137); last log line: portal listening on 8080"
    ), results["post.containers"]
    for ok in (
        "post.ports",
        "post.network",
        "post.registry",
        "post.version",
        "post.default_password",
    ):
        assert results[ok]["status"] == "pass", results[ok]
    clients = [(f["status"], f["message"]) for f in results["post.clients"]["findings"]]
    assert clients == [
        ("pass", f"the running daemon treats 127.0.0.1:{stack.http_port} as insecure"),
        ("skip", "neither curl nor wget on harbor60"),
    ]
    assert rc == 1, err
