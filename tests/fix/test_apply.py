"""harborkit fix on a copy of the guide-as-written sysroot: plan, apply, check, rollback."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harborkit.errors import ExitCode
from tests.fix.helpers import (
    JOURNAL,
    REPO,
    SYSROOTS,
    copy_sysroot,
    failing,
    hk,
    nth_written,
    statuses,
    tree_hashes,
)

OPTS = ("--install-dir", "/opt/harbor")


@pytest.fixture
def guide(tmp_path: Path) -> Path:
    return copy_sysroot("guide-as-written", tmp_path / "root")


def plan_line(root: Path) -> tuple[str, str]:
    r = hk("fix", "--root", str(root), *OPTS)
    assert r.returncode == ExitCode.OK, r.stderr
    m = re.match(r"harborkit fix: server58 \(sysroot\), plan ([0-9a-f]{12}): (.*)\n", r.stdout)
    assert m, r.stdout
    return m.group(1), r.stdout


def test_dry_run_shows_diffs_commands_and_manual_steps_and_changes_nothing(guide: Path) -> None:
    before = tree_hashes(guide)
    pid, out = plan_line(guide)
    assert out.startswith(
        f"harborkit fix: server58 (sysroot), plan {pid}: 6 file(s), 3 command(s), 1 manual step(s)\n"
    )
    assert "--- a/etc/security/limits.conf\n+++ b/etc/security/limits.conf\n" in out
    assert "-* soft stact unlimited\n+# * soft stact unlimited  # harborkit: unknown item" in out
    assert "--- /dev/null\n+++ b/etc/security/limits.d/90-harbor.conf\n" in out
    assert '-  \u201cinsecure-registries": [\u201c192.168.3.60:8888\u201d]\n' in out
    assert "systemctl restart docker    # docker.daemon_json: " in out
    assert "- selinux.mode: reboot to make SELINUX=disabled take effect" in out
    assert out.endswith(f"apply with: harborkit fix --apply --plan {pid} (same options)\n")
    assert tree_hashes(guide) == before
    assert not (guide / JOURNAL).exists()


def test_apply_makes_fixable_checks_pass_rollback_restores_every_byte(guide: Path) -> None:
    profile = guide / "etc/profile"
    os.chown(profile, 1234, 2345)
    profile.chmod(0o640)
    original = tree_hashes(guide)
    failed_before = failing(statuses(guide))
    assert failed_before == {"selinux.mode", "limits.pam", "docker.daemon_json"}
    pid, _ = plan_line(guide)

    r = hk("fix", "--root", str(guide), *OPTS, "--apply", "--plan", pid)
    # selinux's runtime mode needs a reboot (a manual step): still failing
    assert r.returncode == ExitCode.FAILED, r.stderr
    m = re.match(
        rf"harborkit fix: server58 \(sysroot\): applied plan {pid} as journal (\S+): "
        r"6 file\(s\) written, 0 command\(s\) run\n",
        r.stdout,
    )
    assert m, r.stdout
    jid = m.group(1)
    assert "not run (a sysroot has no running system): systemctl restart docker\n" in r.stdout
    assert "limits.pam               fail    pass\n" in r.stdout
    assert "docker.daemon_json       fail    pass\n" in r.stdout
    assert "selinux.mode             fail    fail\n" in r.stdout
    # every check fixable by files now passes; a plain check agrees
    assert failing(statuses(guide)) == {"selinux.mode"}
    # the vendor unit is never edited; the drop-in neutralises its EnvironmentFile line
    assert (
        "EnvironmentFile=-/etc/docker/daemon.json"
        in (guide / "usr/lib/systemd/system/docker.service").read_text()
    )
    assert json.loads((guide / "etc/docker/daemon.json").read_text()) == {
        "insecure-registries": ["192.168.3.60:8888"]
    }

    # written atomically, its mode and owner kept
    st = profile.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 1234, 2345)
    assert "# ulimit -n 655350  # harborkit: services never see this" in profile.read_text()

    changed = tree_hashes(guide)
    r2 = hk("fix", "--root", str(guide), *OPTS, "--apply")
    assert r2.returncode == ExitCode.FAILED
    assert r2.stdout.startswith("harborkit fix: server58 (sysroot): nothing to change\n")
    assert tree_hashes(guide) == changed

    listing = hk("fix", "--root", str(guide), "--list")
    assert listing.returncode == ExitCode.OK
    rows = listing.stdout.splitlines()
    assert rows[0].split() == ["ID", "CREATED", "STATE", "FILES", "CHECKS"]
    assert len(rows) == 2 and rows[1].split()[:2] == [jid, rows[1].split()[1]]
    assert rows[1].split()[2:4] == ["applied", "6"]

    rb = hk("fix", "--root", str(guide), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert rb.stdout.splitlines()[0] == (
        f"harborkit fix: rolled back journal {jid}: 6 file(s) restored"
    )
    assert "removed: /etc/security/limits.d/90-harbor.conf (the fix created it)" in rb.stdout
    assert "restored: /etc/docker/daemon.json" in rb.stdout
    assert tree_hashes(guide) == original
    st = profile.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 1234, 2345)
    assert not (guide / "etc/systemd/system/docker.service.d").exists()  # its folder too
    # a sysroot is left as it was: its journal and the folders made for it are gone
    assert rb.stdout.endswith(
        f"removed: journal {jid} (a sysroot keeps no journal of a fix rolled back)\n"
    ), rb.stdout
    assert not (guide / "var").exists()
    again = hk("fix", "--root", str(guide), "--rollback", jid)
    assert (again.returncode, again.stderr) == (
        ExitCode.USAGE,
        f"harborkit: error: --rollback {jid}: no such journal in {guide}/{JOURNAL}\n",
    )


def test_journal_dir_outside_the_sysroot(guide: Path, tmp_path: Path) -> None:
    jd = tmp_path / "journal"
    r = hk("fix", "--root", str(guide), *OPTS, "--apply", "--journal-dir", str(jd))
    assert r.returncode == ExitCode.FAILED, r.stderr
    assert not (guide / JOURNAL).exists()
    (journal,) = list(jd.glob("*/journal.json"))
    doc = json.loads(journal.read_text())
    assert doc["state"] == "applied" and len(doc["entries"]) == 6
    import jsonschema

    schema = json.loads((REPO / "schemas/fix-journal.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert hk("fix", "--root", str(guide), "--journal-dir", str(jd), "--rollback").returncode == 0
    assert tree_hashes(guide) == tree_hashes(SYSROOTS / "guide-as-written")


def test_file_edited_between_plan_and_apply_is_refused(guide: Path) -> None:
    pid, _ = plan_line(guide)
    with open(guide / "etc/security/limits.conf", "a") as f:
        f.write("* hard core 0\n")
    edited = tree_hashes(guide)
    r = hk("fix", "--root", str(guide), *OPTS, "--apply", "--plan", pid)
    assert r.returncode == ExitCode.FIX_REFUSED
    new_pid = re.search(r"the plan is now ([0-9a-f]{12})", r.stderr)
    assert new_pid and new_pid.group(1) != pid
    assert r.stderr == (
        f"harborkit: error: the plan is now {new_pid.group(1)}, not {pid}: the host changed "
        "since you reviewed it; review the new plan with 'harborkit fix' (nothing was changed)\n"
    )
    assert tree_hashes(guide) == edited
    assert not (guide / JOURNAL).exists()


def test_file_edited_after_planning_inside_one_run_is_refused(guide: Path) -> None:
    from harborkit.engine.session import prepare
    from harborkit.fix.apply import apply_plan
    from harborkit.fix.build import plan_from_report
    from harborkit.fix.target import FixRefused, Target

    session = prepare(
        profile=None,
        root=str(guide),
        harbor_config=None,
        install_dir="/opt/harbor",
        node=None,
        only=None,
        skip=None,
    )
    plan = plan_from_report(session.run())
    (guide / "etc/docker/daemon.json").write_text('{"debug": true}\n')
    edited = tree_hashes(guide)
    with pytest.raises(FixRefused) as e:
        apply_plan(plan, Target.of(str(guide)), host_name="server58", plan_id="x")
    assert re.fullmatch(
        r"/etc/docker/daemon.json changed since the plan \(sha256 [0-9a-f]{12}, planned from "
        r"sha256 [0-9a-f]{12}\): review the new plan with 'harborkit fix' \(nothing was changed\)",
        e.value.message,
    )
    assert e.value.exit_code == ExitCode.FIX_REFUSED
    assert tree_hashes(guide) == edited
    assert not (guide / "var").exists()  # no journal folder left by the refused apply


def test_read_only_file_system_is_refused_before_any_change(tmp_path: Path) -> None:
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], check=True)
    try:
        root = copy_sysroot("guide-as-written", mnt / "root")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        before = tree_hashes(root)
        r = hk("fix", "--root", str(root), *OPTS, "--apply")
        assert r.returncode == ExitCode.ENVIRONMENT
        assert r.stderr == (
            f"harborkit: error: cannot write {root}: read-only file system (nothing was changed)\n"
        )
        assert tree_hashes(root) == before
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


NOT_JSON = "<<< this is not JSON, not even close >>>\n"


def test_daemon_json_nowhere_near_json_is_left_alone_as_a_manual_step(guide: Path) -> None:
    (guide / "etc/docker/daemon.json").write_text(NOT_JSON)
    step = (
        "docker.daemon_json: /etc/docker/daemon.json is not JSON even with plain quotes "
        "(line 1 column 1: Expecting value): rewrite it by hand, keeping the keys it should have"
    )
    _, out = plan_line(guide)
    assert f"- {step}\n" in out
    r = hk("fix", "--root", str(guide), *OPTS, "--apply")
    assert r.returncode == ExitCode.FAILED
    assert f"manual step ({step.replace(': ', '): ', 1)}\n" in r.stdout
    assert (guide / "etc/docker/daemon.json").read_text() == NOT_JSON
    assert "docker.daemon_json       fail    fail\n" in r.stdout
    assert "limits.pam               fail    pass\n" in r.stdout


def _journal(root: Path) -> dict:
    found = list((root / JOURNAL).glob("*/journal.json"))
    return json.loads(found[0].read_text()) if found else {}


def test_kill_9_in_the_middle_then_rollback_restores(guide: Path) -> None:
    original = tree_hashes(guide)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harborkit", "fix", "--root", str(guide), *OPTS, "--apply"],
        env={**os.environ, "HARBORKIT_FIX_TEST_STALL": "3:120"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not nth_written(guide, original, 3):
            assert proc.poll() is None, "apply ended before it was killed"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    j = _journal(guide)
    assert j["state"] == "applying" and len(j["entries"]) == 3
    assert tree_hashes(guide) != original
    # the copy a kill in the middle of the third write would have left beside it
    assert j["pid"] == proc.pid
    third = guide / j["entries"][2]["path"].lstrip("/")
    left = third.with_name(f".{third.name}.partial-{proc.pid}")
    left.write_bytes(b"half a file\n")

    r = hk("fix", "--root", str(guide), *OPTS, "--apply")
    assert r.returncode == ExitCode.FIX_REFUSED
    assert r.stderr == (
        f"harborkit: error: the apply of journal {j['id']} was interrupted: run 'harborkit fix "
        f"--rollback {j['id']}' first (nothing was changed)\n"
    )
    rb = hk("fix", "--root", str(guide), "--rollback", j["id"])
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert tree_hashes(guide) == original
    assert not left.exists()


def test_not_root_on_the_live_host_is_refused() -> None:
    r = hk(
        "fix",
        "--apply",
        prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"),
        env={"HOME": "/tmp"},
    )
    assert r.returncode == ExitCode.ENVIRONMENT, r.stderr
    assert r.stderr == (
        "harborkit: error: harborkit fix --apply changes system files and services: run it "
        "as root (nothing was changed)\n"
    )


def test_unknown_journal_and_bad_option_mix(guide: Path) -> None:
    r = hk("fix", "--root", str(guide), "--rollback", "nosuch")
    assert r.returncode == ExitCode.USAGE
    assert r.stderr == (
        f"harborkit: error: --rollback nosuch: no such journal in {guide}/{JOURNAL}\n"
    )
    r = hk("fix", "--root", str(guide), "--apply", "--list")
    assert (r.returncode, r.stderr) == (
        ExitCode.USAGE,
        "harborkit: error: --apply, --rollback and --list exclude each other\n",
    )
    r = hk("fix", "--root", str(guide), "--list")
    assert (r.returncode, r.stdout) == (ExitCode.OK, f"no fixes journaled in {guide}/{JOURNAL}\n")


# --- class 7: every write resolves inside the sysroot, exactly as the reads do ---


def snapshot(top: Path) -> dict[str, tuple[str, str, int, int]]:
    """Every name under ``top`` (links not followed): kind, bytes or link target, mode, mtime."""
    out: dict[str, tuple[str, str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for n in [*dirnames, *filenames]:
            p = Path(dirpath, n)
            st = p.lstat()
            if p.is_symlink():
                what = ("link", os.readlink(p))
            elif p.is_dir():
                what = ("dir", "")
            elif p.is_file():
                what = ("file", p.read_bytes().hex())
            else:
                what = ("other", "")
            out[str(p.relative_to(top))] = (*what, st.st_mode, st.st_mtime_ns)
    return out


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A canary folder of this machine that links in the sysroot point at."""
    out = tmp_path / "outside"
    for rel, body in {
        "limits.d/20-nproc.conf": b"* soft nproc 4096\n",
        "system/keep.service": b"[Unit]\n",
        "journal/keep": b"",
        "canary.conf": b"canary\n",
        "daemon.json": b'{"canary": true}\n',
    }.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(body)
    old = time.time() - 3600
    for p in out.rglob("*"):
        os.utime(p, (old, old))
    return out


def _relink(p: Path, target: str) -> None:
    if p.is_dir() and not p.is_symlink():
        import shutil

        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.symlink_to(target)


UP = "../" * 12  # more '..' than the sysroot is deep: chroot stops at its '/'
REFUSED_LIMITS = (
    "harborkit: error: cannot write /etc/security/limits.d/90-harbor.conf: a link or a file on "
    "its way leads to no folder of the sysroot (No such file or directory); nothing was changed\n"
)
REFUSED_DROPIN = REFUSED_LIMITS.replace(
    "/etc/security/limits.d/90-harbor.conf",
    "/etc/systemd/system/docker.service.d/90-harbor-environmentfile.conf",
)
REFUSED_JOURNAL = (
    "harborkit: error: cannot use the journal folder {root}/var/lib/harborkit/fix: No such file "
    "or directory (a folder of it is a link to nothing, or a file; nothing was changed)\n"
)


def _out_abs(outside: Path, rel: str) -> str:
    return str(outside / rel)


# name -> (how to build the sysroot, expected outcome: a refusal's stderr, or the
# sysroot path (relative) where the written file must appear)
LINKED: dict[str, tuple[Any, str]] = {
    "limits.d absolute out": (
        lambda r, o: _relink(r / "etc/security/limits.d", _out_abs(o, "limits.d")),
        REFUSED_LIMITS,
    ),
    "limits.d relative ../ out": (
        lambda r, o: _relink(r / "etc/security/limits.d", UP + _out_abs(o, "limits.d")[1:]),
        REFUSED_LIMITS,
    ),
    "systemd/system absolute out": (
        lambda r, o: _relink(r / "etc/systemd/system", _out_abs(o, "system")),
        REFUSED_DROPIN,
    ),
    "final file absolute out": (
        lambda r, o: _relink(
            r / "etc/security/limits.d/90-harbor.conf", _out_abs(o, "canary.conf")
        ),
        REFUSED_LIMITS,
    ),
    "final file relative ../ out": (
        lambda r, o: _relink(
            r / "etc/security/limits.d/90-harbor.conf", UP + _out_abs(o, "canary.conf")[1:]
        ),
        REFUSED_LIMITS,
    ),
    "journal folder absolute out": (
        lambda r, o: _relink(r / "var/lib/harborkit", _out_abs(o, "journal")),
        REFUSED_JOURNAL,
    ),
    "systemd/system absolute, inside": (
        lambda r, o: _relink(r / "etc/systemd/system", "/usr/lib/systemd/system"),
        "usr/lib/systemd/system/docker.service.d/90-harbor-environmentfile.conf",
    ),
    "etc relative ../../.., inside": (
        lambda r, o: (os.rename(r / "etc", r / "realetc"), _relink(r / "etc", UP + "realetc")),
        "realetc/security/limits.d/90-harbor.conf",
    ),
    "security -> ../../.. (the root), in the middle": (
        lambda r, o: (
            os.rename(r / "etc/security", r / "sec"),
            _relink(r / "etc/security", UP),
            os.rename(r / "sec/limits.conf", r / "limits.conf"),
        ),
        "limits.d/90-harbor.conf",
    ),
    "final file absolute, inside": (
        lambda r, o: (
            os.rename(r / "etc/docker/daemon.json", r / "etc/docker/real.json"),
            _relink(r / "etc/docker/daemon.json", "/etc/docker/real.json"),
        ),
        "etc/docker/real.json",
    ),
    "journal folder ../../.., inside": (
        lambda r, o: (
            (r / "srv/hk").mkdir(parents=True),
            _relink(r / "var/lib/harborkit", UP + "srv/hk"),
        ),
        "srv/hk/fix",
    ),
}


@pytest.mark.parametrize("case", list(LINKED))
def test_apply_writes_only_inside_the_sysroot_whatever_links_it_holds(
    guide: Path, outside: Path, case: str
) -> None:
    build, expected = LINKED[case]
    build(guide, outside)
    before_out = snapshot(outside)
    host_paths = [
        Path("/usr/lib/systemd/system/docker.service.d/90-harbor-environmentfile.conf"),
        Path("/etc/docker/real.json"),
        Path("/realetc"),
        Path("/srv/hk"),
        Path("/limits.d"),
    ]
    assert not any(p.exists() for p in host_paths)
    before_in = snapshot(guide)
    r = hk("fix", "--root", str(guide), *OPTS, "--apply")
    assert snapshot(outside) == before_out
    assert not any(p.exists() for p in host_paths)
    if expected.startswith("harborkit: error:"):
        assert (r.returncode, r.stdout) == (ExitCode.FIX_REFUSED, ""), r.stderr
        assert r.stderr == expected.format(root=guide)
        after = {k: v for k, v in snapshot(guide).items() if not k.startswith("var")}
        assert after == {k: v for k, v in before_in.items() if not k.startswith("var")}
        return
    assert r.returncode == ExitCode.FAILED, r.stderr  # selinux needs a reboot
    assert (guide / expected).exists() and not (guide / expected).is_symlink()
    # every link of the sysroot is still the link it was
    links = {k: v for k, v in before_in.items() if v[0] == "link"}
    assert {k: v[:2] for k, v in snapshot(guide).items() if k in links} == {
        k: v[:2] for k, v in links.items()
    }
    jdir = "srv/hk/fix" if case.startswith("journal") else JOURNAL
    rb = hk("fix", "--root", str(guide), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert snapshot(outside) == before_out
    after = {k: v[:2] for k, v in snapshot(guide).items() if not k.startswith((jdir, "var"))}
    assert after == {k: v[:2] for k, v in before_in.items() if not k.startswith((jdir, "var"))}


# --- class 11: only the lines the reviewed diff shows change, byte for byte ---

STACT = b"* soft stact unlimited"
STACT_FIXED = b"# * soft stact unlimited  # harborkit: unknown item 'stact' (a typo of 'stack'?)"
ULIMIT_FIXED = (
    b"# ulimit -n 655350  # harborkit: services never see this; see "
    b"/etc/security/limits.d/90-harbor.conf"
)

# name -> (limits.conf bytes, profile bytes): every other line is hostile to a
# text round trip (Latin-1, invalid UTF-8, CR LF, a NEL, no final newline)
ENCODINGS: dict[str, tuple[bytes, bytes]] = {
    "latin-1 on other lines": (
        b"# Gr\xf6\xdfe der Limits f\xfcr Harbor\n* hard nofile 65536\n" + STACT + b"\n",
        b"# \xe9t\xe9 2026\nexport LANG=fr_FR.ISO-8859-1 # caf\xe9\nulimit -n 655350\n",
    ),
    "invalid utf-8 and a lone continuation byte": (
        b"# \xff\xfe\x80 not text\n" + STACT + b"\n# \xc3\x28 \xed\xa0\x80 end\n",
        b"\x80\x81\nulimit -n 655350\n\xf8\x88\x80\x80\x80\n",
    ),
    "crlf line endings": (
        b"# limits\r\n* hard nofile 65536\r\n" + STACT + b"\r\n# End of file\r\n",
        b"export A=1\r\nulimit -n 655350\r\nexport B=2\r\n",
    ),
    "no final newline": (
        b"# limits\n" + STACT + b"\n# End of file",
        b"export A=1\nulimit -n 655350",
    ),
    "utf-8 in other lines": (
        b"# \xe2\x80\x9cquoted\xe2\x80\x9d \xc3\xa9t\xc3\xa9\n" + STACT + b"\n",
        b"echo \xe2\x9c\x93 x\nulimit -n 655350\n",
    ),
}


def _expected(before: bytes, old: bytes, new: bytes) -> bytes:
    """``before`` with the one line ``old`` (wherever it ends) changed to ``new``."""
    assert before.count(old) == 1
    return before.replace(old, new)


@pytest.mark.parametrize("case", list(ENCODINGS))
def test_apply_changes_only_the_lines_of_the_diff_byte_for_byte(guide: Path, case: str) -> None:
    limits, profile = ENCODINGS[case]
    (guide / "etc/security/limits.conf").write_bytes(limits)
    (guide / "etc/profile").write_bytes(profile)
    original = tree_hashes(guide)
    pid, out = plan_line(guide)
    r = hk("fix", "--root", str(guide), *OPTS, "--apply", "--plan", pid)
    assert r.returncode == ExitCode.FAILED, r.stderr
    assert (guide / "etc/security/limits.conf").read_bytes() == _expected(
        limits, STACT, STACT_FIXED
    )
    assert (guide / "etc/profile").read_bytes() == _expected(
        profile, b"ulimit -n 655350", ULIMIT_FIXED
    )
    # the reviewed diff shows those lines and no other line of either file
    for name, before, line in (
        ("etc/security/limits.conf", limits, STACT),
        ("etc/profile", profile, b"ulimit -n 655350"),
    ):
        diff = out.split(f"--- a/{name}\n", 1)[1].split("\n--- ", 1)[0]
        # (a CR may be shown escaped, \\x0d, where the output escapes control characters)
        removed = [
            re.sub(r"(\\x0d|\\r)$", "", ln)
            for ln in diff.splitlines()
            if ln.startswith("-") and ln != "-"
        ]
        assert removed == [f"-{line.decode()}"], diff
        if not before.endswith(b"\n") and before.endswith(line):
            assert "\n\\ No newline at end of file\n" in diff
    rb = hk("fix", "--root", str(guide), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert tree_hashes(guide) == original


def test_a_commented_out_line_keeps_its_own_bytes(guide: Path) -> None:
    line = b"ulimit -n 655350 # r\xe9glage \xff"
    (guide / "etc/profile").write_bytes(b"export A=1\r\n" + line + b"\r\nexport B=\xe9\r\n")
    r = hk("fix", "--root", str(guide), *OPTS, "--apply")
    assert r.returncode == ExitCode.FAILED, r.stderr
    assert (guide / "etc/profile").read_bytes() == (
        b"export A=1\r\n# "
        + line
        + b"  # harborkit: services never see this; see /etc/security/limits.d/90-harbor.conf"
        + b"\r\nexport B=\xe9\r\n"
    )


EDITS = [
    # (text bytes, edits, append, expected bytes)
    (b"a\r\nb\r\nc\r\n", {2: "B"}, (), b"a\r\nB\r\nc\r\n"),
    (b"a\nb", {2: "B"}, (), b"a\nB"),
    (b"a\nb", {}, ("c",), b"a\nb\nc\n"),
    (b"a\r\nb", {}, ("c",), b"a\r\nb\r\nc\r\n"),
    (b"a\nb\n", {1: None}, (), b"b\n"),
    (b"\xff\xfe\n\xe9t\xe9\nx\n", {3: "y"}, (), b"\xff\xfe\n\xe9t\xe9\ny\n"),
    (b"", {}, ("a",), b"a\n"),
    (b"", {}, (), b""),
    (b"a\n\nb\n", {2: "c"}, (), b"a\nc\nb\n"),
]


@pytest.mark.parametrize(("text", "edits", "append", "expected"), EDITS)
def test_edit_lines_keeps_every_other_byte(
    text: bytes, edits: dict[int, str | None], append: tuple[str, ...], expected: bytes
) -> None:
    from harborkit.model.change import edit_lines, encode_exact

    got = encode_exact(edit_lines(text.decode("utf-8", "surrogateescape"), edits, append))
    assert got == expected


@pytest.mark.parametrize(
    ("path", "make", "why"),
    [
        ("/etc/fifo", lambda p: os.mkfifo(p), "/etc/fifo is not a regular file"),
        (
            "/etc/null",
            lambda p: os.mknod(p, 0o600 | 0o020000, os.makedev(1, 3)),
            "/etc/null is not a regular file",
        ),
        ("/etc/dir", lambda p: p.mkdir(), "/etc/dir is not a regular file"),
        ("/etc/x\x00y", None, 'path "/etc/x\\u0000y" holds a NUL byte'),
        (
            "/etc/../../x",
            None,
            "path \"/etc/../../x\" is not normalized (an empty, '.' or '..' component)",
        ),
        ("etc/x", None, 'path "etc/x" is not an absolute path of a file'),
        ("/", None, 'path "/" is not an absolute path of a file'),
    ],
)
def test_a_planned_path_that_is_no_file_is_refused_unopened(
    tmp_path: Path, path: str, make: Any, why: str
) -> None:
    from harborkit.fix.apply import apply_plan
    from harborkit.fix.target import FixRefused, Target
    from harborkit.model.change import FileChange, Plan

    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    if make:
        make(root / path.lstrip("/"))
    before = snapshot(root)
    plan = Plan(files=(FileChange(("x",), path, b"new\n", None, "r"),))
    t0 = time.monotonic()
    with pytest.raises(FixRefused) as e:
        apply_plan(plan, Target.of(str(root)), host_name="h", plan_id="p")
    assert time.monotonic() - t0 < 10  # a FIFO is never opened: nothing waits on it
    assert e.value.message == f"cannot write {why}; nothing was changed"
    after = {k: v for k, v in snapshot(root).items() if not k.startswith("var")}
    assert after == before


# --- a complete rollback leaves a sysroot exactly as it was ----------------------

#: every fixture sysroot has something to fix with these (centos7-compliant: the node line)
ROUND_TRIP = (*OPTS, "--node", "server60=192.168.3.60")


def tree_listing(root: Path) -> list[tuple[str, str, int, int, int, int, str]]:
    """Every path below ``root`` (``root`` too, links not followed): its type and
    mode, owner, group, modification time (ns), size and link target."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            p = Path(dirpath, name) if name != "." else Path(dirpath)
            if name == "." and p != root:
                continue  # each folder is listed once, by its parent
            st = p.lstat()
            link = os.readlink(p) if p.is_symlink() else ""
            out.append(
                (
                    p.relative_to(root).as_posix(),
                    stat_mode(st.st_mode),
                    st.st_uid,
                    st.st_gid,
                    st.st_mtime_ns,
                    st.st_size if not p.is_dir() else 0,
                    link,
                )
            )
    return sorted(out)


def stat_mode(mode: int) -> str:
    import stat

    return stat.filemode(mode)


def assert_same_tree(pristine: Path, root: Path) -> None:
    """``diff -r`` finds nothing, and every path has the same mode, owner and mtime."""
    d = subprocess.run(
        ["diff", "-r", "--no-dereference", str(pristine), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (d.returncode, d.stdout, d.stderr) == (0, "", "")
    assert tree_listing(root) == tree_listing(pristine)


def twins(name: str, tmp_path: Path, prepare: Any = None) -> tuple[Path, Path]:
    """A sysroot to fix and its pristine twin (same bytes, modes and mtimes)."""
    root = copy_sysroot(name, tmp_path / "root")
    if prepare is not None:
        prepare(root)
    import shutil

    pristine = tmp_path / "pristine"
    shutil.copytree(root, pristine, symlinks=True)
    assert_same_tree(pristine, root)
    return root, pristine


def _harborkit_there(root: Path) -> None:
    """/var/lib/harborkit exists, with a file of its own and its own mode and mtime."""
    base = root / "var/lib/harborkit"
    base.mkdir(parents=True)
    (base / "README").write_text("kept\n")
    base.chmod(0o750)
    os.utime(base, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))


def _journal_folder_there(root: Path) -> None:
    """The journal folder itself exists (empty, mode 0711)."""
    _harborkit_there(root)
    fix = root / JOURNAL
    fix.mkdir()
    fix.chmod(0o711)
    os.utime(fix, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_001))


def _lock_there(root: Path) -> None:
    """The journal folder with the lock file an earlier harborkit left (a pid in it)."""
    _journal_folder_there(root)
    lock = root / JOURNAL / ".lock"
    lock.write_text("4242\n")
    lock.chmod(0o600)
    os.utime(lock, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_003))
    os.utime(root / JOURNAL, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_004))


def _var_is_a_link(root: Path) -> None:
    """/var is a link to a folder of its own (the journal folders are made in it)."""
    (root / "srv/data").mkdir(parents=True)
    (root / "var").symlink_to("srv/data")
    os.utime(root / "srv/data", ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_002))


@pytest.mark.parametrize("name", ["guide-as-written", "debian12", "centos7-compliant"])
@pytest.mark.parametrize(
    "before",
    [None, _harborkit_there, _journal_folder_there, _lock_there, _var_is_a_link],
    ids=["no-var", "harborkit-there", "journal-folder-there", "lock-there", "var-is-a-link"],
)
def test_apply_then_rollback_leaves_the_sysroot_as_it_was(
    name: str, before: Any, tmp_path: Path
) -> None:
    root, pristine = twins(name, tmp_path, before)
    r = hk("fix", "--root", str(root), *ROUND_TRIP, "--apply")
    assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr
    (jdir,) = (root / JOURNAL).glob("2*")
    assert (root / JOURNAL / ".lock").is_file()
    changed = subprocess.run(
        ["diff", "-r", "-q", "--no-dereference", str(pristine), str(root)], capture_output=True
    )
    assert changed.returncode == 1  # the apply changed files (the test can fail)

    rb = hk("fix", "--root", str(root), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert rb.stdout.endswith(
        f"removed: journal {jdir.name} (a sysroot keeps no journal of a fix rolled back)\n"
    )
    assert_same_tree(pristine, root)
    assert hk("fix", "--root", str(root), "--list").stdout == (
        f"no fixes journaled in {root}/{JOURNAL}\n"
    )


def test_several_applies_rolled_back_in_reverse_order_leave_the_sysroot_as_it_was(
    tmp_path: Path,
) -> None:
    root, pristine = twins("guide-as-written", tmp_path)
    steps = (("--only", "limits.pam"), ("--only", "docker.daemon_json"), ("--only", "network"))
    ids = []
    for only in steps:
        r = hk("fix", "--root", str(root), *ROUND_TRIP, *only, "--apply")
        assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr
        m = re.search(r"as journal (\S+):", r.stdout)
        assert m, r.stdout
        ids.append(m.group(1))
    assert sorted(p.name for p in (root / JOURNAL).glob("2*")) == sorted(ids)
    for n, jid in enumerate(reversed(ids)):
        rb = hk("fix", "--root", str(root), "--rollback")
        assert rb.returncode == ExitCode.OK, rb.stderr
        assert rb.stdout.startswith(f"harborkit fix: rolled back journal {jid}: ")
        left = sorted(p.name for p in (root / JOURNAL).glob("2*")) if n < 2 else []
        assert left == sorted(ids[: 2 - n])
    assert_same_tree(pristine, root)


def test_rollbacks_in_any_order_leave_the_sysroot_as_it_was(tmp_path: Path) -> None:
    root, pristine = twins("guide-as-written", tmp_path)
    ids = []
    for only in (("--only", "limits.pam"), ("--only", "network")):
        r = hk("fix", "--root", str(root), *ROUND_TRIP, *only, "--apply")
        assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr
        ids.append(re.search(r"as journal (\S+):", r.stdout).group(1))  # type: ignore[union-attr]
    for jid in ids:  # the first (which made the journal folder) first
        rb = hk("fix", "--root", str(root), "--rollback", jid)
        assert rb.returncode == ExitCode.OK, rb.stderr
    assert not (root / "var").exists()
    d = subprocess.run(["diff", "-r", "--no-dereference", str(pristine), str(root)])
    assert d.returncode == 0


def test_a_rollback_that_cannot_complete_keeps_the_journal(tmp_path: Path) -> None:
    root, pristine = twins("guide-as-written", tmp_path)
    r = hk("fix", "--root", str(root), *ROUND_TRIP, "--apply")
    assert r.returncode == ExitCode.FAILED, r.stderr
    (jdir,) = (root / JOURNAL).glob("2*")
    kept = {p.relative_to(root).as_posix() for p in (root / "var").rglob("*")}
    locked = root / "etc/docker"
    subprocess.run(["chattr", "+i", str(locked)], check=True)
    try:
        rb = hk("fix", "--root", str(root), "--rollback")
        assert rb.returncode == ExitCode.ENVIRONMENT, rb.stderr
        assert rb.stderr.startswith(f"harborkit: error: rollback of {jdir.name}: "), rb.stderr
        # the journal, its lock, its origin record and its folders: all still there
        assert {p.relative_to(root).as_posix() for p in (root / "var").rglob("*")} == kept
        assert json.loads((jdir / "journal.json").read_text())["state"] == "applied"
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    rb = hk("fix", "--root", str(root), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert_same_tree(pristine, root)


def _fds_of(pid: int) -> list[str]:
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            out.append(os.readlink(fd))
    return out


def test_a_fix_waiting_for_a_rollback_that_removes_the_lock_makes_its_journal_folder_anew(
    tmp_path: Path,
) -> None:
    """The rollback removes the lock file and the journal folder while a second
    apply waits on that lock: the second takes a lock in the tree, never the
    removed one, and records the folders it made again, so its own rollback
    leaves the sysroot as it was too."""
    from harborkit.fix.lock import hold_lock
    from harborkit.fix.rollback import rollback
    from harborkit.fix.target import Target

    root, pristine = twins("guide-as-written", tmp_path)
    r = hk("fix", "--root", str(root), *ROUND_TRIP, "--only", "limits.pam", "--apply")
    assert r.returncode == ExitCode.OK, r.stderr
    target = Target.of(str(root))
    hold_lock(target)  # this process is the rollback in progress
    waiting = subprocess.Popen(
        [sys.executable, "-m", "harborkit", "fix", "--root", str(root), *ROUND_TRIP, "--apply"],
        env={**os.environ, "HARBORKIT_FIX_LOCK_WAIT": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        lock = str(root / JOURNAL / ".lock")
        deadline = time.monotonic() + 60
        while lock not in _fds_of(waiting.pid):  # it holds the lock file open: it waits
            assert waiting.poll() is None, waiting.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        done = rollback(target, None)
        assert done.forgotten
        assert not (root / "var").exists()
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == ExitCode.FAILED, err
    assert "applied plan" in out
    (jdir,) = (root / JOURNAL).glob("2*")
    assert json.loads((root / JOURNAL / ".origin").read_text())["folders"] == [
        "/var",
        "/var/lib",
        "/var/lib/harborkit",
        "/var/lib/harborkit/fix",
    ]
    rb = hk("fix", "--root", str(root), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert_same_tree(pristine, root)


def test_a_journal_half_removed_by_a_killed_rollback_goes_with_the_next(tmp_path: Path) -> None:
    root, pristine = twins("guide-as-written", tmp_path)
    r = hk("fix", "--root", str(root), *ROUND_TRIP, "--apply")
    assert r.returncode == ExitCode.FAILED, r.stderr
    half = root / JOURNAL / ".20260101T000000Z-abcdef.removed"
    (half / "files").mkdir(parents=True)
    (half / "files" / "000").write_bytes(b"saved\n")
    (half / "journal.json").write_text("{}")
    rb = hk("fix", "--root", str(root), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert_same_tree(pristine, root)


@pytest.mark.parametrize(
    "origin",
    [
        "not json",
        '{"folders": ["/var/lib/harborkit/fix"], "mtime_ns": 1, "lock": true}',
        '{"folders": [], "mtime_ns": 1, "lock": true, "journals": [], "lock_was": 7, '
        '"lock_mtime_ns": null}',
        '{"folders": ["/etc", "/etc/docker"], "mtime_ns": 1, "lock": true, "journals": [], "lock_was": null, "lock_mtime_ns": null}',
        '{"folders": ["/var/lib/harborkit/fix"], "mtime_ns": -1, "lock": true, "journals": [], "lock_was": null, "lock_mtime_ns": null}',
        '{"folders": ["/var", "/var/lib/../lib"], "mtime_ns": 1, "lock": true, "journals": [], "lock_was": null, "lock_mtime_ns": null}',
    ],
    ids=[
        "not-json",
        "a-key-missing",
        "bad-lock-was",
        "other-folders",
        "bad-mtime",
        "not-normalized",
    ],
)
def test_an_origin_record_not_to_be_trusted_unmakes_nothing_but_the_journal(
    origin: str, tmp_path: Path
) -> None:
    """``.origin`` is data from the audited disk: a wrong one leaves the journal
    folder, its lock and every other folder where they are."""
    root, pristine = twins("guide-as-written", tmp_path)
    r = hk("fix", "--root", str(root), *ROUND_TRIP, "--apply")
    assert r.returncode == ExitCode.FAILED, r.stderr
    (root / JOURNAL / ".origin").write_text(origin)
    rb = hk("fix", "--root", str(root), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert "\nremoved: journal " in rb.stdout
    assert sorted(p.name for p in (root / JOURNAL).iterdir()) == [".lock", ".origin"]
    assert (root / "etc/docker").is_dir()
    d = subprocess.run(
        ["diff", "-r", "--no-dereference", str(pristine), str(root)], capture_output=True, text=True
    )
    assert (d.returncode, d.stdout) == (1, f"Only in {root}: var\n")


def test_the_live_host_keeps_its_journal_after_a_rollback() -> None:
    """On a live host (a private live root) the journal of a rolled-back fix
    stays under /var/lib/harborkit/fix, listed as rolled back: the record of
    what was changed and undone on a running machine."""
    if os.geteuid() != 0:
        pytest.skip("a private live root needs root")
    from tests.support.cli import MAIN, PRELUDE
    from tests.support.liveroot import LiveRoot

    hosts = "127.0.0.1\tlocalhost\n"
    script = (
        "P=$1; C=$2; set -- fix --only network.nodes --node server60=192.168.3.60; "
        '"$P" -c "$C" "$@" --apply; echo "apply=$?"; '
        '"$P" -c "$C" fix --rollback; echo "rollback=$?"; '
        '"$P" -c "$C" fix --list; cat /etc/hosts; '
        "ls -A /var/lib/harborkit/fix | grep -v '^2' ; ls /var/lib/harborkit/fix | grep -c '^2'"
    )
    r = LiveRoot(files={"/etc/hosts": hosts}, remove=("/var/lib/harborkit",)).run(
        ["/bin/sh", "-c", script, "sh", sys.executable, PRELUDE + MAIN]
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "apply=0\n" in out and "rollback=0\n" in out, out + r.stderr
    m = re.search(r"\nharborkit fix: rolled back journal (\S+): 1 file\(s\) restored\n", out)
    assert m, out
    assert "(a sysroot keeps no journal of a fix rolled back)" not in out
    assert re.search(rf"\n{m.group(1)} +\S+ +rolled-back +1 +network\.nodes\n", out), out
    assert out.endswith(f"{hosts}.lock\n1\n"), out


def test_a_rollback_waiting_for_the_rollback_that_removes_the_journal_folder_makes_none(
    tmp_path: Path,
) -> None:
    """Two rollbacks of the one journal of a sysroot: the second, waiting on
    the lock the first removes, finds nothing to roll back and makes no
    journal folder again: the sysroot stays as it was."""
    from harborkit.fix.lock import hold_lock
    from harborkit.fix.rollback import rollback
    from harborkit.fix.target import Target

    root, pristine = twins("guide-as-written", tmp_path)
    r = hk("fix", "--root", str(root), *ROUND_TRIP, "--apply")
    assert r.returncode == ExitCode.FAILED, r.stderr
    target = Target.of(str(root))
    assert hold_lock(target)
    waiting = subprocess.Popen(
        [sys.executable, "-m", "harborkit", "fix", "--root", str(root), "--rollback"],
        env={**os.environ, "HARBORKIT_FIX_LOCK_WAIT": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        lock = str(root / JOURNAL / ".lock")
        deadline = time.monotonic() + 60
        while lock not in _fds_of(waiting.pid):
            assert waiting.poll() is None, waiting.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert rollback(target, None).forgotten
        out, err = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert (waiting.returncode, out, err) == (
        ExitCode.USAGE,
        "",
        f"harborkit: error: no fix to roll back in {root}/{JOURNAL}\n",
    )
    assert_same_tree(pristine, root)


@pytest.mark.parametrize("mode", [0o4755, 0o2750, 0o6711, 0o1644])
def test_setuid_setgid_and_sticky_bits_and_owner_survive_apply_and_rollback(
    guide: Path, mode: int
) -> None:
    """The owner was set after the mode, and a chown clears the setuid and
    setgid bits (root's too): apply left 4755 as 755 and rollback "restored"
    the file without them."""
    profile = guide / "etc/profile"
    os.chown(profile, 1234, 2345)
    profile.chmod(mode)
    before = tree_hashes(guide)
    r = hk("fix", "--root", str(guide), *OPTS, "--apply")
    assert r.returncode == ExitCode.FAILED, r.stderr
    st = profile.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (mode, 1234, 2345)
    assert "harborkit" in profile.read_text()  # it was rewritten
    rb = hk("fix", "--root", str(guide), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    st = profile.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (mode, 1234, 2345)
    assert tree_hashes(guide) == before


def test_a_file_swapped_between_the_check_and_its_write_is_not_overwritten(guide: Path) -> None:
    """The plan's bytes were checked for every file before the first write, then
    each file was written without looking again: a file changed in between (here
    while the first is written) lost that change to bytes planned from the old."""
    _, out = plan_line(guide)
    order = re.findall(r"^\+\+\+ b/(\S+)$", out, re.M)
    second = guide / order[1]
    first = guide / order[0]
    first_planned_from = first.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harborkit", "fix", "--root", str(guide), *OPTS, "--apply"],
        env={**os.environ, "HARBORKIT_FIX_TEST_STALL": "1:5"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    # the first file is in place (renamed over, no temporary beside it) and the
    # apply stalls 5 s before the second: the journal alone appears before that
    while first.read_bytes() == first_planned_from:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    swapped = b"# changed by someone else while the fix ran\n" + second.read_bytes()
    second.write_bytes(swapped)
    expected = tree_hashes(guide)
    first_before = tree_hashes(copy_sysroot("guide-as-written", guide.parent / "fresh"))
    expected[order[0]] = first_before[order[0]]
    out_, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.ENVIRONMENT, err
    # a sysroot keeps no journal of an apply it undid (issue 20)
    assert err == (
        f"harborkit: error: cannot write /{order[1]}: it changed while the fix was being "
        f"applied (now sha256 {hashlib.sha256(swapped).hexdigest()[:12]}); the 1 file(s) "
        "already written are restored (the sysroot is as it was)\n"
    )
    assert second.read_bytes() == swapped
    assert tree_hashes(guide) == expected


def test_journal_ids_of_one_second_sort_in_the_order_made(tmp_path: Path) -> None:
    """``--rollback`` without an id takes the last journal by name: two applies
    within one second must not get their order from random suffixes."""
    import datetime as dt

    from harborkit.fix import journal as fix_journal
    from harborkit.fix import target as fix_target

    root = tmp_path / "root"
    base = root / JOURNAL
    base.mkdir(parents=True)
    target = fix_target.Target.of(str(root))
    for suffix in ("fffff0", "000001", "7f0000"):
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        (base / f"{stamp}-{suffix}").mkdir()
        made = fix_journal.new_id(target)
        assert made > max(p.name for p in base.iterdir()), (made, sorted(os.listdir(base)))
        assert fix_journal.JOURNAL_ID.fullmatch(made)


# --- every change to the host's files goes through the host ----------------------


class _Through:
    """A sysroot's write side that records each call (and refuses to write files when told)."""

    def __init__(self, root: Path, *, refuse: bool = False) -> None:
        from harborkit.host.local import SysrootHost

        self.host = SysrootHost(root)
        self.refuse = refuse
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self.host, name)

        def call(path: str, *args: Any, **kw: Any) -> Any:
            if name in ("write_file", "remove_file", "remove_dir", "set_mtime"):
                self.calls.append((name, path))
                if self.refuse and name == "write_file":
                    raise PermissionError(13, "Permission denied", path)
            return inner(path, *args, **kw)

        return call


def _through_plan(root: Path) -> Any:
    from harborkit.model.change import FileChange, Plan

    (root / "etc").mkdir(parents=True)
    (root / "etc" / "a").write_bytes(b"old\n")
    return Plan(
        files=(
            FileChange(("x",), "/etc/a", b"new\n", b"old\n", "r"),
            FileChange(("x",), "/etc/new/dir/b", b"made\n", None, "r"),
        )
    )


def test_apply_and_rollback_change_the_host_files_only_through_the_host(tmp_path: Path) -> None:
    from harborkit.fix.apply import apply_plan
    from harborkit.fix.rollback import rollback
    from harborkit.fix.target import Target

    root = tmp_path / "root"
    plan = _through_plan(root)
    before = snapshot(root)
    via = _Through(root)
    applied = apply_plan(plan, Target.of(str(root), via=via), host_name="h", plan_id="p")
    assert applied.journal is not None
    assert via.calls == [("write_file", "/etc/a"), ("write_file", "/etc/new/dir/b")]
    changed = {k for k, v in snapshot(root).items() if before.get(k) != v}
    assert {k for k in changed if not k.startswith("var")} == {
        "etc",  # the folder that holds the new folder
        "etc/a",
        "etc/new",
        "etc/new/dir",
        "etc/new/dir/b",
    }
    back = _Through(root)
    rollback(Target.of(str(root), via=back), applied.journal.id)
    assert back.calls == [
        ("remove_file", "/etc/new/dir/b"),
        ("remove_dir", "/etc/new/dir"),
        ("remove_dir", "/etc/new"),
        ("set_mtime", "/etc"),
        ("write_file", "/etc/a"),
        ("set_mtime", "/etc/a"),
        ("set_mtime", "/etc"),
        # then the journal folder harborkit made in the sysroot, and its folders
        ("remove_dir", "/var/lib/harborkit/fix"),
        ("remove_dir", "/var/lib/harborkit"),
        ("remove_dir", "/var/lib"),
        ("remove_dir", "/var"),
        ("set_mtime", "/"),
    ]
    assert snapshot(root) == before


def test_a_host_that_refuses_every_write_leaves_every_file_of_the_sysroot(tmp_path: Path) -> None:
    from harborkit.errors import EnvironmentProblem
    from harborkit.fix.apply import apply_plan
    from harborkit.fix.target import Target

    root = tmp_path / "root"
    plan = _through_plan(root)
    before = snapshot(root)
    via = _Through(root, refuse=True)
    with pytest.raises(EnvironmentProblem) as e:
        apply_plan(plan, Target.of(str(root), via=via), host_name="h", plan_id="p")
    assert e.value.message == (
        "cannot write /etc/a: Permission denied; the 1 file(s) already written are "
        "restored (the sysroot is as it was)"
    )
    # the one write tried is the one refused: nothing else wrote a file
    assert [c for c in via.calls if c[0] == "write_file"] == [("write_file", "/etc/a")]
    assert snapshot(root) == before
