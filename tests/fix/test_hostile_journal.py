"""A journal inside a sysroot is data from the audited disk (issue 18, class 8),
and two fixes at once on one root (the lock).

Every test tampers with the journal of a real apply of the guide-as-written
sysroot, runs the real CLI, and asserts the one-line refusal naming the
journal, its exit code, and that nothing changed: not the sysroot, not the
canary folder beside it that the tampered journal points at.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from tests.fix.helpers import JOURNAL, REPO, copy_sysroot, hk, nth_written, tree_hashes
from tests.fix.test_apply import snapshot as _snapshot

OPTS = ("--install-dir", "/opt/harbor")


def snapshot(top: Path) -> dict[str, tuple[str, str, int, int]]:
    """Every name under ``top`` but the lock (which names the last process that held it)."""
    return {k: v for k, v in _snapshot(top).items() if not k.endswith("/.lock")}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A sysroot the fix was applied to (copied by each test), and its journal id."""
    root = copy_sysroot("guide-as-written", tmp_path_factory.mktemp("applied") / "root")
    r = hk("fix", "--root", str(root), *OPTS, "--apply")
    assert r.returncode == ExitCode.FAILED, r.stderr
    m = re.search(r"as journal (\S+):", r.stdout)
    assert m, r.stdout
    return root, m.group(1)


class World:
    def __init__(self, root: Path, jid: str, outside: Path) -> None:
        self.root = root
        self.jid = jid
        self.outside = outside
        self.jdir = root / JOURNAL / jid

    @property
    def journal(self) -> dict:
        return json.loads((self.jdir / "journal.json").read_text())

    def write(self, doc: object) -> None:
        (self.jdir / "journal.json").write_text(json.dumps(doc))

    def entry(self, path: str) -> dict:
        return next(e for e in self.journal["entries"] if e["path"] == path)

    def edit(self, change: Callable[[dict], None]) -> None:
        doc = self.journal
        change(doc)
        self.write(doc)


@pytest.fixture
def world(applied: tuple[Path, str], tmp_path: Path) -> Iterator[World]:
    template, jid = applied
    root = tmp_path / "root"
    shutil.copytree(template, root, symlinks=True)
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "empty").mkdir()
    (outside / "canary.conf").write_bytes(b"canary\n")
    (outside / "keep/file").write_bytes(b"keep\n")
    old = time.time() - 3600
    for p in [outside, *outside.rglob("*")]:
        os.utime(p, (old, old))
    yield World(root, jid, outside)


def _damaged(w: World, tamper: Callable[[World], None], why: str) -> None:
    """Tamper, roll back: refused naming the journal, nothing changed anywhere."""
    tamper(w)
    out_before = snapshot(w.outside)
    root_before = snapshot(w.root)
    r = hk("fix", "--root", str(w.root), "--rollback")
    assert (r.returncode, r.stdout) == (ExitCode.FIX_REFUSED, ""), r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"harborkit: error: journal {w.jid} is damaged"), r.stderr
    assert why in r.stderr, r.stderr
    assert r.stderr.endswith(f"nothing was restored ({w.root}/{JOURNAL}/{w.jid})\n"), r.stderr
    assert snapshot(w.outside) == out_before
    assert snapshot(w.root) == root_before


LIMITS = "/etc/security/limits.conf"
DROPIN = "/etc/security/limits.d/90-harbor.conf"


def _set(path: str, key: str, value: object) -> Callable[[World], None]:
    def tamper(w: World) -> None:
        def change(doc: dict) -> None:
            for e in doc["entries"]:
                if e["path"] == path:
                    e[key] = value

        w.edit(change)

    return tamper


def _rel_out(w: World, rel: str) -> str:
    return "/.." * 12 + str(w.outside / rel)


TAMPERED_PATHS: dict[str, tuple[Callable[[World], None], str]] = {
    "path with ..": (
        lambda w: _set(LIMITS, "path", _rel_out(w, "canary.conf"))(w),
        "is not normalized",
    ),
    "path with .. in the middle": (
        lambda w: _set(LIMITS, "path", "/etc/../../../" + str(w.outside / "canary.conf"))(w),
        "is not normalized",
    ),
    "path with a NUL": (
        lambda w: _set(LIMITS, "path", "/etc/security/limits.conf\x00.x")(w),
        "holds a NUL byte",
    ),
    "relative path": (lambda w: _set(LIMITS, "path", "etc/passwd")(w), "not an absolute path"),
    "path through an absolute link out": (
        lambda w: (
            (w.root / "etc/evil").symlink_to(w.outside),
            _set(LIMITS, "path", "/etc/evil/canary.conf")(w),
        ),
        "a link or a file on its way leads to no folder of the sysroot",
    ),
    "created file through a relative link out": (
        lambda w: (
            (w.root / "etc/evil").symlink_to("../" * 12 + str(w.outside)[1:]),
            _set(DROPIN, "path", "/etc/evil/canary.conf")(w),
        ),
        "a link or a file on its way leads to no folder of the sysroot",
    ),
    "created_dirs outside": (
        lambda w: _set(DROPIN, "created_dirs", [str(w.outside / "empty")])(w),
        "is no folder of",
    ),
    "created_dirs with ..": (
        lambda w: _set(DROPIN, "created_dirs", [_rel_out(w, "empty")])(w),
        "is not normalized",
    ),
    "created_dirs not nested": (
        lambda w: _set(DROPIN, "created_dirs", ["/etc/security", "/opt"])(w),
        "created_dirs are not nested folders",
    ),
    "created_dirs not above the file": (
        lambda w: _set(DROPIN, "created_dirs", ["/opt"])(w),
        "/opt is no folder of /etc/security/limits.d/90-harbor.conf",
    ),
    "backup name climbing out": (
        lambda w: _set(LIMITS, "backup", "../../../../canary")(w),
        "backup is not a file name of the journal",
    ),
    "backup of a created file": (
        lambda w: _set(DROPIN, "backup", "000")(w),
        "a created file has a backup",
    ),
    "mode not a number": (lambda w: _set(LIMITS, "mode", "0644")(w), "mode is not an integer"),
    "uid negative": (lambda w: _set(LIMITS, "uid", -1)(w), "uid is not an integer"),
    "existed not a boolean": (lambda w: _set(LIMITS, "existed", "yes")(w), "existed"),
    "a 5000-digit mode": (
        lambda w: (w.jdir / "journal.json").write_text(
            (w.jdir / "journal.json").read_text().replace('"mode": 420', '"mode": ' + "9" * 5000, 1)
        ),
        "journal.json",
    ),
    "NaN": (
        lambda w: (w.jdir / "journal.json").write_text(
            (w.jdir / "journal.json").read_text().replace('"mode": 420', '"mode": NaN', 1)
        ),
        "NaN is not JSON",
    ),
    "deep nesting": (
        lambda w: (w.jdir / "journal.json").write_text("[" * 100000 + "]" * 100000),
        "nested too deeply",
    ),
    "not JSON": (lambda w: (w.jdir / "journal.json").write_text("{oops"), "not JSON (line 1"),
    "a list": (lambda w: w.write([1, 2]), "not a JSON object"),
    "an unknown key": (lambda w: w.edit(lambda d: d.update(evil=1)), "missing or unknown"),
    "entries not a list": (lambda w: w.edit(lambda d: d.update(entries={})), "not a list"),
    "another journal's id": (
        lambda w: w.edit(lambda d: d.update(id="20000101T000000Z-000000")),
        "names another journal",
    ),
    "the same path twice": (
        lambda w: w.edit(lambda d: d["entries"].append(dict(d["entries"][0]))),
        "is journaled twice",
    ),
    "journal.json a link": (
        lambda w: (
            (w.outside / "forged.json").write_text(json.dumps(w.journal)),
            (w.jdir / "journal.json").unlink(),
            (w.jdir / "journal.json").symlink_to(w.outside / "forged.json"),
        ),
        "journal.json is a symbolic link",
    ),
    "journal.json a FIFO": (
        lambda w: ((w.jdir / "journal.json").unlink(), os.mkfifo(w.jdir / "journal.json")),
        "journal.json is not a regular file",
    ),
    "journal.json missing": (
        lambda w: (w.jdir / "journal.json").unlink(),
        "journal.json is missing",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERED_PATHS))
def test_a_tampered_journal_is_refused_whole_and_changes_nothing(world: World, case: str) -> None:
    tamper, why = TAMPERED_PATHS[case]
    if case == "created_dirs outside":
        why = f"{world.outside / 'empty'} is no folder of {DROPIN}"
    _damaged(world, tamper, why)


def _backup(w: World, path: str) -> Path:
    return w.jdir / "files" / w.entry(path)["backup"]


def _relink_backup(w: World, target: str) -> None:
    b = _backup(w, LIMITS)
    b.unlink()
    b.symlink_to(target)


def _manifest(w: World, fn: Callable[[str], str]) -> None:
    m = w.jdir / "manifest.sha256"
    m.write_text(fn(m.read_text()))


BACKUPS: dict[str, tuple[Callable[[World], None], str]] = {
    "backup a link to /etc/shadow": (
        lambda w: _relink_backup(w, "/etc/shadow"),
        "the saved copy of /etc/security/limits.conf (files/000) is a symbolic link",
    ),
    "backup a link to a file outside": (
        lambda w: _relink_backup(w, str(w.outside / "canary.conf")),
        "(files/000) is a symbolic link",
    ),
    "backup a hard link": (
        lambda w: (
            (w.outside / "linked").write_bytes(_backup(w, LIMITS).read_bytes()),
            _backup(w, LIMITS).unlink(),
            os.link(w.outside / "linked", _backup(w, LIMITS)),
        ),
        "(files/000) is a hard link",
    ),
    "backup edited": (
        lambda w: _backup(w, LIMITS).write_bytes(b"* hard core unlimited\n"),
        "(files/000) does not match its sha256",
    ),
    "backup edited, the manifest too": (
        lambda w: (
            _backup(w, LIMITS).write_bytes(b"evil\n"),
            _manifest(
                w,
                lambda t: t.replace(
                    w.entry(LIMITS)["sha256"], hashlib.sha256(b"evil\n").hexdigest()
                ),
            ),
        ),
        "manifest.sha256 does not list files/000 of /etc/security/limits.conf",
    ),
    "backup missing": (lambda w: _backup(w, LIMITS).unlink(), "(files/000) is missing"),
    "backup a folder": (
        lambda w: (_backup(w, LIMITS).unlink(), _backup(w, LIMITS).mkdir()),
        "(files/000) is not a regular file",
    ),
    "manifest missing": (
        lambda w: (w.jdir / "manifest.sha256").unlink(),
        "manifest.sha256 is missing",
    ),
    "manifest garbled": (
        lambda w: _manifest(w, lambda t: "../../etc/shadow  files/000\n" + t),
        "manifest.sha256:1 is not 'SHA256  files/NAME'",
    ),
    "manifest a link": (
        lambda w: (
            (w.jdir / "manifest.sha256").rename(w.outside / "m"),
            (w.jdir / "manifest.sha256").symlink_to(w.outside / "m"),
        ),
        "manifest.sha256 is a symbolic link",
    ),
    "files/ a link out": (
        lambda w: (
            shutil.copytree(w.jdir / "files", w.outside / "files"),
            shutil.rmtree(w.jdir / "files"),
            (w.jdir / "files").symlink_to(w.outside / "files"),
        ),
        "its files/ is no plain folder (Not a directory)",
    ),
}


@pytest.mark.parametrize("case", list(BACKUPS))
def test_backups_are_read_only_from_the_journal_and_checked_first(world: World, case: str) -> None:
    tamper, why = BACKUPS[case]
    _damaged(world, tamper, why)


def test_a_damaged_journal_named_by_its_id_is_refused_alike(world: World) -> None:
    _set(LIMITS, "path", "/etc/../../x")(world)
    before = snapshot(world.root)
    r = hk("fix", "--root", str(world.root), "--rollback", world.jid)
    assert (r.returncode, r.stdout) == (ExitCode.FIX_REFUSED, "")
    assert r.stderr == (
        f'harborkit: error: journal {world.jid} is damaged (journal.json: path "/etc/../../x" '
        "is not normalized (an empty, '.' or '..' component)); nothing was restored "
        f"({world.root}/{JOURNAL}/{world.jid})\n"
    )
    assert snapshot(world.root) == before


def test_a_journal_folder_that_is_a_link_is_damaged(world: World) -> None:
    moved = world.outside / "j"
    shutil.copytree(world.jdir, moved)
    shutil.rmtree(world.jdir)
    world.jdir.symlink_to(moved)
    before = snapshot(world.outside), snapshot(world.root)
    r = hk("fix", "--root", str(world.root), "--rollback")
    assert (r.returncode, r.stdout) == (ExitCode.FIX_REFUSED, "")
    assert r.stderr == (
        f"harborkit: error: journal {world.jid} is damaged (the journal folder is a symbolic "
        f"link); nothing was restored ({world.root}/{JOURNAL}/{world.jid})\n"
    )
    assert (snapshot(world.outside), snapshot(world.root)) == before


def test_a_lock_that_is_a_link_or_a_hard_link_is_never_written_through(world: World) -> None:
    lock = world.root / JOURNAL / ".lock"
    canary = world.outside / "canary.conf"
    for make, what in (
        (lambda: lock.symlink_to(canary), "Too many levels of symbolic links"),
        (lambda: os.link(canary, lock), "is a hard link"),
        (lambda: os.mkfifo(lock), "is not a regular file"),
    ):
        lock.unlink(missing_ok=True)
        make()
        before = snapshot(world.outside), snapshot(world.root)
        r = hk("fix", "--root", str(world.root), "--rollback")
        assert (r.returncode, r.stdout) == (ExitCode.FIX_REFUSED, "")
        assert r.stderr.startswith(
            f"harborkit: error: cannot open the lock {world.root}/{JOURNAL}/.lock: "
            if "symbolic" in what
            else f"harborkit: error: the lock {world.root}/{JOURNAL}/.lock "
        ), r.stderr
        assert what in r.stderr and r.stderr.endswith("(nothing was changed)\n")
        assert (snapshot(world.outside), snapshot(world.root)) == before


def test_rollback_id_is_a_name_not_a_path(world: World) -> None:
    for bad in ("../../../outside", "/etc", world.jid + "/..", "."):
        r = hk("fix", "--root", str(world.root), "--rollback", bad)
        assert (r.returncode, r.stderr) == (
            ExitCode.USAGE,
            f"harborkit: error: --rollback {bad}: no such journal in {world.root}/{JOURNAL}\n",
        )


def test_an_intact_journal_still_rolls_back_every_byte(world: World) -> None:
    r = hk("fix", "--root", str(world.root), "--rollback")
    assert r.returncode == ExitCode.OK, r.stderr
    fresh = copy_sysroot("guide-as-written", world.outside / "fresh")
    assert tree_hashes(world.root) == tree_hashes(fresh)
    assert not (world.root / "etc/systemd/system/docker.service.d").exists()


# --- an interrupted apply, and two at once ---


def _start_stalled(root: Path, after: int = 1) -> subprocess.Popen[bytes]:
    original = tree_hashes(root)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harborkit", "fix", "--root", str(root), *OPTS, "--apply"],
        env={**os.environ, "HARBORKIT_FIX_TEST_STALL": f"{after}:120"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "apply ended before it stalled"
        if nth_written(root, original, after):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the apply never stalled")


def test_a_second_apply_or_rollback_is_refused_while_one_runs(tmp_path: Path) -> None:
    root = copy_sysroot("guide-as-written", tmp_path / "root")
    first = _start_stalled(root)
    try:
        during = snapshot(root)
        in_progress = (
            f"harborkit: error: another harborkit fix is in progress (pid {first.pid}) with the "
            f"journal {root}/{JOURNAL}: try again when it has finished (nothing was changed)\n"
        )
        for args in (("--apply", *OPTS), ("--rollback",)):
            t0 = time.monotonic()
            r = hk("fix", "--root", str(root), *args, env={"HARBORKIT_FIX_LOCK_WAIT": "0.5"})
            assert (r.returncode, r.stderr) == (ExitCode.FIX_REFUSED, in_progress), args
            assert time.monotonic() - t0 < 30
            assert "rollback" not in r.stderr.replace("harborkit fix", "")
            assert snapshot(root) == during
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # killed: the lock went with it; the interrupted journal is named, then rolled back
    (jdir,) = list((root / JOURNAL).glob("2*"))
    r = hk("fix", "--root", str(root), *OPTS, "--apply")
    assert (r.returncode, r.stderr) == (
        ExitCode.FIX_REFUSED,
        f"harborkit: error: the apply of journal {jdir.name} was interrupted: run 'harborkit fix "
        f"--rollback {jdir.name}' first (nothing was changed)\n",
    )
    rb = hk("fix", "--root", str(root), "--rollback")
    assert rb.returncode == ExitCode.OK, rb.stderr
    assert tree_hashes(root) == tree_hashes(copy_sysroot("guide-as-written", tmp_path / "fresh"))
    assert not (root / "var").exists()  # the journal of the killed apply went with it
    again = hk("fix", "--root", str(root), *OPTS, "--apply")
    assert again.returncode == ExitCode.FAILED, again.stderr


def test_a_second_apply_waits_for_the_first(tmp_path: Path) -> None:
    root = copy_sysroot("guide-as-written", tmp_path / "root")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harborkit", "fix", "--root", str(root), *OPTS, "--apply"],
        env={**os.environ, "HARBORKIT_FIX_TEST_STALL": "1:3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    deadline = time.monotonic() + 60  # the first holds the lock once its journal is made
    while not list((root / JOURNAL).glob("2*/journal.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "no journal was made"
        time.sleep(0.05)
    r = hk("fix", "--root", str(root), *OPTS, "--apply", env={"HARBORKIT_FIX_LOCK_WAIT": "60"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.FAILED, err
    # the second waited, then judged the host the first left: never told to roll it back
    assert "rollback" not in r.stderr and "interrupted" not in r.stderr
    assert r.returncode in (ExitCode.FAILED, ExitCode.FIX_REFUSED), r.stderr
    if r.returncode == ExitCode.FIX_REFUSED:
        assert "changed since the plan" in r.stderr, r.stderr
    else:
        assert "nothing to change" in r.stdout
    assert len(list((root / JOURNAL).glob("2*"))) == 1
    # the journal folder both made for themselves: gone with the one journal
    assert hk("fix", "--root", str(root), "--rollback").returncode == ExitCode.OK
    assert not (root / "var").exists()
    assert tree_hashes(root) == tree_hashes(copy_sysroot("guide-as-written", tmp_path / "fresh"))


def test_a_damaged_journal_of_an_interrupted_apply_blocks_apply_and_is_named(
    tmp_path: Path,
) -> None:
    root = copy_sysroot("guide-as-written", tmp_path / "root")
    first = _start_stalled(root, after=2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    (jdir,) = list((root / JOURNAL).glob("2*"))
    (jdir / "journal.json").write_text('{"id": "truncated')
    before = snapshot(root)
    r = hk("fix", "--root", str(root), *OPTS, "--apply")
    assert (r.returncode, r.stdout) == (ExitCode.FIX_REFUSED, "")
    assert r.stderr == (
        f"harborkit: error: journal {jdir.name} of an interrupted apply is damaged (journal.json: "
        "not JSON (line 1 column 8: Unterminated string starting at)): it cannot be rolled back; "
        f"put its files back by hand from {root}/{JOURNAL}/{jdir.name}, then remove that folder "
        "(nothing was changed)\n"
    )
    rb = hk("fix", "--root", str(root), "--rollback")
    assert rb.returncode == ExitCode.FIX_REFUSED
    assert rb.stderr.startswith(f"harborkit: error: journal {jdir.name} is damaged (journal.json")
    assert snapshot(root) == before


def test_a_damaged_journal_of_a_finished_apply_does_not_block(world: World) -> None:
    (world.jdir / "journal.json").write_text("garbage")
    r = hk("fix", "--root", str(world.root), *OPTS, "--apply")
    assert r.returncode == ExitCode.FAILED, r.stderr
    assert r.stdout.startswith("harborkit fix: server58 (sysroot): nothing to change\n")
