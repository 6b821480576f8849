"""Carried snapshots: the collector on three shells and on a BusyBox-only host,
and every way a snapshot can be bad."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from harborkit.collect import script
from harborkit.collect.snapshot import parse
from harborkit.engine.profile import load_profile
from harborkit.engine.wants import wants_for
from harborkit.errors import ExitCode
from harborkit.host import LocalHost
from harborkit.host.snapshot import SnapshotHost
from tests.remote.conftest import FIXTURES, Lab, hk, host_results, verdicts
from tests.remote.test_ssh import FILE_CHECKS

SHELLS = {"dash": ["dash"], "bash --posix": ["bash", "--posix"], "busybox sh": ["busybox", "sh"]}


def collect_with(shell: list[str], text: str | None = None) -> bytes:
    text = text if text is not None else script(wants_for(load_profile(None).data))
    r = subprocess.run([*shell, "-s"], input=text.encode(), capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    return r.stdout


@pytest.fixture(scope="module")
def local_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snap") / "local.hksnap"
    path.write_bytes(collect_with(["dash"]))
    return path


@pytest.mark.parametrize("shell", list(SHELLS))
def test_collector_runs_on_each_posix_shell(shell: str) -> None:
    snap = parse(collect_with(SHELLS[shell]), shell)
    host, local = SnapshotHost(snap), LocalHost()
    assert host.hostname() == local.hostname()
    assert host.cpu_count() == local.cpu_count()
    assert host.memory_bytes() == local.memory_bytes()
    assert host.read_text("/etc/hosts") == local.read_text("/etc/hosts")
    assert host.read_text("/proc/sys/vm/swappiness") == local.read_text("/proc/sys/vm/swappiness")
    assert host.glob("/etc/sysctl.d/*.conf") == local.glob("/etc/sysctl.d/*.conf")
    assert host.which("docker") == local.which("docker")
    assert host.resolve(local.hostname()) == local.resolve(local.hostname())
    assert host.exists("/etc/security/limits.conf") == local.exists("/etc/security/limits.conf")


def _execs(shell: list[str], text: str, cwd: Path) -> tuple[bytes, list[str]]:
    """The snapshot and the programs the collector started (strace -f of execve)."""
    trace = cwd / "trace.txt"
    r = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(trace), *shell, "-s"],
        input=text.encode(),
        capture_output=True,
        timeout=120,
        cwd=cwd,
    )
    assert r.returncode == 0, r.stderr
    # (a call another process interrupted ends on a "<... execve resumed>" line)
    lines = trace.read_text().splitlines()
    started = [ln for ln in lines if "execve" in ln and ln.rstrip().endswith("= 0")]
    return r.stdout, started


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
@pytest.mark.parametrize("shell", list(SHELLS))
def test_the_collector_starts_no_process_per_listing(shell: str, tmp_path: Path) -> None:
    """A listing, a df's answer, a /proc copy or a command's output costs no wc
    and cat of its own (each fork and exec is about 1 ms of a host's CPU): they
    are read in batches at the end, so 40 listings start no more processes than
    2, 40 df's 38 more than 2 (the df itself), and every one is in the
    snapshot, exact."""
    counts = {}
    for n in (2, 40):
        root = tmp_path / f"r{n}"
        for i in range(n):
            (root / f"d{i}").mkdir(parents=True)
            (root / f"d{i}" / f"f{i}.conf").write_text(f"x{i}\n")
        procs = ["/proc/meminfo", "/proc/cpuinfo", "/proc/self/status", "/proc/version"]
        wants = [f"l {root}/d{i}" for i in range(n)]
        wants += [f"f {p}" for p in procs]
        wants += [f"s {root}/d{i}/absent" for i in range(n)]
        # folders with one nearest existing folder: one df answers them all
        wants += [f"s {root}/d0/absent{i}/x" for i in range(n)]
        wants += ["c echo hi", "k -", "P -"]
        data, started = _execs(SHELLS[shell], script(wants), tmp_path)
        snap = parse(data, shell)
        for i in range(n):
            assert snap.listings[f"{root}/d{i}"] == [f"f{i}.conf"]
            assert snap.facts[f"df:{root}/d{i}/absent"].startswith(f"{root}/d{i}\0Filesystem")
            one = snap.facts[f"df:{root}/d0/absent0/x"]
            assert one.startswith(f"{root}/d0\0Filesystem") and one.endswith("\n")
            assert snap.facts[f"df:{root}/d0/absent{i}/x"] == one
        assert all(snap.files[p] for p in procs)
        assert snap.files["/proc/version"] == Path("/proc/version").read_bytes()
        assert snap.commands["echo hi"].stdout == b"hi\n"
        assert snap.processes and "sockets" in snap.facts
        counts[n] = len(started)
    # one df per nearest folder asked about is all that grows (BusyBox runs
    # its own df without an exec)
    assert 0 <= counts[40] - counts[2] <= 38, counts


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
@pytest.mark.parametrize(
    ("name", "rc", "more"),
    # names that resolve (addresses: the same on any host): one getent for all;
    # names that do not: then one getent each, in one shell
    [("127.0.0.{i}", 0, 0), ("node{i:02d}", 2, 58)],
    ids=["resolved", "not-resolved"],
)
def test_name_lookups_cost_one_process(name: str, rc: int, more: int, tmp_path: Path) -> None:
    """Each host of a fleet resolves every host's name: when all resolve, 60
    names cost no process more than 2 do (one getent asks about all); when
    they do not, 58 more (one getent each, not a timeout and a getent)."""
    counts = {}
    for n in (2, 60):
        names = [name.format(i=i + 1) for i in range(n)]
        data, started = _execs(["dash"], script([f"h {x}" for x in names]), tmp_path)
        snap = parse(data, "dash")
        assert sorted(snap.commands) == sorted(f"getent ahosts {x}" for x in names)
        assert {c.rc for c in snap.commands.values()} == {rc}
        counts[n] = len(started)
    assert counts[60] - counts[2] == more, counts


def test_collector_uses_no_bash_isms() -> None:
    text = (Path(__file__).resolve().parents[2] / "harborkit/collect/collect.sh").read_text()
    r = subprocess.run(["dash", "-n"], input=text.encode(), capture_output=True)
    assert r.returncode == 0, r.stderr
    for bashism in ("[[ ", " ]]", "function ", "local ", "$'", "<<<", "${!", "source "):
        assert bashism not in text, bashism


def test_collect_script_is_the_collector() -> None:
    r = hk("collect", "--script")
    assert r.returncode == 0
    assert r.stdout.startswith("#!/bin/sh\n")
    assert "\nf 1\np/etc/hosts\n" in r.stdout
    assert "@HK_" not in r.stdout


def _resealed(body: bytes) -> bytes:
    return body + b"HKSNAP-END " + hashlib.sha256(body).hexdigest().encode() + b"\n"


def test_truncated_snapshot(local_snapshot: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.hksnap"
    data = local_snapshot.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    r = hk("check", "--snapshot", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert r.stderr.strip() == (
        f"harborkit: error: {bad}: truncated: the snapshot ends after {len(data) // 2} bytes "
        "without its HKSNAP-END checksum line (cut short while collecting or copying)"
    )
    assert r.stdout == "" or "cut" in r.stdout


def test_edited_snapshot(local_snapshot: Path, tmp_path: Path) -> None:
    data = local_snapshot.read_bytes()
    i = data.index(b"F ")
    bad = tmp_path / "edited.hksnap"
    bad.write_bytes(data[:i] + b"F" + data[i + 1 :].replace(b"localhost", b"localhosT", 1))
    r = hk("check", "--snapshot", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith(
        f"harborkit: error: {bad}: checksum mismatch: the snapshot was edited or damaged "
        "after it was written (recorded sha256 "
    ), line


def test_snapshot_from_a_newer_harborkit(local_snapshot: Path, tmp_path: Path) -> None:
    data = local_snapshot.read_bytes()
    body = data[: data.rindex(b"HKSNAP-END ")]
    body = b"HKSNAP 3 9.0.0" + body[body.index(b"\n") :]
    new = tmp_path / "new.hksnap"
    new.write_bytes(_resealed(body))
    r = hk("check", "--snapshot", str(new))
    assert r.returncode == ExitCode.USAGE
    assert r.stderr.strip().splitlines()[-1] == (
        f"harborkit: error: {new}: snapshot format 3 from collector 9.0.0 is newer than this "
        "harborkit 0.1.0 reads (format 2): upgrade harborkit"
    )


def test_not_a_snapshot(tmp_path: Path) -> None:
    bad = tmp_path / "notes.hksnap"
    bad.write_text("hello\n")
    r = hk("check", "--snapshot", str(bad))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert r.stderr.strip().splitlines()[-1] == (
        f"harborkit: error: {bad}: not a harborkit snapshot (no HKSNAP header)"
    )


def test_missing_snapshot_path(tmp_path: Path) -> None:
    r = hk("check", "--snapshot", str(tmp_path / "nope"))
    assert r.returncode == ExitCode.USAGE
    assert (
        r.stderr.strip()
        == f"harborkit: error: --snapshot {tmp_path / 'nope'}: no such file or folder"
    )


def test_base64_snapshot_reads_the_same(local_snapshot: Path, tmp_path: Path) -> None:
    import base64

    b64 = tmp_path / "b64.hksnap"
    b64.write_bytes(base64.encodebytes(local_snapshot.read_bytes()))
    a = hk("check", "--snapshot", str(local_snapshot), "-f", "json", "--only", "kernel")
    b = hk("check", "--snapshot", str(b64), "-f", "json", "--only", "kernel")
    assert a.returncode == b.returncode
    assert verdicts(a.stdout) == verdicts(b.stdout)


def test_a_fact_the_collector_did_not_gather_is_not_available(tmp_path: Path) -> None:
    # a collector asked for /etc/hosts only: the other checks cannot be judged
    snap = tmp_path / "thin.hksnap"
    snap.write_bytes(
        collect_with(["dash"], script(["f /etc/hosts", "f /proc/sys/kernel/hostname"]))
    )
    r = hk("check", "--snapshot", str(snap), "--only", "sysctl.persisted", "-f", "json")
    assert r.returncode == ExitCode.OK, r.stderr
    result = host_results(r.stdout)[0]
    assert result["status"] == "skip"
    assert result["message"].startswith(f"the snapshot from {snap} has no ")
    assert result["message"].endswith(
        "(the collector did not gather it; make it again with harborkit collect --script and this run's --profile, --node, --install-dir and --harbor-config)"
    )


# ---- a host with BusyBox only (no coreutils, no getent, no bash, no Python)


def busybox_image(lab: Lab, fixture: Path) -> str:
    """An image of /bin/busybox, its applets and a fixture sysroot's files."""
    buf = io.BytesIO()
    applets = subprocess.run(["busybox", "--list"], capture_output=True, text=True).stdout.split()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(
            fixture,
            arcname=".",
            filter=lambda ti: None if ti.name.startswith(("./proc", "./sys")) else ti,
        )
        tf.add("/usr/bin/busybox", arcname="bin/busybox")
        for name in applets:
            if name == "busybox":
                continue
            ti = tarfile.TarInfo(f"bin/{name}")
            ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
            tf.addfile(ti)
        for d in ("tmp", "proc", "sys", "dev"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tf.addfile(ti)
    tag = "hk-busybox-host:1"
    subprocess.run(
        ["docker", "import", "-", tag],
        input=buf.getvalue(),
        env=lab.env,
        check=True,
        capture_output=True,
    )
    return tag


def test_busybox_only_host_same_verdicts_as_root(lab: Lab, tmp_path: Path) -> None:
    fixture = FIXTURES / "guide-as-written"
    image = busybox_image(lab, fixture)
    text = hk("collect", "--script", "--install-dir", "/opt/harbor").stdout
    r = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--hostname",
            "server58",
            "-v",
            f"{fixture}/etc/hosts:/etc/hosts:ro",
            image,
            "/bin/sh",
            "-s",
        ],
        input=text.encode(),
        capture_output=True,
        env=lab.env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    snap = tmp_path / "server58.hksnap"
    snap.write_bytes(r.stdout)
    host = SnapshotHost(parse(r.stdout, "bb"))
    assert host.which("systemctl") is None
    assert host.run(["getent", "ahosts", "server58"]).rc == 127  # BusyBox has no getent
    assert host.resolve("server59") == ["192.168.3.59"]  # so /etc/hosts answers
    opts = ("--install-dir", "/opt/harbor", "-f", "json")
    by_snap = verdicts(hk("check", "--snapshot", str(snap), *opts).stdout)["server58"]
    by_root = verdicts(hk("check", "--root", str(fixture), *opts).stdout)["server58"]
    assert {c: by_snap[c] for c in FILE_CHECKS} == {c: by_root[c] for c in FILE_CHECKS}
    assert by_snap["limits.pam"] == "fail"


def test_snapshot_folder_keeps_the_good_ones(lab: Lab, tmp_path: Path) -> None:
    text = hk("collect", "--script").stdout.encode()
    for h in (lab.guide, lab.compliant):
        (tmp_path / f"{h.name}.hksnap").write_bytes(h.exec("exec /bin/sh -s", input=text, raw=True))
    data = (tmp_path / "server59.hksnap").read_bytes()
    (tmp_path / "server60.hksnap").write_bytes(data[:-10])
    r = hk("check", "--snapshot", str(tmp_path), "-f", "json")
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .startswith(f"harborkit: error: {tmp_path / 'server60.hksnap'}: checksum mismatch")
        or "truncated" in r.stderr
    )
    v = verdicts(r.stdout)
    assert set(v) >= {"server58", "server59", "server60"}
    assert v["server60"] == {"host.reachable": "error"}
    assert v["server58"]["limits.pam"] == "fail"


def test_plugin_declared_reads_are_collected(tmp_path: Path) -> None:
    from harborkit.model.check import Check, CheckContext, Outcome, passed

    (tmp_path / "motd.d").mkdir()
    (tmp_path / "motd.d" / "10-harbor").write_text("Harbor lives here\n")

    class Motd(Check):
        id, title, group = "site.motd", "motd", "site"
        reads = (f"{tmp_path}/motd.d/*",)
        commands = (("uname", "-s"),)

        def run(self, ctx: CheckContext) -> Outcome:
            return passed("")

    wants = wants_for(load_profile(None).data, checks=[Motd])
    assert f"g {tmp_path}/motd.d/*" in wants
    assert "c uname -s" in wants and "w uname" in wants
    host = SnapshotHost(parse(collect_with(["dash"], script(wants)), "plugin"))
    assert host.glob(f"{tmp_path}/motd.d/*") == [f"{tmp_path}/motd.d/10-harbor"]
    assert host.read_text(f"{tmp_path}/motd.d/10-harbor") == "Harbor lives here\n"
    assert host.run(["uname", "-s"]).stdout == "Linux\n"


# --- labels (issue #25 item 5) -----------------------------------------------------


def _started(path: Path) -> str:
    from harborkit.engine.fleet import load_snapshot

    return str(load_snapshot(path).snapshot.facts["started"]).strip()


def test_a_snapshot_is_labelled_as_one(local_snapshot: Path, tmp_path: Path) -> None:
    """Its file and collection time, in the table and the HTML; never "live
    host"; one snapshot alone prints no cross-node rows (nothing to compare)."""
    import json

    name = json.loads(hk("check", "--snapshot", str(local_snapshot), "-f", "json").stdout)
    host = name["hosts"][0]["name"]
    label = f"snapshot local.hksnap, collected {_started(local_snapshot)}"
    r = hk("check", "--snapshot", str(local_snapshot))
    lines = r.stdout.splitlines()
    assert lines[0] == f"harborkit check: {host} ({label}), profile harbor-v1.8.0"
    assert "live host" not in r.stdout and "(unreachable)" not in r.stdout
    assert not any(ln.split()[1:2] and ln.split()[1].startswith("cluster.") for ln in lines[1:])
    v = hk("check", "--snapshot", str(local_snapshot), "-v")
    assert "live host" not in v.stdout
    page = hk("check", "--snapshot", str(local_snapshot), "-f", "html").stdout
    assert f'<p class="meta">{label}, ' in page and "live host" not in page
    # the JSON is the same document as before: "live" as the snapshot recorded it
    assert name["hosts"][0]["report"]["live"] is True


@pytest.mark.parametrize("damage", ["truncated", "edited"])
def test_an_unusable_snapshot_says_what_is_wrong_not_ssh(
    local_snapshot: Path, tmp_path: Path, damage: str
) -> None:
    data = local_snapshot.read_bytes()
    (tmp_path / "good.hksnap").write_bytes(data)
    bad = tmp_path / "zbad.hksnap"
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    else:
        i = data.index(b"F ")
        bad.write_bytes(data[:i] + b"G" + data[i + 1 :])
    r = hk("check", "--snapshot", str(tmp_path))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    why = {"truncated": "truncated: ", "edited": "checksum mismatch: "}[damage]
    assert r.stderr.strip().splitlines()[-1].startswith(f"harborkit: error: {bad}: {why}")
    flat = " ".join(r.stdout.split())
    assert "  zbad (unusable snapshot): FAILED: 1 check: 1 error" in r.stdout
    assert "(unreachable)" not in r.stdout
    assert "SSH access" not in r.stdout
    assert "fix: Make a new snapshot on the host (harborkit collect --script, run with sh)" in flat
    page = hk("check", "--snapshot", str(tmp_path), "-f", "html").stdout
    assert "NOT AUDITED" in page and "SSH access" not in page
