"""Real sshd test hosts for the remote tests, shared by the whole session.

One private dockerd; the cached debootstrap image; one client key pair and
known_hosts. Hosts (each its own container, hostname and loopback address):

- ``guide``: the guide applied word for word (``server58``, fixture
  guide-as-written copied in), reached as root;
- ``compliant``: the compliant CentOS 7 fixture's files (``server59``);
- ``sudo``: the debian12 fixture's files (``harbor01``), reached as ``admin``
  with passwordless sudo, and as ``clerk`` whose sudo wants a password;
- ``rekeyed``: a host whose key differs from the one known_hosts holds;
- ``down``: a free loopback address where nothing listens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.dockerd import Daemon, start_dockerd
from tests.support.sshhost import (
    Client,
    SshHost,
    free_loopback,
    import_image,
    make_client,
    start_host,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"


@dataclass
class Lab:
    daemon: Daemon
    image: str
    client: Client
    guide: SshHost
    compliant: SshHost
    sudo: SshHost
    rekeyed: SshHost
    down_address: str

    @property
    def env(self) -> dict[str, str]:
        return self.daemon.env()


def _need() -> None:
    if os.geteuid() != 0:
        pytest.skip("the sshd test hosts need root (a private dockerd)")
    for tool in ("ssh", "debootstrap", "docker"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (make test installs it)")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    _need()
    with start_dockerd(stop_in_background=True) as daemon, make_client() as client:
        env = daemon.env()
        image = import_image(env)
        started: list[SshHost] = []
        key = client.public_key
        trees = {"server58": "guide-as-written", "server59": "centos7-compliant"}
        trees["harbor01"] = "debian12"

        def start(name: str) -> SshHost:
            host = start_host(image, env, name, key)
            started.append(host)
            if name in trees:
                host.put_tree(FIXTURES / trees[name])
            return host

        try:
            # the four hosts start side by side: each start is mostly waiting for sshd
            with ThreadPoolExecutor(max_workers=4) as pool:
                futures = [pool.submit(start, n) for n in ("server58", "server59", "harbor01")]
                futures.append(pool.submit(start, "server60"))
                guide, compliant, sudo, rekeyed = (f.result() for f in futures)
            client.trust([guide, compliant, sudo])
            # known_hosts holds another host's key for this address: "changed"
            with open(client.known_hosts, "a") as f:
                f.write(f"{rekeyed.address} {guide.host_key}\n")
            yield Lab(daemon, image, client, guide, compliant, sudo, rekeyed, free_loopback())
        finally:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(SshHost.stop, started))


HK = [sys.executable, "-m", "harborkit"]


def hk(
    *args: str, config: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``harborkit check`` with the lab's ssh_config (or ``config``)."""
    argv = [*HK, *args]
    if config is not None:
        argv[len(HK) + 1 : len(HK) + 1] = ["--ssh-config", str(config)]
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env.pop("NO_COLOR", None)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def _reports(report_json: str) -> list[dict[str, Any]]:
    """Every host's report (and the cluster checks' as host "cluster") of a -f json
    document: one host's report or a cluster report."""
    import json

    doc = json.loads(report_json)
    if "hosts" not in doc:
        return [doc]
    out = []
    for h in doc["hosts"]:
        rep = dict(h["report"])
        rep["host"] = h["name"]
        out.append(rep)
    cluster = dict(doc["cluster"])
    cluster["host"] = "cluster"
    return [*out, cluster]


def verdicts(report_json: str) -> dict[str, dict[str, str]]:
    """host -> check id -> status, from a -f json report (one host or a cluster)."""
    return {r["host"]: {x["id"]: x["status"] for x in r["results"]} for r in _reports(report_json)}


def host_results(report_json: str, host: str | None = None) -> list[dict[str, Any]]:
    """The result objects of one host (the only one when ``host`` is None)."""
    reports = [r for r in _reports(report_json) if r["host"] != "cluster"]
    if host is None:
        assert len(reports) == 1, [r["host"] for r in reports]
        return list(reports[0]["results"])
    return next(list(r["results"]) for r in reports if r["host"] == host)
