"""A hostile host, file name, option or snapshot against the collector and the
snapshot reader (issue 18, classes 1, 2, 4, 5 and 14).

The collector runs for real with dash, bash --posix and BusyBox sh on this
machine (on folders of a temporary directory), and over SSH on a real sshd host
of the lab whose files are hostile; snapshots are crafted byte by byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harborkit.collect import script
from harborkit.collect.snapshot import MAX_SNAPSHOT_BYTES, parse
from harborkit.errors import ExitCode
from harborkit.fsutil import MAX_FILE_BYTES
from harborkit.host import LocalHost, SysrootHost
from harborkit.host.interface import NotAvailable, UnreadableFile
from harborkit.host.snapshot import SnapshotHost
from tests.remote.conftest import FIXTURES, HK, Lab, hk, host_results
from tests.support.sshhost import ADMIN, SshHost, start_host

SHELLS = {"dash": ["dash"], "bash": ["bash", "--posix"], "busybox": ["busybox", "sh"]}

#: names that a shell would take for code, a record separator or a pattern
HOSTILE_NAMES = (
    "a;touch CANARY",
    "$(touch CANARY)",
    "`touch CANARY`",
    "x${IFS}y;touch${IFS}CANARY",
    'it\'s "quoted" \\ back',
    "new\nline\nf /etc/shadow",
    "new\nc touch CANARY",
    "HK_WANTS_END\ntouch CANARY\n",
    "trailing space ",
    " leading space",
    "-rf",
    "--",
    "*",
    "[a-z]?",
    "tab\there",
    "%s%n%d\\101",
    "\\012octal",
    "caf\u00e9 \udcff",  # UTF-8 and a byte that is no UTF-8
    "T 4 1\nx\n",  # a record header of the snapshot format
)


def collect(shell: str, wants: list[str], cwd: Path) -> bytes:
    r = subprocess.run(
        [*SHELLS[shell], "-s"],
        input=script(wants).encode(),
        capture_output=True,
        timeout=120,
        cwd=cwd,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    return r.stdout


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Iterator[tuple[Path, Path, list[Path]]]:
    """A folder holding one file and one folder (with a file) per hostile name;
    the canary is a file that appears only if some name ran as code."""
    root = tmp_path / "tree"
    root.mkdir()
    canary = root / "hk-canary"  # the collector runs in root: "touch hk-canary" lands here
    made = []
    for i, name in enumerate(HOSTILE_NAMES):
        fname = name.replace("CANARY", canary.name).replace("/", "_")
        p = root / fname
        p.write_bytes(f"content {i}\n".encode())
        d = root / ("d" + fname)
        d.mkdir()
        (d / "inner.conf").write_bytes(f"inner {i}\n".encode())
        made.append(p)
    yield root, canary, made
    assert not canary.exists()


@pytest.mark.parametrize("shell", list(SHELLS))
def test_hostile_paths_are_data_for_every_kind_of_want(
    shell: str, hostile_tree: tuple[Path, Path, list[Path]]
) -> None:
    root, canary, made = hostile_tree
    wants = []
    for p in made:
        path = os.fsdecode(p)
        d = os.fsdecode(p.parent / ("d" + p.name))
        wants += [
            f"f {path}",
            f"e {path}",
            f"l {d}",
            f"d {d}",
            f"g {d}/*.conf",
            f"s {path}/nope",
            f"y {path}",
            f"w {p.name}",
            f"p {p.name}",
            f"h {p.name}",
            "c " + shlex.join(["cat", path]),
            "c " + shlex.join(["test", "-f", path]),
        ]
    snap = parse(collect(shell, wants, root), shell)
    host = SnapshotHost(snap)
    for i, p in enumerate(made):
        path = os.fsdecode(p)
        d = os.fsdecode(p.parent / ("d" + p.name))
        assert host.read_text(path) == f"content {i}\n", path
        assert host.listdir(d) == ["inner.conf"], d
        # a pattern stays a pattern (the name "*" matches every folder), as locally
        assert host.glob(f"{d}/*.conf") == LocalHost().glob(f"{d}/*.conf")
        assert host.read_text(f"{d}/inner.conf") == f"inner {i}\n"
        assert host.run(["cat", path]).stdout == f"content {i}\n"
        assert host.run(["test", "-f", path]).rc == 0
        assert host.which(p.name) is None
        assert host.disk_free(f"{path}/nope")[0] == path
    # the folder's listing holds every name exactly, and nothing else
    assert sorted(host.listdir(os.fsdecode(root))) == sorted(
        [os.fsdecode(p.name) for p in made] + ["d" + os.fsdecode(p.name) for p in made]
    )
    assert not canary.exists()


@pytest.mark.parametrize("shell", list(SHELLS))
def test_hostile_harbor_yml_values_are_data(shell: str, tmp_path: Path) -> None:
    """data_volume and log location read from harbor.yml by the collector itself."""
    canary = tmp_path / "canary"
    values = [
        f"/tmp/a;touch{{IFS}}{canary}".replace("{IFS}", "${IFS}"),
        f"/tmp/$(touch {canary})",
        f"/tmp/`touch {canary}`",
        f"/tmp/x -o -w /; touch {canary}",
        f"{tmp_path}/*",
        f"{tmp_path}/it'\"s",
    ]
    for i, v in enumerate(values):
        yml = tmp_path / f"harbor{i}.yml"
        yml.write_text(f"hostname: h\ndata_volume: {v}\nlog:\n  local:\n    location: {v}/log\n")
        host = SnapshotHost(parse(collect(shell, [f"y {yml}"], tmp_path), shell))
        # the nearest existing parent is recorded, and its writability, under the
        # command line harborkit asks for
        parent = str(tmp_path) if v.startswith(str(tmp_path)) else "/tmp"
        assert host.run(["test", "-w", parent]).rc == 0, v
        assert host.exists(v) is False
        assert host.disk_free(v)[0] == parent
    assert not canary.exists()


@pytest.mark.parametrize("case", ["many", "deep", "huge"])
def test_a_harbor_yml_cannot_hold_the_collector(tmp_path: Path, case: str) -> None:
    """Every "location:" line cost a df and a walk up to /, and the walk searched
    every path handled before: 100,000 lines, one value of 1,000,000 parts, or a
    file over the limit (which no reader judges) held the collector for hours.
    The first 8 values are gathered, a file over the limit is not looked into."""
    import time

    yml = tmp_path / "harbor.yml"
    head = f"hostname: h\ndata_volume: {tmp_path}/data\n"
    if case == "many":
        body = "".join(f"  location: /srv/x{i}/log\n" for i in range(100_000))
    elif case == "deep":
        body = "  location: " + "/a" * 1_000_000 + "\n"
    else:
        body = "# " + "p" * MAX_FILE_BYTES + "\n  location: /srv/log\n"
    yml.write_text(head + body)
    start = time.monotonic()
    snap = parse(collect("dash", [f"y {yml}"], tmp_path), "yml")
    assert time.monotonic() - start < 30
    host = SnapshotHost(snap)
    if case == "huge":
        assert str(yml) in snap.too_large
        assert not [k for k in snap.facts if k.startswith("df:")]
        return
    assert host.disk_free(f"{tmp_path}/data")[0] == str(tmp_path)
    dfs = [k for k in snap.facts if k.startswith("df:")]
    assert len(dfs) == (8 if case == "many" else 1), dfs


def test_a_want_with_a_nul_byte_or_an_option_as_program_is_dropped(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = script(
        [
            "f /etc/hosts\0x",
            f"c -c touch {canary}",
            "c 'unclosed",
            "Q /etc/hosts",
            "s relative/never/found",  # no nearest folder: not an endless walk up
            "s -P",
        ]
    )
    assert "\0" not in text
    # whatever the names hold (a byte that is no UTF-8), the script is ASCII
    assert script(["f /x\udcff\u00e9\x1b", "c ls /\u00e9"]).isascii()
    r = subprocess.run(["dash", "-s"], input=text.encode(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    host = SnapshotHost(parse(r.stdout, "x"))
    assert host.snapshot.files == {}
    assert host.snapshot.commands == {}
    assert host.snapshot.facts.keys() == {"started", "epoch", "clock", "uid", "user", "nproc"}
    assert not canary.exists()


def test_the_collector_quotes_test_w_as_shlex_does(tmp_path: Path) -> None:
    """The writability the collector records is found under harborkit's key."""
    names = ["plain", "sp ace", "it's", "a'b'c", "'", "dollar$x", "é", "x\ny", "-dash"]
    ymls = []
    for i, n in enumerate(names):
        d = tmp_path / n
        d.mkdir()
        yml = tmp_path / f"h{i}.yml"
        yml.write_bytes(f"data_volume: {d}/data\n".encode())
        ymls.append(f"y {yml}")
    for shell in SHELLS:
        snap = parse(collect(shell, ymls, tmp_path), shell)
        for n in names:
            if "\n" in n:  # harbor.yml holds no newline on one line: nothing to find
                continue
            key = shlex.join(["test", "-w", f"{tmp_path}/{n}"])
            assert key in snap.commands, (shell, key, sorted(snap.commands))
            assert snap.commands[key].rc == 0


# ---- class 2: names framed, compared exactly


#: the tools the collector itself runs (and the few it asks about)
_TOOLS = [
    "wc",
    "cat",
    "head",
    "sed",
    "date",
    "sha256sum",
    "openssl",
    "mktemp",
    "id",
    "nproc",
    "grep",
    "ls",
    "df",
    "readlink",
    "timeout",
    "rm",
    "mv",
    "mkdir",
    "getent",
    "printf",
    "test",
    "echo",
]


@pytest.mark.parametrize("shell", list(SHELLS))
@pytest.mark.parametrize("path", ["", ".", "evil", ":/usr/bin:/bin", "/usr/bin::/bin", "EVIL"])
def test_hostile_tools_on_path_are_not_the_collectors(
    tmp_path: Path, shell: str, path: str
) -> None:
    """A PATH that is empty or has an empty or relative entry names the current
    folder (PATH="" became ":/usr/local/sbin:...": a wc there ran); a PATH whose
    first folder is writable by others (EVIL: its absolute path) holds lying
    tools. The collector's own tools come from the system's folders; the
    host's PATH only finds what is asked about (w, c)."""
    cwd = tmp_path / "cwd"
    evil = cwd / "evil"
    evil.mkdir(parents=True)
    canary = tmp_path / "hk-canary"
    for d in (cwd, evil):
        for tool in _TOOLS:
            t = d / tool
            t.write_text(f'#!/bin/sh\necho 999999999\necho "$0 $*" >> {canary}\nexit 0\n')
            t.chmod(0o755)
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "a.conf").write_bytes(b"vm.max_map_count = 262144\n")
    path = path.replace("EVIL", str(evil))
    r = subprocess.run(
        ["env", "-i", f"PATH={path}", *(shutil.which(SHELLS[shell][0]), *SHELLS[shell][1:]), "-s"],
        input=script([f"d {conf}", "c uname -s", "w uname"]).encode(),
        capture_output=True,
        timeout=120,
        cwd=cwd,
    )
    assert not canary.exists(), canary.read_text()
    assert r.returncode == 0, r.stderr
    snap = parse(r.stdout, "p")
    assert snap.files[f"{conf}/a.conf"] == b"vm.max_map_count = 262144\n"
    assert snap.commands["uname -s"].stdout == b"Linux\n"
    assert snap.which["uname"] in ("/usr/bin/uname", "/bin/uname")
    assert snap.facts["nproc"].strip() == str(len(os.sched_getaffinity(0)))


def test_a_folder_of_20000_files_is_collected_in_linear_time(tmp_path: Path) -> None:
    """The handled paths and the files to read were shell strings searched and
    copied whole for every path: 20,000 files in /etc/sysctl.d took 160 s with
    dash, 100,000 hours (and one wc of them all is too long an argument list).
    Now about 13 s here; names of 255 bytes and with newlines among them."""
    import time

    d = tmp_path / "sysctl.d"
    d.mkdir()
    for i in range(20_000):
        (d / f"{i:06d}-some-longer-name.conf").write_bytes(f"k{i} = {i}\n".encode())
    (d / ("n" * 250 + ".conf")).write_bytes(b"long = 1\n")
    (d / "new\nline.conf").write_bytes(b"nl = 1\n")
    start = time.monotonic()
    data = collect("dash", [f"d {d}", f"f {d}/000007-some-longer-name.conf"], tmp_path)
    took = time.monotonic() - start
    snap = parse(data, "many")
    assert len(snap.listings[str(d)]) == 20_002
    assert snap.files[f"{d}/{'n' * 250}.conf"] == b"long = 1\n"
    assert snap.files[f"{d}/new\nline.conf"] == b"nl = 1\n"
    for i in (0, 7, 499, 500, 501, 12_345, 19_999):
        assert snap.files[f"{d}/{i:06d}-some-longer-name.conf"] == f"k{i} = {i}\n".encode()
    assert len(snap.files) == 20_002
    assert took < 60, took


@pytest.mark.parametrize("shell", list(SHELLS))
@pytest.mark.parametrize("part", ["link", "dangling", "file", "dir"])
def test_o_file_never_writes_through_what_another_user_left_beside_it(
    tmp_path: Path, shell: str, part: str
) -> None:
    """``sh collect.sh -o /tmp/x.hksnap`` as root wrote FILE.part as it found it:
    through a link another user left there (to any file of the host), or into
    their own file (they read harbor.yml's passwords from it)."""
    drop = tmp_path / "drop"
    drop.mkdir()
    drop.chmod(0o777)  # world-writable, no sticky bit (as the kernel protects none here)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me\n")
    dest = drop / "host.hksnap"
    pre = drop / "host.hksnap.part"
    if part == "link":
        pre.symlink_to(victim)
    elif part == "dangling":
        pre.symlink_to(tmp_path / "made-by-root")
    elif part == "file":
        pre.write_bytes(b"")
        os.chown(pre, 1234, 1234)
        pre.chmod(0o666)
    else:
        dest.mkdir()
    r = subprocess.run(
        [*SHELLS[shell], "-s", "--", "-o", str(dest)],
        input=script([f"f {victim}"]).encode(),
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert victim.read_bytes() == b"keep me\n"
    assert not (tmp_path / "made-by-root").exists()
    if part == "dir":
        assert (r.returncode, r.stderr) == (
            3,
            f"harborkit collector: cannot write {dest}\n".encode(),
        )
        assert list(dest.iterdir()) == []
        return
    assert (r.returncode, r.stderr, r.stdout) == (0, b"", b"")
    assert parse(dest.read_bytes(), "o").files[str(victim)] == b"keep me\n"
    assert dest.stat().st_mode & 0o777 == 0o600
    if part == "file":
        assert pre.read_bytes() == b""
    assert sorted(p.name for p in drop.iterdir()) == ["host.hksnap", "host.hksnap.part"]


def test_names_cannot_forge_records(tmp_path: Path) -> None:
    """File names shaped like records, a trailing space, newlines: each is only a
    name; the CPU count and the files' bytes stay the true ones."""
    d = tmp_path / "sysctl.d"
    d.mkdir()
    (d / "90-harbor.conf").write_text("vm.swappiness = 10\n")
    forged = [
        "90-harbor.conf ",  # systemd-sysctl ignores it: not *.conf
        "x.conf\nK 5 1\nnproc8\n",
        "y.conf\nT 1 1\nxf\nF 1 3\nx60\n",
        "\n".join(["z"] * 50) + ".conf",
    ]
    for n in forged:
        (d / n).write_text("vm.swappiness = 60\n")
    wants = [f"d {d}", f"g {d}/*.conf", "h -"]
    for shell in SHELLS:
        snap = parse(collect(shell, wants, tmp_path), shell)
        host = SnapshotHost(snap)
        assert host.cpu_count() == LocalHost().cpu_count()
        assert sorted(host.listdir(str(d))) == sorted(os.listdir(d))
        assert host.glob(f"{d}/*.conf") == LocalHost().glob(f"{d}/*.conf")
        assert host.read_text(f"{d}/90-harbor.conf") == "vm.swappiness = 10\n"
        for n in forged:
            assert host.read_text(f"{d}/{n}") == "vm.swappiness = 60\n", n


def test_a_size_is_never_lent_to_another_file(tmp_path: Path) -> None:
    """The batch takes each size from the line of wc that names the file
    exactly: twins with a trailing space, files wc cannot read (drop_caches is
    write-only) and sizes that would cancel out leave every file its own bytes."""
    d = tmp_path / "conf.d"
    d.mkdir()
    contents = {
        "a ": b"x" * 7,
        "a": b"yyy",
        "b  ": b"z",
        "b": b"wwwwwwwww",
        "c\t": b"",
        "c": b"vv",
        " 5 a": b"q" * 5,
    }
    for name, data in contents.items():
        (d / name).write_bytes(data)
    wants = [f"d {d}", "f /proc/sys/vm/drop_caches", "f /proc/sys/vm/swappiness"]
    for shell in SHELLS:
        host = SnapshotHost(parse(collect(shell, wants, tmp_path), shell))
        for name, data in contents.items():
            assert host.read_text(f"{d}/{name}") == data.decode(), (shell, name)
        assert host.read_text("/proc/sys/vm/swappiness") == LocalHost().read_text(
            "/proc/sys/vm/swappiness"
        )
        if os.geteuid() == 0:
            with pytest.raises(OSError):
                host.read_text("/proc/sys/vm/drop_caches")


# ---- class 5: the 4 MiB rule is the same on every transport


@pytest.mark.parametrize("size", [MAX_FILE_BYTES, MAX_FILE_BYTES + 1, 12 << 20])
def test_file_limit_is_the_same_locally_in_a_sysroot_and_in_a_snapshot(
    size: int, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "etc/sysctl.d").mkdir(parents=True)
    big = root / "etc/sysctl.d/50-big.conf"
    with big.open("wb") as f:
        f.write(b"# " + b"x" * (size - 3) + b"\n")
    (root / "proc").mkdir()
    path = str(big)
    wants = [f"f {path}", f"d {root}/etc/sysctl.d"]
    readers: dict[str, object] = {"local": LocalHost(), "sysroot": None}
    for shell in SHELLS:
        data = collect(shell, wants, tmp_path)
        assert len(data) < MAX_FILE_BYTES + (1 << 20)  # no more than the limit is sent
        readers[shell] = SnapshotHost(parse(data, shell))
    outcomes = {}
    for name, host in readers.items():
        try:
            if host is None:
                text = SysrootHost(root).read_text("/etc/sysctl.d/50-big.conf")
            else:
                text = host.read_text(path)  # type: ignore[attr-defined]
            outcomes[name] = ("read", len(text))
        except UnreadableFile as e:
            outcomes[name] = ("unreadable", e.reason)
    expected = (
        ("read", size)
        if size <= MAX_FILE_BYTES
        else ("unreadable", "is larger than 4 MiB, too large for a config file: not read")
    )
    assert outcomes == {name: expected for name in readers}


@pytest.mark.parametrize("shell", list(SHELLS))
def test_files_read_on_the_spot_keep_the_limit(shell: str, tmp_path: Path) -> None:
    """A file the collector copies as it goes (a name holding a newline, /proc,
    /sys: read with the batch of its own files at the end) keeps the 4 MiB
    limit: the limit is read, one byte more is not sent and says so."""
    root = tmp_path / "root"
    root.mkdir()
    at = root / "at\nlimit"
    at.write_bytes(b"a" * MAX_FILE_BYTES)
    over = root / "over\nlimit"
    over.write_bytes(b"o" * (MAX_FILE_BYTES + 1))
    small = root / "small\nfile"
    small.write_bytes(b"s\n")
    wants = [f"f {at}", f"f {over}", f"f {small}", "f /proc/version", f"l {root}"]
    data = collect(shell, wants, tmp_path)
    assert len(data) < 2 * MAX_FILE_BYTES + (1 << 20)  # the file over the limit is not sent
    host = SnapshotHost(parse(data, shell))
    assert host.read_bytes(str(at)) == b"a" * MAX_FILE_BYTES
    assert host.read_bytes(str(small)) == b"s\n"
    assert host.read_bytes("/proc/version") == Path("/proc/version").read_bytes()
    with pytest.raises(UnreadableFile) as e:
        host.read_bytes(str(over))
    assert e.value.reason == "is larger than 4 MiB, too large for a config file: not read"
    assert sorted(host.listdir(str(root))) == sorted(p.name for p in (at, over, small))


#: a getent that answers as glibc's does: each name's answer is its lines, the
#: canonical name on the first only; exit 2 when a name does not resolve. Each
#: call's names are logged (one line a call) to the file "calls" beside it.
_FAKE_GETENT = """#!/bin/sh
shift
echo "$*" >> "${0%/*}/calls"
rc=0
for n in "$@"; do
    case "$n" in hang*) sleep 4 ;; esac
    case "$n" in err*) echo "getent: $n is odd" >&2 ;; esac
    case "$n" in miss*) rc=2; continue ;; esac
    case "$n" in flood*) echo "10.0.0.9      STREAM $n"; yes '10.0.0.9      RAW    ' | head -n 200000; continue ;; esac
    printf '10.0.0.%s      STREAM %s\\n' "${#n}" "$n"
    case "$n" in
    multi*) printf '10.0.0.%s      DGRAM  \\n10.0.0.%s      RAW    \\n' "${#n}" "${#n}" ;;
    esac
done
exit $rc
"""


def _fake_answer(n: str) -> tuple[int, bytes, bytes]:
    """What the fake getent prints about ``n`` alone: (exit code, stdout, stderr)."""
    if n.startswith("hang"):
        return 124, b"", b""
    err = f"getent: {n} is odd\n".encode() if n.startswith("err") else b""
    if n.startswith("miss"):
        return 2, b"", err
    out = f"10.0.0.{len(n)}      STREAM {n}\n".encode()
    if n.startswith("multi"):
        out += f"10.0.0.{len(n)}      DGRAM  \n10.0.0.{len(n)}      RAW    \n".encode()
    return 0, out, err


def _lookups(
    shell: str, names: list[str], tmp_path: Path
) -> tuple[dict[str, tuple[int, bytes, bytes]], list[str], SnapshotHost]:
    """The collector asked about ``names`` under the fake getent (every deadline 2 s):
    each lookup's (exit code, stdout, stderr), the getent calls' names, and the host
    read from the snapshot."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "getent").write_text(_FAKE_GETENT)
    (bin_dir / "getent").chmod(0o755)
    (bin_dir / "calls").unlink(missing_ok=True)
    text = script([f"h {n}" for n in names])
    assert '"$hk_to" 10 getent ahosts "$@"' in text
    assert '"$hk_to" 20 "$hk_sh"' in text
    text = text.replace('"$hk_to" 20', '"$hk_to" 2').replace('"$hk_to" 10', '"$hk_to" 2')
    r = subprocess.run(
        [*SHELLS[shell], "-s"],
        input=text.encode(),
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    snap = parse(r.stdout, shell)
    got = {k: (v.rc, v.stdout, v.stderr) for k, v in snap.commands.items()}
    return got, (bin_dir / "calls").read_text().splitlines(), SnapshotHost(snap)


@pytest.mark.parametrize(
    ("names", "calls"),
    [
        # every name resolves: one getent for all, its answer split by name
        (["a1", "multi-x", "b-2.x", "multi2", "c3"], 1),
        # a name that does not resolve, one that hangs, one with an error: one
        # getent for all, then one each in one shell, then the cut ones alone
        (["a1", "miss1", "err1", "b-2.x", "hang1", "c3", "miss2"], None),
        # every name resolves but one prints an error: one by one
        (["multi1", "err1"], 3),
    ],
    ids=["all-resolve", "mixed", "stderr"],
)
@pytest.mark.parametrize("shell", list(SHELLS))
def test_name_lookups_read_as_one_by_one(
    shell: str, names: list[str], calls: int | None, tmp_path: Path
) -> None:
    """Every host of a fleet resolves every other host's name: one getent asks
    about all the names; when that cannot be split exactly by name the lookups
    run in one shell under one deadline (a getent each, no timeout each). Each
    reads exactly as a lookup of its own: output, errors, exit code; a lookup
    the shared deadline cut (and each after it) is made again alone, with its
    own deadline."""
    if "hang1" in names and shell != "dash":  # the deadline is shown once (it costs seconds)
        names = [n for n in names if n != "hang1"]
    got, logged, _ = _lookups(shell, names, tmp_path)
    assert got == {f"getent ahosts {n}": _fake_answer(n) for n in names}
    assert logged[0] == " ".join(names)  # all of them first, in one call
    if calls is not None:
        assert len(logged) == calls
    elif "hang1" in names:  # each in the shared shell up to the cut, then the cut ones alone
        cut = names.index("hang1")
        assert logged[1:] == names[: cut + 1] + names[cut:]
    else:  # then each in the shared shell
        assert logged[1:] == names


@pytest.mark.parametrize("shell", list(SHELLS))
def test_an_answer_over_the_limit_is_held_to_it(shell: str, tmp_path: Path) -> None:
    """A getent that answers with more than the limit (a hostile host's): the
    answer about all the names is not split line by line; the names are asked one
    by one, and each answer is held to the limit exactly as when it is asked alone."""
    both, logged, host = _lookups(shell, ["flood1", "a1"], tmp_path)
    alone, _, _ = _lookups(shell, ["flood1"], tmp_path)
    assert logged == ["flood1 a1", "flood1", "a1"]
    assert both == {**alone, "getent ahosts a1": _fake_answer("a1")}
    r = host.run(["getent", "ahosts", "flood1"])
    assert (r.rc, r.stdout, r.stderr) == (1, "", "getent: output larger than 4 MiB: not read")


def test_name_lookups_of_glibc_getent_read_as_one_by_one(tmp_path: Path) -> None:
    """The real getent (glibc): the answers split from one call for all the
    names are byte for byte those of a call for each name; with a name that
    does not resolve too, each still reads as its own call."""
    names = ["localhost", "127.0.0.1", "127.0.0.2", "127.0.1.9", "0.0.0.0", "ip6-localhost"]
    for asked in (names, [*names, "nosuch.invalid"]):
        for shell in SHELLS:
            snap = parse(collect(shell, [f"h {n}" for n in asked], tmp_path), shell)
            for n in asked:
                alone = subprocess.run(["getent", "ahosts", n], capture_output=True)
                c = snap.commands[f"getent ahosts {n}"]
                assert (c.rc, c.stdout, c.stderr) == (alone.returncode, alone.stdout, alone.stderr)
            assert snap.commands["getent ahosts localhost"].stdout.count(b"\n") >= 2


def test_command_output_over_the_limit_is_not_sent(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"y" * (MAX_FILE_BYTES + 1))
    small = tmp_path / "small"
    small.write_bytes(b"y" * MAX_FILE_BYTES)
    for shell in SHELLS:
        data = collect(shell, [f"c cat {big}", f"c cat {small}"], tmp_path)
        assert len(data) < MAX_FILE_BYTES + (1 << 20)
        host = SnapshotHost(parse(data, shell))
        r = host.run(["cat", str(big)])
        assert (r.rc, r.stdout, r.stderr) == (1, "", "cat: output larger than 4 MiB: not read")
        assert host.run(["cat", str(small)]).stdout == "y" * MAX_FILE_BYTES


# ---- class 4 and 14: snapshots that are not files, too large, or odd


def _reseal(body: bytes) -> bytes:
    return body + b"HKSNAP-END " + hashlib.sha256(body).hexdigest().encode() + b"\n"


def _rec(kind: str, name: str | bytes, data: bytes) -> bytes:
    n = name.encode() if isinstance(name, str) else name
    return f"{kind} {len(n)} {len(data)}\n".encode() + n + data + b"\n"


def _hk_measured(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], int]:
    """``harborkit`` in a child, and that child's peak RSS in MB."""
    code = (
        "import resource, subprocess, sys;"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
        "sys.exit(r.returncode)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, *HK, *args], capture_output=True, text=True, timeout=timeout
    )
    lines = r.stderr.strip().splitlines()
    peak = int(lines[-1]) // 1024
    r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout, "\n".join(lines[:-1]))
    return r, peak


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("path", "what"),
    [("/dev/zero", "a character device"), ("/dev/null", "a character device")],
)
def test_snapshot_that_is_a_device(path: str, what: str) -> None:
    r, peak = _hk_measured("check", "--snapshot", path)
    assert r.returncode == ExitCode.USAGE
    assert _one_line(r) == (
        f"harborkit: error: --snapshot {path}: is {what}, not a snapshot file: not read"
    )
    assert peak < 200


def test_snapshot_that_is_a_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "host.hksnap"
    os.mkfifo(fifo)
    r = hk("check", "--snapshot", str(fifo), timeout=60)
    assert r.returncode == ExitCode.USAGE
    assert _one_line(r) == (
        f"harborkit: error: --snapshot {fifo}: is a FIFO (named pipe), not a snapshot file: "
        "not read"
    )


def _good_snapshot(tmp_path: Path) -> bytes:
    return collect("dash", ["f /etc/hosts", "f /proc/sys/kernel/hostname", "h -"], tmp_path)


def test_a_fifo_or_device_link_in_a_snapshot_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "snaps"
    folder.mkdir()
    (folder / "good.hksnap").write_bytes(_good_snapshot(tmp_path))
    os.mkfifo(folder / "fifo.hksnap")
    (folder / "zero.hksnap").symlink_to("/dev/zero")
    (folder / "gone.hksnap").symlink_to(tmp_path / "nothing")
    r, peak = _hk_measured(
        "check", "--snapshot", str(folder), "-f", "json", "--only", "hardware.cpu"
    )
    assert peak < 200
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "Traceback" not in r.stderr
    lines = sorted(r.stderr.strip().splitlines())
    assert lines == [
        f"harborkit: error: --snapshot {folder}/fifo.hksnap: is a FIFO (named pipe), "
        "not a snapshot file: not read",
        f"harborkit: error: --snapshot {folder}/gone.hksnap: No such file or directory",
        f"harborkit: error: --snapshot {folder}/zero.hksnap: is a character device, "
        "not a snapshot file: not read",
    ]
    reports = {h["name"]: h for h in __import__("json").loads(r.stdout)["hosts"]}
    assert {"fifo", "zero", "gone"} <= set(reports)
    assert len(reports) == 4  # and the good one is judged


def test_a_snapshot_file_name_with_escapes_is_shown_printable(tmp_path: Path) -> None:
    folder = tmp_path / "snaps"
    folder.mkdir()
    (folder / "\x1b[2Jcut\n.hksnap").write_bytes(b"HKSNAP 2 0.1.0\nK 5 1\nnproc")
    r = hk("check", "--snapshot", str(folder))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert "\x1b" not in r.stderr
    assert _one_line(r) == (
        f"harborkit: error: {folder}/\\x1b[2Jcut\\x0a.hksnap: truncated: the snapshot ends "
        "after 26 bytes without its HKSNAP-END checksum line (cut short while collecting or "
        "copying)"
    )


def test_a_valid_but_huge_record_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.hksnap"
    size = 300 << 20
    head = b"HKSNAP 2 0.1.0\n" + f"K 5 {size}\n".encode() + b"nproc"
    sha = hashlib.sha256(head)
    with big.open("wb") as f:
        f.write(head)
        block = b"7" * (1 << 20)
        for _ in range(size >> 20):
            f.write(block)
            sha.update(block)
        sha.update(b"\n")
        f.write(b"\nHKSNAP-END " + sha.hexdigest().encode() + b"\n")
    r, peak = _hk_measured("check", "--snapshot", str(big))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert _one_line(r) == (
        f"harborkit: error: {big}: larger than {MAX_SNAPSHOT_BYTES >> 20} MiB: not a snapshot "
        "harborkit's collector writes (it sends no file over 4 MiB): not read"
    )
    assert peak < 200


@pytest.mark.parametrize("encode", [False, True])
def test_records_over_their_bound_are_refused_in_bounded_memory(
    tmp_path: Path, encode: bool
) -> None:
    """Under the whole-snapshot bound: a 20 MiB fact (and base64-encoded as the
    Ansible playbook stores it)."""
    body = b"HKSNAP 2 0.1.0\n" + _rec("K", "sockets", b"1" * (20 << 20))
    data = _reseal(body)
    if encode:
        data = base64.encodebytes(data)
    snap = tmp_path / "fact.hksnap"
    snap.write_bytes(data)
    r, peak = _hk_measured("check", "--snapshot", str(snap))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert _one_line(r) == (
        f"harborkit: error: {snap}: record K 'sockets' at byte 15 holds {20 << 20} bytes, "
        "more than the 16 MiB a record may have"
    )
    assert peak < 200


def test_a_snapshot_just_under_the_bound_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """Fifteen files of 4 MiB (60 MiB): judged, streamed, under 200 MB."""
    snap = tmp_path / "full.hksnap"
    blk = b"# " + b"p" * (MAX_FILE_BYTES - 3) + b"\n"
    sha = hashlib.sha256()
    with snap.open("wb") as f:
        for piece in (b"HKSNAP 2 0.1.0\n", _rec("K", "nproc", b"4\n")):
            f.write(piece)
            sha.update(piece)
        for i in range(15):
            name = f"/srv/blob{i}".encode()
            for piece in (f"F {len(name)} {len(blk)}\n".encode() + name, blk, b"\n"):
                f.write(piece)
                sha.update(piece)
        f.write(b"HKSNAP-END " + sha.hexdigest().encode() + b"\n")
    assert snap.stat().st_size < MAX_SNAPSHOT_BYTES
    r, peak = _hk_measured("check", "--snapshot", str(snap), "--only", "hardware.cpu", "-f", "json")
    assert r.returncode == ExitCode.OK, r.stderr
    assert host_results(r.stdout)[0]["status"] == "pass"
    assert peak < 200


def test_a_large_file_that_is_not_a_snapshot_is_refused_at_once(tmp_path: Path) -> None:
    junk = tmp_path / "junk.hksnap"
    with junk.open("wb") as f:
        f.truncate(50 << 20)  # zeros, no newline
    r, peak = _hk_measured("check", "--snapshot", str(junk))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    assert _one_line(r) == f"harborkit: error: {junk}: not a harborkit snapshot (no HKSNAP header)"
    assert peak < 200


@pytest.mark.parametrize(
    ("header", "line"),
    [
        (b"HKSNAP 2", "bad header line 'HKSNAP 2'"),
        (b"HKSNAP 2 ", "bad header line 'HKSNAP 2 '"),
        (b"HKSNAP \xd9\xa2 0.1.0", "bad header line 'HKSNAP \u0662 0.1.0'"),
        (b"HKSNAP " + b"9" * 5000 + b" 1", None),
        (b"HKSNAP 2 0.1.0 extra", "bad header line 'HKSNAP 2 0.1.0 extra'"),
    ],
)
def test_bad_header_lines(tmp_path: Path, header: bytes, line: str | None) -> None:
    snap = tmp_path / "h.hksnap"
    snap.write_bytes(_reseal(header + b"\n" + _rec("K", "nproc", b"4")))
    r = hk("check", "--snapshot", str(snap))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT
    if line is None:
        assert _one_line(r) == (
            f"harborkit: error: {snap}: not a harborkit snapshot (no HKSNAP header)"
        )
    else:
        assert _one_line(r) == (
            f"harborkit: error: {snap}: {line}: expected 'HKSNAP <format> <collector version>'"
        )


def test_a_format_1_snapshot_is_refused_naming_its_version(tmp_path: Path) -> None:
    snap = tmp_path / "old.hksnap"
    snap.write_bytes(_reseal(b"HKSNAP 1 0.0.9\nK 5 nproc\n4\n"))
    r = hk("check", "--snapshot", str(snap))
    assert r.returncode == ExitCode.USAGE
    assert _one_line(r) == (
        f"harborkit: error: {snap}: snapshot format 1 from collector 0.0.9 is older than this "
        "harborkit 0.1.0 reads (format 2; file names were not framed in it): collect it "
        "again with harborkit collect --script"
    )


@pytest.mark.parametrize(
    ("record", "what"),
    [
        (b"K 5 3 9\nnproc4\n", "a bad header"),
        (b"K x 1\nnproc4\n", "a bad header"),
        (b"K 5 99\nnproc4\n", "past the end"),
        (b"D 4 4\n/etca/b\x00\n", "a '/' in an entry"),
        (b"D 4 2\n/etca\x00\x00\n", "an empty entry"),
        (b"I 1 3\n-1\x00\x00\n", "an index without a name"),
        (b"I 1 4\n-\xd9\xa2\x00a\x00\n", "an index with other digits"),
        (b"K 5 1\nnproc4X", "no newline after the record"),
    ],
)
def test_broken_framing_under_a_good_checksum(tmp_path: Path, record: bytes, what: str) -> None:
    snap = tmp_path / "f.hksnap"
    snap.write_bytes(_reseal(b"HKSNAP 2 0.1.0\n" + record))
    r = hk("check", "--snapshot", str(snap))
    assert r.returncode == ExitCode.BUNDLE_CORRUPT, what
    assert _one_line(r).startswith(f"harborkit: error: {snap}: "), what


@pytest.mark.parametrize(
    "nproc",
    [b"9" * 5000, "\u0668".encode(), "\uff18".encode(), b"8 CPUs", b"-8", b"0x8", b"8" * 19],
)
def test_odd_cpu_counts_are_refused_not_errors(tmp_path: Path, nproc: bytes) -> None:
    body = b"HKSNAP 2 0.1.0\n" + _rec("K", "nproc", nproc + b"\n")
    body += _rec("F", "/proc/meminfo", "MemTotal: \u0669\u0669\u0669 kB\n".encode())
    snap = tmp_path / "n.hksnap"
    snap.write_bytes(_reseal(body))
    r = hk("check", "--snapshot", str(snap), "--only", "hardware", "-f", "json")
    assert "Traceback" not in r.stderr
    results = {x["id"]: x for x in host_results(r.stdout)}
    cpu = results["hardware.cpu"]
    assert cpu["status"] == "skip", cpu
    assert cpu["message"].startswith(
        f"the snapshot from {snap} records a CPU count that is not a number: "
    )
    mem = results["hardware.memory"]
    assert mem["status"] == "skip", mem
    assert "MemTotal that is not a number" in mem["message"]
    assert all(x["status"] != "error" for x in results.values()), results


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 4099])
def test_a_snapshot_reads_the_same_in_any_chunking(tmp_path: Path, step: int) -> None:
    """Records, names and the checksum line split anywhere between reads."""
    from harborkit.collect.snapshot import _parse

    d = tmp_path / "d"
    d.mkdir()
    for i, name in enumerate(["a\nb", "c d ", "e"]):
        (d / name).write_bytes(b"line\n" * (i + 1))
    data = collect("dash", [f"d {d}", "c echo hi", "h -", "w sh"], tmp_path)
    whole = parse(data, "x")
    chunks = (data[i : i + step] for i in range(0, len(data), step))
    split = _parse(chunks, "x")
    assert split == whole
    assert whole.files[f"{d}/a\nb"] == b"line\n"
    assert whole.commands["echo hi"].stdout == b"hi\n"
    b64 = base64.encodebytes(data)
    chunks = (b64[i : i + step] for i in range(0, len(b64), step))
    assert _parse(chunks, "x") == whole


def test_a_large_fact_within_bounds_parses(tmp_path: Path) -> None:
    """The bounds do not refuse what a busy host really sends."""
    body = b"HKSNAP 2 0.1.0\n" + _rec("K", "sockets", b"/proc/1/fd:\n" * 200_000)
    host = SnapshotHost(parse(_reseal(body), "busy"))
    assert host.snapshot.facts["sockets"].count("\n") == 200_000


def _many(kind: str) -> Iterator[bytes]:
    """About 60 MiB of the smallest records or entries of one kind (under the
    size bounds: only their number is the attack)."""
    if kind in ("D", "P", "I"):
        unit = {"D": b"ab\0", "P": b"12 ab\n", "I": b"1\0/ab\0"}[kind]
        data = unit * ((15 << 20) // len(unit))
        for i in range(4):
            yield _rec(kind, f"/e/{i}", data)
        return
    payload = {"T": b"f", "O": b"x", "R": b"0", "K": b"1", "E": b"e"}[kind]
    total = 0
    batch = []
    for i in range(6_000_000):
        batch.append(_rec(kind, b"%x" % i, payload))
        if len(batch) == 10_000:
            chunk = b"".join(batch)
            batch = []
            total += len(chunk)
            yield chunk
            if total > (60 << 20):
                return


@pytest.mark.parametrize("kind", ["D", "P", "I", "T", "O", "R", "K", "E"])
def test_millions_of_tiny_records_or_entries_are_refused_in_bounded_memory(
    tmp_path: Path, kind: str
) -> None:
    """A 60 MiB snapshot of 2-byte listing entries took 1.9 GB; of tiny records
    (paths, facts, commands) 250 to 500 MB: their number is bounded too."""
    snap = tmp_path / "many.hksnap"
    sha = hashlib.sha256()
    with snap.open("wb") as f:
        for piece in (b"HKSNAP 2 0.1.0\n", _rec("K", "nproc", b"4\n"), *_many(kind)):
            f.write(piece)
            sha.update(piece)
        f.write(b"HKSNAP-END " + sha.hexdigest().encode() + b"\n")
    assert snap.stat().st_size < MAX_SNAPSHOT_BYTES
    r, peak = _hk_measured("check", "--snapshot", str(snap), "--only", "hardware.cpu")
    assert r.returncode == ExitCode.BUNDLE_CORRUPT, r.stderr
    line = _one_line(r)
    assert line.startswith(f"harborkit: error: {snap}: more than 400,000 records and entries ")
    assert line.endswith(": not a snapshot harborkit's collector writes")
    assert peak < 200


@pytest.mark.parametrize(
    ("first", "second", "fact"),
    [
        (_rec("F", "/etc/hosts", b"10.0.0.1 a\n"), _rec("F", "/etc/hosts", b"10.9.9.9 a\n"), "f"),
        (_rec("E", "/etc/hosts", b"Permission denied"), _rec("F", "/etc/hosts", b"1 a\n"), "e"),
        (_rec("F", "/etc/hosts", b"10.0.0.1 a\n"), _rec("Z", "/etc/hosts", b"99"), "f"),
        (_rec("T", "/etc/hosts", b"d"), _rec("T", "/etc/hosts", b"f"), "t"),
        (_rec("D", "/etc", b"hosts\0"), _rec("D", "/etc", b"x\0"), "d"),
        (_rec("K", "nproc", b"1\n"), _rec("K", "nproc", b"8\n"), "k"),
        (_rec("W", "docker", b""), _rec("W", "docker", b"/usr/bin/docker"), "w"),
        (_rec("R", "ufw status", b"3"), _rec("R", "ufw status", b"0"), "r"),
        (_rec("O", "ufw status", b"inactive\n"), _rec("O", "ufw status", b"active\n"), "o"),
        (_rec("P", "-", b"1 init\n"), _rec("P", "-", b"1 dockerd\n"), "p"),
    ],
    ids=["F-F", "E-F", "F-Z", "T-T", "D-D", "K-K", "W-W", "R-R", "O-O", "P-P"],
)
def test_two_records_for_one_thing_the_first_wins(
    tmp_path: Path, first: bytes, second: bytes, fact: str
) -> None:
    """A second record for the same path, fact or command never replaces the
    first (it was "the last wins"): the same bytes give the same verdict from a
    file and from SSH, which parse alike."""
    body = b"HKSNAP 2 0.1.0\n" + first + _rec("K", "user", b"root") + second
    snap = parse(_reseal(body), "dup")
    host = SnapshotHost(snap)
    if fact == "f":
        assert host.read_bytes("/etc/hosts") == b"10.0.0.1 a\n"
    elif fact == "e":
        with pytest.raises(PermissionError):
            host.read_bytes("/etc/hosts")
    elif fact == "t":
        assert host.is_dir("/etc/hosts")
    elif fact == "d":
        assert host.listdir("/etc") == ["hosts"]
    elif fact == "k":
        assert host.cpu_count() == 1
    elif fact == "w":
        assert host.which("docker") is None
    elif fact in ("r", "o"):
        out = snap.commands["ufw status"]
        assert (out.rc, out.stdout) == ((3, b"") if fact == "r" else (-1, b"inactive\n"))
    else:
        assert host.processes("dockerd") == []


def test_deep_paths_are_judged_in_bounded_memory(tmp_path: Path) -> None:
    """Every ancestor of every recorded path was made as a string to know which
    folders exist: three 64 KiB paths of 32,000 parts (a 200 KB snapshot) took
    3 GB. Folders are now looked up among the sorted paths."""
    body = b"HKSNAP 2 0.1.0\n" + _rec("K", "nproc", b"4\n")
    for i in range(3):
        body += _rec("T", f"/{i}" + "/a" * 32_000, b"f")
    snap = tmp_path / "deep.hksnap"
    snap.write_bytes(_reseal(body))
    r, peak = _hk_measured("check", "--snapshot", str(snap), "-f", "json")
    assert r.returncode == ExitCode.OK, r.stderr
    assert "Traceback" not in r.stderr
    assert peak < 200


def test_folders_implied_by_what_lies_below_them() -> None:
    body = b"HKSNAP 2 0.1.0\n" + _rec("F", "/etc/a/b.conf", b"x")
    body += _rec("T", "/srv/link", b"L") + _rec("T", "/opt/none", b"n") + _rec("T", "/", b"d")
    host = SnapshotHost(parse(_reseal(body), "dirs"))
    for d in ("/", "/etc", "/etc/a", "/srv"):
        assert host.is_dir(d), d
    assert not host.is_dir("/etc/a/b.conf")
    assert not host.is_dir("/opt/none")
    for missing in ("/et", "/etc/a/b", "/opt"):
        with pytest.raises(NotAvailable):
            host.is_dir(missing)


def test_a_second_nproc_record_does_not_turn_a_fail_into_a_pass(tmp_path: Path) -> None:
    body = b"HKSNAP 2 0.1.0\n" + _rec("K", "nproc", b"1\n") + _rec("K", "nproc", b"64\n")
    snap = tmp_path / "dup.hksnap"
    snap.write_bytes(_reseal(body))
    r = hk("check", "--snapshot", str(snap), "--only", "hardware.cpu", "-f", "json")
    (cpu,) = host_results(r.stdout)
    assert cpu["status"] in ("fail", "warn"), cpu
    assert "1 CPU" in cpu["message"], cpu


_ = resource


# ---- over SSH: a real sshd host whose files are hostile


@pytest.fixture(scope="module")
def victim(lab: Lab) -> Iterator[SshHost]:
    """A host of its own (the shared ones stay clean): the debian12 fixture's
    files, reached as root and as admin with passwordless sudo."""
    host = start_host(lab.image, lab.env, "victim", lab.client.public_key)
    try:
        host.put_tree(FIXTURES / "debian12")
        lab.client.trust([host])
        yield host
    finally:
        host.stop()


def _canaries(host: SshHost) -> str:
    """Every canary the hostile values would create (all in /tmp) and files
    named like a command in the collector's working folders."""
    return host.exec(
        "ls -d /tmp/hk-canary* /root/*touch* /home/admin/*touch* 2>/dev/null", check=False
    )


#: harbor.yml values that a shell would run, split or take for a work line
_HOSTILE_YML = {
    "h1": (
        "/srv/a;touch${IFS}/tmp/hk-canary-1",
        "/srv/$(touch /tmp/hk-canary-2)",
        '"/etc/c.pem\\nc touch /tmp/hk-canary-3\\n"',
        '"/etc/k.pem\\nHK_WANTS_END\\ntouch /tmp/hk-canary-4\\n"',
    ),
    "h2": (
        "/srv/`touch /tmp/hk-canary-5`",
        '"/srv/x\\ny;touch /tmp/hk-canary-6"',
        "/srv/-rf",
        "\"/srv/'; touch /tmp/hk-canary-7; '\"",
    ),
    "h3": (
        "'/srv/*'",
        "/srv/x -o -w / ; touch /tmp/hk-canary-8",
        '"/opt/c\\ne /etc/shadow\\nc 1\\nptouch\\n"',
        '"-o\\t/tmp/hk-canary-9"',
    ),
}


def _hostile_yml(base: str, values: tuple[str, str, str, str]) -> str:
    data, log, cert, key = values
    text = base
    for old, new in (
        ("data_volume: /srv/harbor/data", f"data_volume: {data}"),
        ("certificate: /opt/harbor/certs/harbor.example.lan.crt", f"certificate: {cert}"),
        ("private_key: /opt/harbor/certs/harbor.example.lan.key", f"private_key: {key}"),
    ):
        assert old in text
        text = text.replace(old, new)
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.strip().startswith("location:"))
    lines[i] = lines[i].split("location:")[0] + f"location: {log}"
    return "\n".join(lines) + "\n"


def _put(host: SshHost, path: str, data: bytes) -> None:
    host.exec(f'p={shlex.quote(path)}; mkdir -p "${{p%/*}}" && cat > "$p"', input=data)


def test_hostile_harbor_yml_and_harbor_config_over_ssh_run_nothing(
    lab: Lab, victim: SshHost, tmp_path: Path
) -> None:
    base = (FIXTURES / "debian12/opt/harbor/harbor.yml").read_text()
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "debian12", root, symlinks=True)
    configs = []
    for name, values in _HOSTILE_YML.items():
        text = _hostile_yml(base, values).encode()
        path = f"/opt/{name}/harbor.yml"
        _put(victim, path, text)
        (root / path[1:]).parent.mkdir(parents=True, exist_ok=True)
        (root / path[1:]).write_bytes(text)
        configs.append(path)
    # a --harbor-config path that is itself hostile: a folder with a newline
    # and a work line in its name, and one with shell in it
    odd = "/opt/h4\nc touch /tmp/hk-canary-10\n/harbor.yml"
    _put(victim, odd, base.encode())
    (root / odd[1:]).parent.mkdir(parents=True)
    (root / odd[1:]).write_bytes(base.encode())
    configs += [odd, "/opt/h5;touch /tmp/hk-canary-11/harbor.yml"]
    checked = 0
    for i, cfg in enumerate(configs):
        target = f"{ADMIN}@{victim.target}" if i % 2 == 0 else victim.target
        become = ("--become",) if i % 2 == 0 else ()
        opts = ("--harbor-config", cfg, "--only", "harbor.config,harbor.storage", "-f", "json")
        ssh = hk("check", "--host", target, *become, *opts, config=lab.client.config)
        assert ssh.returncode in (ExitCode.OK, ExitCode.FAILED), ssh.stderr
        assert "Traceback" not in ssh.stderr
        got = {x["id"]: x["status"] for x in host_results(ssh.stdout)}
        if "h5" in cfg:  # no such file: on a remote host harbor.config fails (README)
            assert got["harbor.config"] == "fail", ssh.stdout
            assert f"{cfg}" in json.dumps(host_results(ssh.stdout))
        else:
            by_root = hk("check", "--root", str(root), *opts)
            assert by_root.returncode == ssh.returncode, (cfg, ssh.stdout, by_root.stdout)
            want = {x["id"]: x["status"] for x in host_results(by_root.stdout)}
            assert got == want, cfg
        assert "error" not in got.values(), ssh.stdout
        checked += 1
        assert _canaries(victim) == ""
    assert checked == len(configs)
    # the hostile values were judged as the paths they are
    r = hk(
        "check",
        "--host",
        victim.target,
        "--harbor-config",
        "/opt/h1/harbor.yml",
        "--only",
        "harbor.storage",
        "-f",
        "json",
        config=lab.client.config,
    )
    text = json.dumps(host_results(r.stdout))
    assert json.dumps("/srv/a;touch${IFS}/tmp/hk-canary-1")[1:-1] in text
    assert _canaries(victim) == ""


def _names_tree(put: Callable[[str, bytes], None]) -> None:
    """sysctl.d and limits.d files whose names try to end a record, forge one,
    or pass for another file (a trailing space: systemd-sysctl ignores it)."""
    put("/etc/sysctl.d/90-harbor.conf", b"vm.swappiness = 60\n")
    put("/etc/sysctl.d/90-harbor.conf ", b"vm.swappiness = 10\n")
    put("/etc/sysctl.d/x.conf\nK 5 1\nnproc8\n.conf", b"vm.overcommit_memory = 1\n")
    put("/etc/sysctl.d/a\nb\n.conf", b"vm.dirty_ratio = 50\n")
    put("/etc/security/limits.d/90-harbor.conf\n", b"* soft nofile 1\n")
    put("/etc/security/limits.d/x\nD 22 0\n\x00.conf".replace("\x00", ""), b"* hard nofile 2\n")
    put("/etc/security/limits.d/y.conf\nT 5 1\nnprocd\n", b"* soft nproc 3\n")


def test_names_with_newlines_over_ssh_by_snapshot_and_by_root(
    lab: Lab, victim: SshHost, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "debian12", root, symlinks=True)

    def put_root(path: str, data: bytes) -> None:
        p = root / path[1:]
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    before = victim.exec("cat /etc/sysctl.d/90-harbor.conf", raw=True)
    _names_tree(lambda p, d: _put(victim, p, d))
    _names_tree(put_root)
    try:
        opts = ("--only", "sysctl.persisted,limits.pam,hardware.cpu", "-f", "json")
        ssh = hk("check", "--host", victim.target, *opts, config=lab.client.config)
        script_text = hk("collect", "--script").stdout
        snap = tmp_path / "victim.hksnap"
        snap.write_bytes(victim.exec("exec /bin/sh -s", input=script_text.encode(), raw=True))
        by_snap = hk("check", "--snapshot", str(snap), *opts)
        by_root = hk("check", "--root", str(root), *opts)
    finally:
        victim.exec(
            "rm -rf /etc/sysctl.d/*'\n'* '/etc/sysctl.d/90-harbor.conf ' "
            "/etc/security/limits.d/*'\n'*"
        )
        _put(victim, "/etc/sysctl.d/90-harbor.conf", before)
    results = {
        name: {
            x["id"]: {k: v for k, v in x.items() if k != "duration_seconds"}
            for x in host_results(r.stdout)
        }
        for name, r in (("ssh", ssh), ("snapshot", by_snap), ("root", by_root))
    }
    for name, res in results.items():
        assert "error" not in {x["status"] for x in res.values()}, (name, res)
    # the host is auditable, and every transport judges the same bytes the same way
    for cid in ("sysctl.persisted", "limits.pam"):
        assert results["ssh"][cid]["status"] == results["root"][cid]["status"], cid
        assert results["snapshot"][cid] == results["ssh"][cid], cid
        assert results["ssh"][cid]["findings"] == results["root"][cid]["findings"], cid
    # vm.swappiness = 60 in the real 90-harbor.conf: the trailing-space twin is ignored
    assert "vm.swappiness" in json.dumps(results["ssh"]["sysctl.persisted"]["findings"])
    assert results["ssh"]["sysctl.persisted"]["status"] == "fail"
    # the CPU count is the host's own, not the "8" a name spelled
    cpus = int(victim.exec("nproc").strip())
    assert f"{cpus} CPUs" in json.dumps(results["ssh"]["hardware.cpu"])
    assert results["snapshot"]["hardware.cpu"] == results["ssh"]["hardware.cpu"]


def test_a_12_mb_sysctl_file_is_judged_the_same_by_every_transport(
    lab: Lab, victim: SshHost, tmp_path: Path
) -> None:
    big = b"# padding\n" * (12 << 20 >> 4) + b"vm.swappiness = 10\n"
    assert len(big) > 12 << 19
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "debian12", root, symlinks=True)
    (root / "etc/sysctl.d/50-big.conf").write_bytes(big)
    _put(victim, "/etc/sysctl.d/50-big.conf", big)
    try:
        opts = ("--only", "sysctl.persisted", "-f", "json")
        ssh = hk("check", "--host", victim.target, *opts, config=lab.client.config)
        script_text = hk("collect", "--script").stdout
        data = victim.exec("exec /bin/sh -s", input=script_text.encode(), raw=True)
        snap = tmp_path / "victim.hksnap"
        snap.write_bytes(data)
        by_snap = hk("check", "--snapshot", str(snap), *opts)
        by_root = hk("check", "--root", str(root), *opts)
    finally:
        victim.exec("rm -f /etc/sysctl.d/50-big.conf")
    assert len(data) < 2 << 20  # the collector did not send the 12 MB
    found = {}
    for name, r in (("ssh", ssh), ("snapshot", by_snap), ("root", by_root)):
        assert r.returncode == ExitCode.FAILED, (name, r.stderr)
        res = host_results(r.stdout)[0]
        found[name] = (res["status"], res["findings"])
    assert found["ssh"] == found["snapshot"] == found["root"]
    assert found["ssh"] == (
        "fail",
        [
            {
                "status": "fail",
                "subject": "file",
                "message": "is larger than 4 MiB, too large for a config file: not read",
                "expected": None,
                "actual": None,
                "location": "/etc/sysctl.d/50-big.conf",
            }
        ],
    )
    # and this machine's own reader says the same of the same bytes
    local = tmp_path / "50-big.conf"
    local.write_bytes(big)
    with pytest.raises(UnreadableFile) as e:
        LocalHost().read_text(str(local))
    assert e.value.reason == "is larger than 4 MiB, too large for a config file: not read"


def test_busybox_only_host_with_hostile_names_and_harbor_yml(lab: Lab, tmp_path: Path) -> None:
    """BusyBox's own sh, sed, wc, head and df on a host with nothing else."""
    from tests.remote.test_snapshot import busybox_image

    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "debian12", root, symlinks=True)

    def put_root(path: str, data: bytes) -> None:
        p = root / path[1:]
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    _names_tree(put_root)
    base = (FIXTURES / "debian12/opt/harbor/harbor.yml").read_text()
    for name, values in _HOSTILE_YML.items():
        put_root(f"/opt/{name}/harbor.yml", _hostile_yml(base, values).encode())
    image = busybox_image(lab, root)
    opts = ("--harbor-config", "/opt/h1/harbor.yml")
    text = hk("collect", "--script", *opts).stdout
    r = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            image,
            "/bin/sh",
            "-c",
            "cat > /c.sh && /bin/sh /c.sh -o /snap && ls -d /tmp/hk-canary* 2>/dev/null; "
            "echo ==; cat /snap",
        ],
        input=text.encode(),
        capture_output=True,
        env=lab.env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    canaries, _, data = r.stdout.partition(b"==\n")
    assert canaries == b""
    snap = tmp_path / "bb.hksnap"
    snap.write_bytes(data)
    checks = "sysctl.persisted,limits.pam,harbor.config,harbor.storage"
    by_snap = hk("check", "--snapshot", str(snap), *opts, "--only", checks, "-f", "json")
    by_root = hk("check", "--root", str(root), *opts, "--only", checks, "-f", "json")
    assert "Traceback" not in by_snap.stderr + by_root.stderr
    got = {x["id"]: (x["status"], x["findings"]) for x in host_results(by_snap.stdout)}
    want = {x["id"]: (x["status"], x["findings"]) for x in host_results(by_root.stdout)}
    for cid in ("sysctl.persisted", "limits.pam"):
        assert got[cid] == want[cid], cid
    # the certificate paths hold newlines: the profile's schema refuses them (a
    # control character in a path Harbor's compose template mounts) before any
    # file is needed, so the snapshot, which lacks those files, judges as the root
    config = next(x for x in host_results(by_snap.stdout) if x["id"] == "harbor.config")
    assert config["status"] == "fail"
    bad = {f["subject"]: f["message"] for f in config["findings"] if f["status"] == "fail"}
    assert sorted(bad) == ["https.certificate", "https.private_key"]
    for message in bad.values():
        assert message.endswith("' holds a control character (U+000A)"), message
        assert "\n" not in message
    assert got["harbor.config"] == want["harbor.config"]
    assert got["harbor.storage"][0] == want["harbor.storage"][0]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root")
@pytest.mark.parametrize("shell", list(SHELLS))
def test_a_full_file_system_gives_no_snapshot(tmp_path: Path, shell: str) -> None:
    """TMPDIR on a full file system: appends failed silently, the collector
    exited 0 with a cut snapshot (a record cut short frames the bytes after it
    anew); now it stops with one line and exit 3, and writes nothing."""
    small = tmp_path / "small"
    small.mkdir()
    big = tmp_path / "big.conf"
    big.write_bytes(b"# " + b"x" * (256 << 10) + b"\n")
    run = " ".join(shlex.quote(a) for a in [*SHELLS[shell], "-s"])
    r = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(small))} && "
            f"TMPDIR={shlex.quote(str(small))} exec {run}",
        ],
        input=script([f"f {big}", "f /etc/hosts", "c echo hi"]).encode(),
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 3, r.stderr
    assert r.stdout == b""
    (last,) = r.stderr.decode().splitlines()
    assert last.startswith(f"harborkit collector: cannot write the snapshot in {small}/hksnap.")
    assert last.endswith(" (file system full?)")
