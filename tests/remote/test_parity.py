"""The four ways of auditing one machine give the same verdicts (issue 20).

One sshd host (the guide's files copied in) is audited:

- **local**: harborkit run *on* the host (``docker exec``; this checkout and
  this interpreter bound in read-only), as an operator would run it there;
- **--host**: over SSH from here;
- **--snapshot**: the collector printed by ``harborkit collect --script`` run on
  the host through ssh (as an operator carries it), then judged here;
- **--root**: the host's root folder seen from here (``/proc/PID/root``).

Every check must give the same status in the three live ways; under ``--root``
what needs a running system is skipped and says so (the whole check, or the
finding that needed it), and every other check agrees too. The differences allowed are listed below with the reason, and the
test fails when one of them stops being one (the list cannot go stale).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.remote.conftest import FIXTURES, Lab, hk
from tests.support.sshhost import SshHost, start_host

REPO = Path(__file__).resolve().parents[2]
PROFILE_ARGS = ("--node", "server58=127.0.0.1")
#: checks that read state a live run sees differently by nature, with why
LIVE_ASIDE = {
    # the listeners are those of the machine the run sees: the container shares
    # this machine's network (--network host), and a snapshot or ssh run sees
    # them from inside it as local does: kept, but compared as statuses only
}


def _bound_paths() -> list[str]:
    paths = {REPO, Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent}
    return sorted({os.path.realpath(p) for p in paths})


@pytest.fixture(scope="module")
def host(lab: Lab) -> Iterator[SshHost]:
    volumes = [f"{p}:{p}:ro" for p in _bound_paths()]
    h = start_host(lab.image, lab.env, "server58", lab.client.public_key, volumes=volumes)
    try:
        h.put_tree(FIXTURES / "guide-as-written")
        lab.client.trust([h])
        yield h
    finally:
        h.stop()


def _statuses(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """check id -> (status, message) of the one host of a report."""
    if "hosts" in doc:
        (only,) = doc["hosts"]
        doc = only["report"]
    return {
        r["id"]: (r["status"], " | ".join([r["message"], *(f["message"] for f in r["findings"])]))
        for r in doc["results"]
    }


def _local(lab: Lab, h: SshHost) -> dict[str, tuple[str, str]]:
    argv = ["docker", "exec", "-e", f"PYTHONPATH={REPO}", "-e", "NO_COLOR=1", h.container,
            sys.executable, "-m", "harborkit", "check", *PROFILE_ARGS, "-f", "json"]  # fmt: skip
    r = subprocess.run(argv, env=lab.env, capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return _statuses(json.loads(r.stdout))


def _remote(lab: Lab, h: SshHost) -> dict[str, tuple[str, str]]:
    r = hk("check", "--host", h.target, *PROFILE_ARGS, "-f", "json", config=lab.client.config)
    assert r.returncode in (0, 1), r.stderr
    return _statuses(json.loads(r.stdout))


def _snapshot(lab: Lab, h: SshHost, tmp: Path) -> dict[str, tuple[str, str]]:
    # the collector made with the built-in profile alone: what the site profile
    # adds (a node name) the collector gathers from /etc/hosts anyway
    script = hk("collect", "--script")
    assert script.returncode == 0, script.stderr
    snap = tmp / "server58.hksnap"
    with open(snap, "wb") as out:
        ssh = subprocess.run(
            ["ssh", "-F", str(lab.client.config), h.target, "sh", "-s"],
            input=script.stdout.encode(),
            stdout=out,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    assert ssh.returncode == 0, ssh.stderr
    r = hk("check", "--snapshot", str(snap), *PROFILE_ARGS, "-f", "json")
    assert r.returncode in (0, 1), r.stderr
    return _statuses(json.loads(r.stdout))


def _root(lab: Lab, h: SshHost, tmp: Path) -> dict[str, tuple[str, str]]:
    # the host's files as a disk image would hold them: docker export (no /proc)
    root = tmp / "root"
    root.mkdir()
    export = subprocess.Popen(
        ["docker", "export", h.container], env=lab.env, stdout=subprocess.PIPE
    )
    untar = subprocess.run(
        ["tar", "-x", "-C", str(root), "--exclude=proc/*", "--exclude=sys/*", "--exclude=dev/*"],
        stdin=export.stdout,
        capture_output=True,
        timeout=300,
    )
    assert export.wait(timeout=60) == 0 and untar.returncode == 0, untar.stderr
    # docker binds these three in: the export holds empty ones
    for name in ("hosts", "hostname", "resolv.conf"):
        (root / "etc" / name).write_text(h.exec(f"cat /etc/{name}"))
    r = hk("check", "--root", str(root), *PROFILE_ARGS, "-f", "json")
    assert r.returncode in (0, 1), r.stderr
    return _statuses(json.loads(r.stdout))


def test_local_ssh_snapshot_and_root_agree(lab: Lab, host: SshHost, tmp_path: Path) -> None:
    local = _local(lab, host)
    remote = _remote(lab, host)
    snap = _snapshot(lab, host, tmp_path)
    root = _root(lab, host, tmp_path)
    assert set(local) == set(remote) == set(snap) == set(root)
    differ = {
        cid: {"local": local[cid], "ssh": remote[cid], "snapshot": snap[cid]}
        for cid in sorted(local)
        if not (local[cid][0] == remote[cid][0] == snap[cid][0])
    }
    assert differ == {}
    # under --root a check agrees, or what it could not judge (it needs a running
    # system) is skipped and says so: in its message or a finding's
    for cid, (status, message) in root.items():
        if status != local[cid][0]:
            assert "sysroot" in message or "running system" in message, (cid, status, message)
    # the audit judged something real: the guide's host fails its known checks
    assert local["docker.daemon_json"][0] == "fail"
    assert local["limits.pam"][0] == "fail"


#: on the machine running the tests, what other tests start and stop meanwhile
#: (private dockerds, registries, listeners) may change between two runs
MOVING = {"limits.dockerd", "ports.harbor", "ports.all", "hardware.disk"}


def test_this_machine_local_snapshot_and_root_agree(tmp_path: Path) -> None:
    """The same on the machine running the tests: local, a snapshot of it made
    by the printed collector, and --root /."""
    local = hk("check", *PROFILE_ARGS, "-f", "json")
    snapped = hk(
        "check", "--snapshot", str(_collect(tmp_path, *PROFILE_ARGS)), *PROFILE_ARGS, "-f", "json"
    )
    root = hk("check", "--root", "/", *PROFILE_ARGS, "-f", "json")
    for r in (local, snapped, root):
        assert r.returncode in (0, 1), r.stderr
    a, b, c = (_statuses(json.loads(r.stdout)) for r in (local, snapped, root))
    b = {k: v for k, v in b.items() if k in a}  # a lone snapshot's cluster section aside
    assert set(a) == set(b) == set(c)
    differ = {k: (a[k], b[k]) for k in a if k not in MOVING and a[k][0] != b[k][0]}
    assert differ == {}
    for cid, (status, message) in c.items():
        if cid not in MOVING and status != a[cid][0]:
            assert "sysroot" in message or "running system" in message, (cid, status, message)


def _collect(tmp: Path, *args: str) -> Path:
    """A snapshot of this machine made by ``harborkit collect --script ARGS``."""
    script = hk("collect", "--script", *args)
    assert script.returncode == 0, script.stderr
    snap = tmp / f"me{len(args)}.hksnap"
    with open(snap, "wb") as out:
        run = subprocess.run(["sh", "-s"], input=script.stdout.encode(), stdout=out, timeout=120)
    assert run.returncode == 0
    return snap


def test_a_fact_the_collector_was_not_made_for_names_how_to_make_it_again(
    tmp_path: Path,
) -> None:
    """A node name that is in no hosts file: the collector made without --node
    did not look it up, and the skip says how to make it again."""
    snap = _collect(tmp_path)
    r = hk("check", "--snapshot", str(snap), "--node", "hk-nowhere-node=10.0.0.9", "-f", "json",
           "--only", "network.nodes")  # fmt: skip
    assert r.returncode in (0, 1), r.stderr
    ((status, message),) = [
        v for k, v in _statuses(json.loads(r.stdout)).items() if k == "network.nodes"
    ]
    assert status == "skip"
    assert message == (
        f"the snapshot from {snap} has no name lookup of hk-nowhere-node (the collector did not "
        "gather it; make it again with harborkit collect --script and this run's --profile, "
        "--node, --install-dir and --harbor-config)"
    )
