"""Reports are always valid and safe to display, and -o never replaces what is
not a regular file. The hostile text comes from the audited sysroot's files."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from harborkit.textsafe import terminal_text, xml_text
from tests.test_cli import hk

JUNIT_XSD = Path(__file__).resolve().parent / "report" / "junit" / "jenkins-junit-10.xsd"
# ESC sequences (clear screen, set title, OSC 8 link), BEL, NUL, form feed,
# the one-character CSI (U+009B), a right-to-left override, a lone CR
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://x\x1b\\\x00\x0c\u009b31m\u202eevil\r"
UNSAFE_CHARS = set("\x1b\x07\x00\x0c\u009b\u202e\r")


@pytest.fixture
def hostile_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc/security").mkdir(parents=True)
    (root / "etc/hostname").write_text(f"srv{HOSTILE}58\n")
    (root / "etc/security/limits.conf").write_text(
        f"* soft nofile 655350{HOSTILE}\n"  # read as 655350, the rest quoted in a warning
        f"* hard nofile {'7' * 5000}\n"  # a 5000-character value
        "* soft nproc 655350\n* hard nproc 655350\n"
    )
    return root


def test_table_shows_no_terminal_escapes_and_abridges(hostile_root: Path) -> None:
    r = hk("check", "--root", str(hostile_root), "--only", "limits.pam", "-v")
    assert r.returncode == 1, r.stderr
    assert not UNSAFE_CHARS & set(r.stdout)
    assert "harborkit check: srv\\x1b[2J\\x1b]0;pwned\\x07" in r.stdout
    assert "\\u202eevil\\x0d" in r.stdout.replace("\n", "").replace(" ", "")
    assert "... (4714 more characters)" in r.stdout.replace("\n", "").replace("  ", "")
    assert "7" * 400 not in r.stdout.replace("\n", "").replace(" ", "")


def test_terminal_text_shows_every_unsafe_character() -> None:
    text = terminal_text(HOSTILE)
    assert not UNSAFE_CHARS & set(text)
    assert text == (
        "\\x1b[2J\\x1b]0;pwned\\x07\\x1b]8;;http://x\\x1b\\\\x00\\x0c\\x9b31m\\u202eevil\\x0d"
    )


def test_junit_is_well_formed_and_valid_whatever_the_bytes(
    hostile_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.xml"
    r = hk("check", "--root", str(hostile_root), "-f", "junit", "-o", str(out))
    assert r.returncode == 1, r.stderr
    text = out.read_text(encoding="utf-8")
    ET.fromstring(text.encode())  # well-formed
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(text)
    assert "\\x1b[2J" in text and "\x1b" not in text and "\x00" not in text
    assert r.stderr.startswith("FAILED: ")


def test_xml_text_keeps_what_xml_allows() -> None:
    assert xml_text("tab\tnl\ncr\r é 😀 \ufffd") == "tab\tnl\ncr\r é 😀 \ufffd"
    assert xml_text("\x00\x1b\ufffe\ud800") == "\\x00\\x1b\\ufffe\\ud800"


def test_json_keeps_the_exact_text(hostile_root: Path) -> None:
    r = hk("check", "--root", str(hostile_root), "--only", "limits.pam", "-f", "json")
    assert json.loads(r.stdout)["host"] == f"srv{HOSTILE}58".strip()


# --- -o onto what is not a regular file --------------------------------------


def _report(root: Path, out: Path, *fmt: str) -> object:
    return hk("check", "--root", str(root), "--only", "limits.pam", *fmt, "-o", str(out))


def test_output_through_a_symlink_replaces_the_target_not_the_link(
    hostile_root: Path, tmp_path: Path
) -> None:
    real = tmp_path / "reports" / "r.json"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    r = _report(hostile_root, link, "-f", "json")
    assert r.returncode == 1, r.stderr  # type: ignore[attr-defined]
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["schema"] == "harborkit/report/v1"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600  # the file's mode is kept
    assert sorted(p.name for p in real.parent.iterdir()) == ["r.json"]


def test_output_into_a_fifo_writes_through(hostile_root: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader from now on

    def reader() -> None:
        # before a writer came, read() says EOF too: read until data, then EOF
        deadline = time.monotonic() + 60
        chunks: list[bytes] = []
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                chunks.append(chunk)
            elif chunk == b"" and chunks:
                break
            else:
                time.sleep(0.02)
        os.close(fd)
        got.append(b"".join(chunks))

    t = threading.Thread(target=reader)
    t.start()
    r = _report(hostile_root, fifo, "-f", "json")
    t.join(30)
    assert r.returncode == 1, r.stderr  # type: ignore[attr-defined]
    assert json.loads(got[0])["schema"] == "harborkit/report/v1"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_into_a_fifo_nobody_reads_is_refused_not_hung(
    hostile_root: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    r = _report(hostile_root, fifo)
    assert r.returncode == 3  # type: ignore[attr-defined]
    assert r.stderr == f"harborkit: error: cannot write {fifo}: no process reads this FIFO\n"  # type: ignore[attr-defined]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_onto_a_character_device_writes_through(hostile_root: Path, tmp_path: Path) -> None:
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    except PermissionError:
        pytest.skip("creating a device node needs root (make test runs as root)")
    link = tmp_path / "to-null"
    link.symlink_to(dev)
    for target in (dev, link):
        r = _report(hostile_root, target, "-f", "junit")
        assert r.returncode == 1, r.stderr  # type: ignore[attr-defined]
        assert r.stderr.startswith("FAILED: ")  # type: ignore[attr-defined]
        st = os.lstat(dev)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "root", "to-null"]


def test_output_onto_a_directory_is_refused(hostile_root: Path, tmp_path: Path) -> None:
    r = _report(hostile_root, tmp_path)
    assert r.returncode == 3  # type: ignore[attr-defined]
    assert r.stderr == f"harborkit: error: cannot write {tmp_path}: is a directory\n"  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["table", "json", "junit"])
def test_stderr_summary_for_every_format(hostile_root: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"r.{fmt}"
    r = _report(hostile_root, out, "-f", fmt)
    assert r.returncode == 1  # type: ignore[attr-defined]
    assert r.stdout == ""  # type: ignore[attr-defined]
    host = terminal_text(f"srv{HOSTILE}58")
    assert r.stderr == f"FAILED: 1 check on {host}: 1 fail\n"  # type: ignore[attr-defined]


def test_every_format_survives_a_plugin_message_with_any_characters(tmp_path: Path) -> None:
    import datetime as dt

    from harborkit.engine.plugins import LoadedCheck
    from harborkit.engine.runner import Selection, run_checks
    from harborkit.host.local import SysrootHost
    from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, Status
    from harborkit.report import OutputFormat, renderer

    nasty = "lone \ud800 surrogate, \x1b[2J escape, \x00 nul, \ufffe nonchar, \u202e bidi"

    class Nasty(Check):
        id, title, group = "site.nasty", "nasty text", "site"
        severity, remediation = Severity.LOW, f"fix {nasty}"

        def run(self, ctx: CheckContext) -> Outcome:
            f = Finding(Status.FAIL, nasty, nasty, expected=nasty, actual=nasty, location=nasty)
            return Outcome(Status.FAIL, nasty, (f,))

    report = run_checks(
        [LoadedCheck(Nasty, "site-plugin")],
        CheckContext(SysrootHost(tmp_path), {}),
        profile_name="p",
        profile_path="p.yaml",
        selection=Selection(),
        today=dt.date(2026, 11, 28),
    )
    for fmt in OutputFormat:
        kwargs: dict[str, object] = {"strict": False, "color": fmt is OutputFormat.table}
        text = renderer(fmt)(report, **kwargs)
        text.encode("utf-8")  # writable as UTF-8 whatever the format
        if fmt is OutputFormat.json:
            assert json.loads(text)["results"][0]["message"] == nasty  # exact text kept
        elif fmt is OutputFormat.junit:
            ET.fromstring(text.encode())
            xmlschema.XMLSchema(str(JUNIT_XSD)).validate(text)
        else:
            assert not (UNSAFE_CHARS | {"\ud800", "\x00"}) & set(text.replace("\x1b[", "")), text
            assert "\\x1b[2J" in text and "\x1b[2J" not in text  # rich's own colours only


# -- issue 18 class 12: one-line places (error lines, names) and kept tabs ------


def test_terminal_line_escapes_line_breaks_and_keeps_tabs() -> None:
    from harborkit.textsafe import terminal_line

    assert terminal_line(f"a\tb\nc{HOSTILE}") == (
        "a\tb\\x0ac\\x1b[2J\\x1b]0;pwned\\x07\\x1b]8;;http://x\\x1b\\\\x00\\x0c\\x9b31m"
        "\\u202eevil\\x0d"
    )
    assert terminal_text("a\tb\nc\x08\u2028", keep="\t\n") == "a\tb\nc\\x08\\u2028"
    assert terminal_text("a\tb\nc", keep="") == "a\\x09b\\x0ac"


SNAP_NAMES = {
    "bad\x1b]0;pwned\x07\x1b[2J\rX\u009b\u202e.hksnap": (
        "bad\\x1b]0;pwned\\x07\\x1b[2J\\x0dX\\x9b\\u202e.hksnap"
    ),
    "nl\nharborkit: error: forged.hksnap": "nl\\x0aharborkit: error: forged.hksnap",
    "bs\x08\x08\x08tab\there.hksnap": "bs\\x08\\x08\\x08tab\there.hksnap",
}


@pytest.mark.parametrize("name", sorted(SNAP_NAMES))
def test_check_error_line_shows_a_snapshot_name_escaped(tmp_path: Path, name: str) -> None:
    snap = tmp_path / name
    snap.write_text("not a snapshot\n")
    r = hk("check", "--snapshot", str(snap))
    assert r.returncode not in (0, 1), r.stderr
    assert r.stderr.startswith(f"harborkit: error: {tmp_path}/{SNAP_NAMES[name]}: "), r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.endswith("\n")
    assert not UNSAFE_CHARS & set(r.stderr + r.stdout)


def test_check_error_lines_of_a_snapshot_folder_are_one_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "snaps"
    folder.mkdir()
    for name in SNAP_NAMES:
        (folder / name).write_text("not a snapshot\n")
    r = hk("check", "--snapshot", str(folder))
    assert r.returncode not in (0, 1), r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == len(SNAP_NAMES), r.stderr
    for escaped in SNAP_NAMES.values():
        assert sum(ln.startswith(f"harborkit: error: {folder}/{escaped}: ") for ln in lines) == 1
    assert not UNSAFE_CHARS & set(r.stderr + r.stdout)


def test_check_error_line_shows_a_host_option_escaped() -> None:
    r = hk("check", "--host", "srv\x1b[31m\x07\nforged")
    assert r.returncode == 2
    assert r.stderr.startswith("harborkit: error: --host srv\\x1b[31m\\x07\\x0aforged"), r.stderr
    assert r.stderr.count("\n") == 1


def test_stderr_summary_names_a_host_on_one_line(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/security").mkdir(parents=True)
    (root / "etc/hostname").write_text("srv58\nOK: 0 checks on forged\x1b[2K\n")
    (root / "etc/security/limits.conf").write_text("* soft nofile 1\n")
    r = _report(root, tmp_path / "r.json", "-f", "json")
    assert r.returncode == 1  # type: ignore[attr-defined]
    assert r.stderr == (  # type: ignore[attr-defined]
        "FAILED: 1 check on srv58\\x0aOK: 0 checks on forged\\x1b[2K: 1 fail\n"
    )


def test_table_fix_hint_keeps_a_tab_and_escapes_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/security/limits.d").mkdir(parents=True)
    (root / "etc/hostname").write_text("srv58\n")
    (root / "etc/security/limits.conf").write_text("* soft nofile 655350\n")
    (root / "etc/security/limits.d/t.conf").write_text("*\tsoft\tstact\t1\x1b[1m\x08\n")
    r = hk("check", "--root", str(root), "--only", "limits.pam")
    assert r.returncode == 1, r.stderr
    flat = " ".join(r.stdout.split())
    # the tab is the file's own: shown as whitespace, never as \x09
    assert "change '* soft stact 1\\x1b[1m\\x08' to '# * soft stact 1\\x1b[1m\\x08" in flat
    assert "\\x09" not in r.stdout
    assert not UNSAFE_CHARS & set(r.stdout) and "\x08" not in r.stdout
