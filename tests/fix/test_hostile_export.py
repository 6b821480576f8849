"""issue 18, classes 9, 10 and 12: what a hostile host puts into fix's exports and output.

A sysroot whose host name, kept file lines and file names carry sh, YAML and
Jinja2 payloads (newlines, ``$( )``, backticks, quotes, ``{{ lookup('pipe') }}``,
``{% %}``, here-document terminators, terminal escapes) is planned, exported as
a script and a playbook, and both are RUN for real: the script under dash and
busybox sh (and in a busybox container), the playbook with ansible-playbook.
No canary file may appear anywhere; the files written are byte for byte what
the plan holds; nothing else changes. Plans holding every byte value are run
the same way. fix's own output shows terminal escapes escaped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harborkit.errors import ExitCode
from harborkit.model.change import FileChange, ManualStep, Plan
from tests.fix.helpers import REPO, copy_sysroot, hk, tree_hashes

BUSYBOX = Path("/usr/bin/busybox")
ANSIBLE = Path(sys.executable).parent / "ansible-playbook"
# dash (Debian's sh), busybox sh, and bash as sh (RHEL's)
SHELLS = {"dash": ["dash"], "busybox": [str(BUSYBOX), "sh"], "bash": ["bash", "--posix"]}
OPTS = ("--install-dir", "/opt/harbor")
TYPO = b"* soft stact unlimited\n"  # a line limits.pam plans to comment out

#: limits.d names the plan edits (relative canaries: names hold no '/'; run in cwd)
HOSTILE_NAMES = [
    "{{ lookup('pipe','touch hk-canary-name-lookup') }}.conf",
    "{% set x = lookup('pipe','touch hk-canary-name-stmt') %}.conf",
    "$(touch hk-canary-name-dollar).conf",
    "`touch hk-canary-name-tick`.conf",
    "q'uo\"te; touch hk-canary-name-semi.conf",
    "nl\ntouch hk-canary-name-nl\n- hosts: all\n.conf",
    "%s%n%%\\101\\x41 fmt.conf",
    "-n.conf",
    "tab\there.conf",
    "esc\x1b[31m\x07\u202e\x9b.conf",
]


def hostile_host(c: str) -> str:
    """A host name (``/etc/hostname``) carrying sh, YAML and Jinja2 payloads."""
    return (
        f"srv58\ntouch {c}-host-nl\n"
        "- hosts: all\n  tasks:\n"
        f"    - ansible.builtin.command: touch {c}-host-play\n"
        f"$(touch {c}-host-dollar) `touch {c}-host-tick` '\"; touch {c}-host-semi\n"
        f"{{{{ lookup('pipe','touch {c}-host-lookup') }}}}\x1b[31m\x07"
    )


def hostile_lines(c: str) -> bytes:
    """Lines appended to /etc/profile (kept by the plan, which edits its ulimit line)."""
    return (
        "\n".join(
            [
                f"{{{{ lookup('pipe','touch {c}-lookup') }}}}",
                f"{{% for x in [lookup('pipe','touch {c}-for')] %}}{{% endfor %}}",
                "{# a Jinja2 comment #}{{ 7 * 7 }}",
                "HARBORKIT_EOF",
                "EOF",
                "'HARBORKIT_EOF'",
                f"$(touch {c}-dollar) `touch {c}-tick` ' \" \\ %s %n %% \\n \\047",
                f"'\"; touch {c}-semi; \"'",
                "- hosts: all",
                "  tasks: []",
                "---",
                "...",
                "\tindented with a tab \x1b[2J\x1b]0;title\x07 done",
            ]
        )
        + "\n"
    ).encode()


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    root = copy_sysroot("guide-as-written", tmp_path / "planned")
    c = str(tmp_path / "hk-canary")
    (root / "etc/hostname").write_text(hostile_host(c) + "\n")
    with open(root / "etc/profile", "ab") as f:
        f.write(hostile_lines(c))
    for name in HOSTILE_NAMES:
        (root / "etc/security/limits.d" / name).write_bytes(TYPO)
    return root


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The working folder the script and the playbook run in (relative canaries land here)."""
    w = tmp_path / "cwd"
    w.mkdir()
    return w


def canaries(tmp_path: Path) -> list[str]:
    """Every canary file: under the test's folder, the repository, /tmp and /."""
    found = [str(p) for p in tmp_path.rglob("hk-canary*")]
    for d in (REPO, Path("/tmp"), Path("/"), Path.home()):
        found += [str(p) for p in d.glob("hk-canary*")]
    return sorted(found)


def planned(root: Path) -> Plan:
    """The plan of ``root``, made in this process (the oracle of the bytes written)."""
    from harborkit.engine.session import prepare
    from harborkit.fix.build import plan_from_report

    session = prepare(
        profile=None,
        root=str(root),
        harbor_config=None,
        install_dir="/opt/harbor",
        node=None,
        only=None,
        skip=None,
    )
    return plan_from_report(session.run())


def export(root: Path, fmt: str, out: Path) -> str:
    r = hk("fix", "--root", str(root), *OPTS, "--format", fmt, "--output", str(out))
    assert (r.returncode, r.stdout, r.stderr) == (ExitCode.OK, "", "")
    data = out.read_bytes()
    # printable ASCII only: no raw control, bidi or line-break character from the host
    assert re.fullmatch(rb"[\x20-\x7e\n]*", data), data
    return data.decode()


def on_disk(root: Path, path: str) -> Path:
    return root / os.fsdecode(path.encode("utf-8", "surrogateescape").lstrip(b"/"))


def assert_written_exactly(target: Path, before: dict[str, str], plan: Plan) -> None:
    """Every planned file holds the plan's bytes; no other file changed."""
    for f in plan.files:
        assert on_disk(target, f.path).read_bytes() == f.new, f.path
    after = tree_hashes(target)
    planned_files = {f.path.lstrip("/") for f in plan.files}
    assert {k: v for k, v in after.items() if k not in planned_files} == {
        k: v for k, v in before.items() if k not in planned_files
    }
    assert set(after) == set(before) | planned_files


def run_sh(
    shell: list[str], script: Path, root: Path, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*shell, str(script)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "HK_ROOT": str(root)},
        timeout=120,
    )


def playbook(book: Path, root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(ANSIBLE),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"hk_root={root}",
            str(book),
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "0"},
        timeout=600,
    )


def recap(out: str) -> tuple[int, int]:
    m = re.search(r"^localhost\s*:.*\bchanged=(\d+).*\bfailed=(\d+)", out, re.M)
    assert m, out
    return int(m.group(1)), int(m.group(2))


# -- class 9 and 10: the exports of a hostile host, run -------------------------


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_sh_script_of_a_hostile_host_writes_the_planned_bytes_and_runs_nothing(
    hostile: Path, work: Path, tmp_path: Path, shell: str
) -> None:
    script = tmp_path / "fix.sh"
    text = export(hostile, "sh", script)
    plan = planned(hostile)
    assert f", plan {_plan_id(plan)}.\n" in text  # the plan the CLI exported is the oracle's
    names = {f.path.rsplit("/", 1)[1] for f in plan.files}
    assert set(HOSTILE_NAMES) <= names  # every hostile name is in the plan
    assert b"HARBORKIT_EOF\n" in next(f.new for f in plan.files if f.path == "/etc/profile")
    syn = subprocess.run([*SHELLS[shell], "-n", str(script)], capture_output=True, text=True)
    assert (syn.returncode, syn.stderr) == (0, "")

    target = tmp_path / "target"
    shutil.copytree(hostile, target, symlinks=True)
    before = tree_hashes(target)
    first = run_sh(SHELLS[shell], script, target, work)
    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    assert canaries(tmp_path) == []
    assert_written_exactly(target, before, plan)
    # what it says is one line per file, escapes shown (no control character but \n)
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", first.stdout), first.stdout
    changed = re.findall(r"^changed: (.*)$", first.stdout, re.M)
    assert len(changed) == len(plan.files)
    assert "/etc/security/limits.d/nl\\ntouch hk-canary-name-nl\\n- hosts: all\\n.conf" in changed
    assert "/etc/security/limits.d/esc\\x1b[31m\\x07\\u202e\\x9b.conf" in changed
    assert "/etc/security/limits.d/%s%n%%\\101\\x41 fmt.conf" in changed
    assert re.search(r"^manual step \(network\.hostname\): give srv58\\ntouch ", first.stdout, re.M)

    done = tree_hashes(target)
    second = run_sh(SHELLS[shell], script, target, work)
    assert (second.returncode, second.stderr) == (0, "")
    assert len(re.findall(r"^unchanged: ", second.stdout, re.M)) == len(plan.files)
    assert "changed: " not in second.stdout.replace("unchanged: ", "")
    assert tree_hashes(target) == done
    assert canaries(tmp_path) == []
    assert sorted(os.listdir(work)) == []


def test_sh_script_refuses_a_hostile_name_that_differs_and_says_it_on_one_line(
    hostile: Path, work: Path, tmp_path: Path
) -> None:
    script = tmp_path / "fix.sh"
    export(hostile, "sh", script)
    target = tmp_path / "other"
    shutil.copytree(hostile, target, symlinks=True)
    odd = target / "etc/security/limits.d" / HOSTILE_NAMES[5]
    odd.write_bytes(b"# another host\n")
    r = run_sh(SHELLS["dash"], script, target, work)
    assert r.returncode == 1
    assert r.stderr == (
        "refused: /etc/security/limits.d/nl\\ntouch hk-canary-name-nl\\n- hosts: all\\n.conf "
        "differs from the planned original\n"
    )
    assert odd.read_bytes() == b"# another host\n"
    assert canaries(tmp_path) == []


def test_sh_script_of_a_hostile_host_runs_in_a_busybox_container(
    busybox_daemon: Any, hostile: Path, tmp_path: Path
) -> None:
    script = tmp_path / "fix.sh"
    export(hostile, "sh", script)
    plan = planned(hostile)
    before = tree_hashes(hostile)
    client = busybox_daemon.client()
    try:
        out = client.containers.run(
            "hk-test/busybox-fix:1",
            ["sh", "-c", "cd /tmp && sh /fix.sh; echo rc=$?; ls -a / /tmp"],
            environment={"HK_ROOT": "/target"},
            volumes={
                str(hostile): {"bind": "/target", "mode": "rw"},
                str(script): {"bind": "/fix.sh", "mode": "ro"},
            },
            network_mode="none",
            remove=True,
        ).decode()
    finally:
        client.close()
    assert "\nrc=0\n" in out, out
    assert "hk-canary" not in out.split("\nrc=0\n", 1)[1]  # nothing in / or /tmp of the container
    assert len(re.findall(r"^changed: ", out, re.M)) == len(plan.files)
    assert canaries(tmp_path) == []
    assert_written_exactly(hostile, before, plan)


def test_playbook_of_a_hostile_host_writes_the_planned_bytes_and_templates_nothing(
    hostile: Path, work: Path, tmp_path: Path
) -> None:
    book = tmp_path / "fix.yml"
    text = export(hostile, "ansible", book)
    plan = planned(hostile)
    # one play, as generated: the host name's "- hosts: all" stayed in a comment
    import yaml

    from harborkit.fix.playbook import _Loader

    plays = yaml.load(text, Loader=_Loader)
    assert [p["name"] for p in plays] == ["harborkit fix"]
    assert len([t for t in plays[0]["tasks"] if "ansible.builtin.copy" in t]) == len(plan.files)
    assert text.startswith("# harborkit fix for srv58\\ntouch ")

    target = tmp_path / "target"
    shutil.copytree(hostile, target, symlinks=True)
    before = tree_hashes(target)
    r = playbook(book, target, work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert canaries(tmp_path) == []
    assert_written_exactly(target, before, plan)
    new_folders = 1  # limits.d/90-harbor.conf's folder exists; docker.service.d is new
    assert recap(r.stdout) == (len(plan.files) + new_folders, 0)
    # task names and messages are shown with their escapes escaped
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "TASK [limits.pam: /etc/security/limits.d/esc\\x1b[31m\\x07\\u202e\\x9b.conf" in r.stdout
    assert sorted(os.listdir(work)) == []


# -- every byte value, through both exports -------------------------------------

EVERY_BYTE = bytes(range(256))
KEPT_OLD = b"the original\n"


def byte_plan() -> Plan:
    """Files holding every byte value, CRLF, no final newline, an empty file,
    here-document terminators, Jinja2 and control characters in valid UTF-8,
    a line longer than a printf chunk, and names of the same kind."""
    c = "hk-canary-bytes"
    jinja = (
        f"{{{{ lookup('pipe','touch {c}-content') }}}}\n{{% if true %}}{{{{ 6 * 7 }}}}{{% endif %}}\n"
        "ctl \x01\x1b[31m\x7f\x85\u2028\u202e\ufeff\n\tHARBORKIT_EOF\nHARBORKIT_EOF\nEOF\n"
    )
    files = (
        FileChange(("t.bytes",), "/etc/hk/every byte", EVERY_BYTE + b"\n" + EVERY_BYTE, None, "r"),
        FileChange(("t.crlf",), "/etc/hk/crlf", b"a\r\nb\rc\r\n\r\nno final newline", None, "r"),
        FileChange(("t.empty",), "/etc/hk/empty", b"", None, "r"),
        FileChange(
            ("t.jinja",),
            f"/etc/hk/{{{{ lookup('pipe','touch {c}-name') }}}} \u202e\x1b[1m\n-x.conf",
            jinja.encode(),
            None,
            "the reason {{ lookup('pipe','touch " + c + "-reason') }}\n- hosts: all",
        ),
        FileChange(("t.long",), "/etc/hk/long", b"x" * 2000 + b"%\\'\"$`\n" * 3, None, "r"),
        FileChange(("t.kept",), "/etc/hk/kept", b"new\n", KEPT_OLD, "edit", owned=False),
        FileChange(("t.owned",), "/etc/hk/owned", b"mine\n", b"other\n", "whole", owned=True),
    )
    manual = (ManualStep(("t.manual",), f"do $(touch {c}-manual) `x` '\n\x1b[2J"),)
    return Plan(files=files, manual=manual)


def _plan_id(plan: Plan) -> str:
    from harborkit.fix.build import plan_id

    return plan_id(plan)


def _byte_target(tmp_path: Path) -> Path:
    target = tmp_path / "bytes-root"
    (target / "etc/hk").mkdir(parents=True)
    (target / "etc/hk/kept").write_bytes(KEPT_OLD)
    (target / "etc/hk/owned").write_bytes(b"whatever it holds\n")
    return target


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_sh_script_writes_every_byte_value_exactly(shell: str, work: Path, tmp_path: Path) -> None:
    from harborkit.fix.export import render_sh

    plan = byte_plan()
    text = render_sh(plan, host="h\n$(touch hk-canary-h)", profile="p'", plan_id=_plan_id(plan))
    assert re.fullmatch(r"[\x20-\x7e\n]*", text)
    assert "<<" not in text  # no here-document: no line of a file can end one
    script = tmp_path / "fix.sh"
    script.write_text(text)
    target = _byte_target(tmp_path)
    before = tree_hashes(target)
    r = run_sh(SHELLS[shell], script, target, work)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert canaries(tmp_path) == []
    assert_written_exactly(target, before, plan)
    assert (target / "etc/hk/every byte").stat().st_mode & 0o777 == 0o644
    assert r.stdout.endswith(
        "manual step (t.manual): do $(touch hk-canary-bytes-manual) `x` '\\n\\x1b[2J\n"
    )
    again = run_sh(SHELLS[shell], script, target, work)
    assert (again.returncode, again.stderr) == (0, "")
    assert len(re.findall(r"^unchanged: ", again.stdout, re.M)) == len(plan.files)


def test_sh_script_writes_a_name_that_is_not_utf8(work: Path, tmp_path: Path) -> None:
    from harborkit.fix.export import render_sh

    name = os.fsdecode(b"/etc/caf\xe9 \xff.conf")  # as a sysroot lists it
    plan = Plan(files=(FileChange(("t",), name, b"x\xff\n", None, "r"),))
    script = tmp_path / "fix.sh"
    script.write_text(render_sh(plan, host="h", profile="p", plan_id="0"))
    target = tmp_path / "r"
    target.mkdir()
    r = run_sh(SHELLS["dash"], script, target, work)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout == "changed: /etc/caf\\udce9 \\udcff.conf\n"
    assert os.listdir(os.fsencode(target / "etc")) == [b"caf\xe9 \xff.conf"]
    assert (target / "etc" / os.fsdecode(b"caf\xe9 \xff.conf")).read_bytes() == b"x\xff\n"


def test_playbook_cannot_carry_a_name_that_is_not_utf8() -> None:
    from harborkit.fix.export import ExportError
    from harborkit.fix.playbook import render_ansible

    name = os.fsdecode(b"/etc/caf\xe9.conf")
    plan = Plan(files=(FileChange(("t",), name, b"x\n", None, "r"),))
    with pytest.raises(ExportError) as e:
        render_ansible(plan, host="h", profile="p", plan_id="0")
    assert e.value.exit_code == ExitCode.FIX_REFUSED
    assert e.value.message == (
        "/etc/caf\\udce9.conf: not UTF-8 text; an Ansible playbook cannot carry it "
        "(use --format sh or --apply)"
    )


def test_playbook_writes_every_byte_value_exactly(work: Path, tmp_path: Path) -> None:
    from harborkit.fix.playbook import render_ansible

    plan = byte_plan()
    text = render_ansible(
        plan,
        host="h\n- hosts: all\n  tasks: [{{ lookup('pipe','touch hk-canary-h') }}]",
        profile="p",
        plan_id=_plan_id(plan),
    )
    assert re.fullmatch(r"[\x20-\x7e\n]*", text)
    book = tmp_path / "fix.yml"
    book.write_text(text)
    target = _byte_target(tmp_path)
    before = tree_hashes(target)
    r = playbook(book, target, work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert canaries(tmp_path) == []
    assert_written_exactly(target, before, plan)
    assert recap(r.stdout) == (len(plan.files), 0)  # etc/hk exists: no folder made
    assert "\x1b" not in r.stdout
    assert '"msg": "do $(touch hk-canary-bytes-manual) `x` \'\\\\x0a\\\\x1b[2J"' in r.stdout


# -- class 12: fix's own output on a terminal ------------------------------------


@pytest.fixture
def escapes(tmp_path: Path) -> Iterator[Path]:
    root = copy_sysroot("guide-as-written", tmp_path / "root")
    (root / "etc/hostname").write_bytes(b"srv\x1b]0;owned\x07\x1b[2J58\xc2\x9b\n")
    with open(root / "etc/profile", "ab") as f:
        f.write(b"\tTAB\x1b[31mred\x08 \xc2\x9b\nctx\x1b[0m \xe2\x80\xae\n")
    (root / "etc/security/limits.d" / "esc\x1b[31m\x07\nnl.conf").write_bytes(TYPO)
    yield root


def test_fix_dry_run_shows_terminal_escapes_escaped(escapes: Path) -> None:
    r = hk("fix", "--root", str(escapes), *OPTS)
    assert (r.returncode, r.stderr) == (0, "")
    lines = r.stdout.splitlines()
    assert re.fullmatch(
        r"harborkit fix: srv\\x1b\]0;owned\\x07\\x1b\[2J58\\x9b \(sysroot\), plan [0-9a-f]{12}: "
        r"7 file\(s\), 3 command\(s\), 2 manual step\(s\)",
        lines[0],
    ), lines[0]
    # the name on one line in both header lines, the context lines escaped, tabs kept
    assert "--- a/etc/security/limits.d/esc\\x1b[31m\\x07\\x0anl.conf" in lines
    assert "+++ b/etc/security/limits.d/esc\\x1b[31m\\x07\\x0anl.conf" in lines
    assert " \tTAB\\x1b[31mred\\x08 \\x9b" in lines
    assert " ctx\\x1b[0m \\u202e" in lines
    assert (
        "- network.hostname: give srv\\x1b]0;owned\\x07\\x1b[2J58\\x9b this host's cluster "
        "address in /etc/hosts (name it in the profile's nodes, or --node "
        "srv\\x1b]0;owned\\x07\\x1b[2J58\\x9b=ADDRESS, and harborkit fix writes it)"
    ) in lines
    # nothing a terminal interprets: no C0 but \t and \n, no DEL, no C1, no bidi
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", r.stdout)


def test_fix_apply_names_the_host_escaped(tmp_path: Path) -> None:
    root = copy_sysroot("guide-as-written", tmp_path / "root")
    (root / "etc/hostname").write_bytes(b"srv\x1b]0;owned\x07\x1b[2J58\xc2\x9b\n")
    r = hk("fix", "--root", str(root), *OPTS, "--apply")
    assert r.returncode in (0, 1), r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith(
        "harborkit fix: srv\\x1b]0;owned\\x07\\x1b[2J58\\x9b (sysroot): applied plan "
    ), first
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", r.stdout + r.stderr)


# -- a sysroot's links: nothing written through them (HK_ROOT / hk_root) ---------

LINKED = {
    # what becomes a link, and where it points ({out}: a folder outside the root)
    "folder-absolute": ("etc/security/limits.d", "{out}/limits.d"),
    "folder-relative": ("etc/security/limits.d", "../../../outside/limits.d"),
    "parent-absolute": ("etc/security", "{out}"),
    "file-absolute": ("etc/profile", "{out}/profile"),
}


def linked_root(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """A copy of the planned sysroot whose file or folder is a link to the same
    bytes outside it (so every checksum matches)."""
    planned_root = tmp_path / "planned"
    target = tmp_path / "target"
    shutil.copytree(planned_root, target, symlinks=True)
    out = tmp_path / "outside"
    out.mkdir()
    where, to = LINKED[kind]
    moved = target / where
    dest = out / ("profile" if kind == "file-absolute" else moved.name)
    if kind == "parent-absolute":
        shutil.rmtree(out)
        dest = out
    shutil.move(str(moved), str(dest))
    moved.symlink_to(to.format(out=out))
    return target, out


@pytest.mark.parametrize("kind", sorted(LINKED))
def test_sh_script_writes_nothing_through_a_link_in_the_sysroot(
    kind: str, work: Path, tmp_path: Path
) -> None:
    planned_root = copy_sysroot("guide-as-written", tmp_path / "planned")
    script = tmp_path / "fix.sh"
    export(planned_root, "sh", script)
    target, out = linked_root(tmp_path, kind)
    outside = tree_hashes(out)
    r = run_sh(SHELLS["dash"], script, target, work)
    assert r.returncode == 1, r.stdout + r.stderr
    refused = re.findall(
        r"^refused: (.*): a symbolic link in HK_ROOT is on its way$", r.stderr, re.M
    )
    assert refused and len(refused) == len(r.stderr.splitlines()), r.stderr
    assert tree_hashes(out) == outside  # nothing outside changed or appeared
    assert sorted(p.name for p in out.rglob(".*harborkit*")) == []


def test_playbook_writes_nothing_through_a_link_in_the_sysroot(work: Path, tmp_path: Path) -> None:
    planned_root = copy_sysroot("guide-as-written", tmp_path / "planned")
    book = tmp_path / "fix.yml"
    export(planned_root, "ansible", book)
    target, out = linked_root(tmp_path, "folder-absolute")
    outside = tree_hashes(out)
    before = tree_hashes(target)
    r = playbook(book, target, work)
    assert r.returncode == 2, r.stdout
    assert "a symbolic link in hk_root is on the way to a planned file" in r.stdout
    assert recap(r.stdout) == (0, 1)
    assert tree_hashes(out) == outside
    assert tree_hashes(target) == before


@pytest.mark.parametrize("fmt", ["sh", "ansible"])
@pytest.mark.parametrize(
    "path", ["etc/x", "/etc/../../x", "/etc/./x", "/etc//x", "/etc/x/", "/", "/etc/x/.."]
)
def test_a_path_that_is_not_plain_is_not_exported(fmt: str, path: str) -> None:
    from harborkit.fix.export import ExportError, render_sh
    from harborkit.fix.playbook import render_ansible

    plan = Plan(files=(FileChange(("t",), path, b"x\n", None, "r"),))
    render = render_sh if fmt == "sh" else render_ansible
    with pytest.raises(ExportError) as e:
        render(plan, host="h", profile="p", plan_id="0")
    assert e.value.message == f"{path}: not a plain absolute path; the plan is not exported"


def test_sh_script_refuses_a_folder_where_it_writes_a_file(work: Path, tmp_path: Path) -> None:
    planned_root = copy_sysroot("guide-as-written", tmp_path / "planned")
    script = tmp_path / "fix.sh"
    export(planned_root, "sh", script)
    target = tmp_path / "target"
    shutil.copytree(planned_root, target, symlinks=True)
    (target / "etc/security/limits.d/90-harbor.conf").mkdir()  # harborkit's own drop-in
    r = run_sh(SHELLS["dash"], script, target, work)
    assert r.returncode == 1
    assert r.stderr == "refused: /etc/security/limits.d/90-harbor.conf is a folder here\n"
    assert os.listdir(target / "etc/security/limits.d/90-harbor.conf") == []


# -- an adversarial pass over the exports (issue 18, class 9): what the tests
# above did not try

#: contents and argv words that YAML would read as another type (or refuse) if
#: written plain; ansible-core 2.19 types a !unsafe scalar exactly so
YAML_TYPED = [
    "017\n", "0x1F", "yes", "No", "~", "null", "", "*", "&", "!", "=", "<<",
    "2001-01-01\n", "1:20", "true\n", ".inf", "1_000", "+1", "0b11\n", "-.5",
]  # fmt: skip


def typed_plan() -> Plan:
    files = tuple(
        FileChange((f"t.{i}",), f"/etc/hk/typed-{i}", v.encode(), None, "r")
        for i, v in enumerate(YAML_TYPED)
    )
    return Plan(files=files)


def test_playbook_writes_contents_yaml_would_read_as_other_types(
    work: Path, tmp_path: Path
) -> None:
    from harborkit.fix.playbook import render_ansible

    plan = typed_plan()
    book = tmp_path / "fix.yml"
    book.write_text(render_ansible(plan, host="h", profile="p", plan_id=_plan_id(plan)))
    target = tmp_path / "typed-root"
    (target / "etc/hk").mkdir(parents=True)
    before = tree_hashes(target)
    r = playbook(book, target, work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert_written_exactly(target, before, plan)  # "017\n" stays "017\n", not "15"
    assert recap(r.stdout) == (len(plan.files), 0)


#: argv words from the host: sh, Jinja2, YAML and option payloads
ARGV = (
    "$(touch hk-canary-argv-dollar)",
    "`touch hk-canary-argv-tick`",
    "'; touch hk-canary-argv-semi; '",
    "{{ lookup('pipe','touch hk-canary-argv-lookup') }}",
    "{% set x = lookup('pipe','touch hk-canary-argv-stmt') %}",
    "*",
    "[a]?",
    "a\nb\n",
    "cr\rx",
    "-n",
    "--",
    "%s%n",
    "yes",
    "017",
    "~",
    "~root/x",
    "$HOME",
    "${PATH}x",
    "&anchor",
    "*alias",
    "!!python/object/apply:os.system ['touch hk-canary-argv-tag']",
    "<<",
    "=",
    "",
    "L" * 3000,
)


def argv_plan() -> Plan:
    from harborkit.model.change import Command

    return Plan(commands=(Command(("t.argv",), ("printf", "%s|", *ARGV), "why {{ 7*7 }}"),))


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_sh_script_passes_every_argv_word_as_data(shell: str, work: Path, tmp_path: Path) -> None:
    # the commands of a plan run for real (no HK_ROOT): printf shows each word as received
    from harborkit.fix.export import render_sh

    plan = argv_plan()
    script = tmp_path / "fix.sh"
    script.write_text(render_sh(plan, host="h", profile="p", plan_id=_plan_id(plan)))
    env = {k: v for k, v in os.environ.items() if k != "HK_ROOT"}
    r = subprocess.run([*SHELLS[shell], str(script)], capture_output=True, cwd=work, env=env)
    assert (r.returncode, r.stderr) == (0, b""), r.stderr
    assert r.stdout == "".join(f"{a}|" for a in ARGV).encode()
    assert canaries(tmp_path) == []


def test_playbook_passes_every_argv_word_as_data(work: Path, tmp_path: Path) -> None:
    import json

    from harborkit.fix.playbook import render_ansible

    plan = argv_plan()
    book = tmp_path / "fix.yml"
    book.write_text(render_ansible(plan, host="h", profile="p", plan_id=_plan_id(plan)))
    r = subprocess.run(
        [str(ANSIBLE), "-v", "-i", "localhost,", "-c", "local", str(book)]
        + ["-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert canaries(tmp_path) == []
    expected = "".join(f"{a}|" for a in ARGV)
    said = re.findall(r'"stdout": ("(?:[^"\\]|\\.)*")', r.stdout)
    assert said, r.stdout
    assert json.loads(said[-1]) == expected  # the printf task, the last one run


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_sh_script_writes_a_name_as_long_as_the_system_allows(
    shell: str, work: Path, tmp_path: Path
) -> None:
    # a 255-byte name (NAME_MAX) read from the host: the script's temporary
    # file beside it must still fit, and the files after it are still written
    from harborkit.fix.export import render_sh

    plan = Plan(
        files=(
            FileChange(("t.long",), "/etc/hk/" + "L" * 255, b"long\n", None, "r"),
            FileChange(("t.long",), "/etc/hk/" + "\u00e9" * 127, b"wide\n", None, "r"),
            FileChange(("t.after",), "/etc/hk/after", b"after\n", None, "r"),
        )
    )
    script = tmp_path / "fix.sh"
    script.write_text(render_sh(plan, host="h", profile="p", plan_id=_plan_id(plan)))
    target = tmp_path / "long-root"
    target.mkdir()
    before = tree_hashes(target)
    r = run_sh(SHELLS[shell], script, target, work)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert_written_exactly(target, before, plan)


#: check ids and reasons as a hostile plugin or host could shape them
HOSTILE_IDS = (
    "a*",
    "$(touch hk-canary-id-dollar)",
    "x y",
    "'q\"",
    "{{ lookup('pipe','touch hk-canary-id-lookup') }}",
    "-n",
    "id\nnl",
)


def ids_plan(folder: Path) -> Plan:
    """A file outside any sysroot (in the test's folder: the script runs without
    HK_ROOT, so its commands run too) and a command that runs only when it changed."""
    from harborkit.model.change import Command

    reason = "why $(touch hk-canary-reason) {{ lookup('pipe','touch hk-canary-reason-j') }}\n- x"
    return Plan(
        files=(FileChange(HOSTILE_IDS, f"{folder}/a*[b]?", b"new\n", None, reason),),
        commands=(Command(HOSTILE_IDS, ("printf", "%s|", "ran"), reason),),
    )


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_sh_script_check_ids_and_reasons_are_data(shell: str, work: Path, tmp_path: Path) -> None:
    from harborkit.fix.export import render_sh

    folder = tmp_path / "live"
    plan = ids_plan(folder)
    script = tmp_path / "fix.sh"
    script.write_text(render_sh(plan, host="h", profile="p", plan_id=_plan_id(plan)))
    env = {k: v for k, v in os.environ.items() if k != "HK_ROOT"}
    first = subprocess.run(
        [*SHELLS[shell], str(script)], capture_output=True, text=True, cwd=work, env=env
    )
    assert (first.returncode, first.stderr) == (0, ""), first.stderr
    assert (folder / "a*[b]?").read_bytes() == b"new\n"
    assert "ran|" in first.stdout  # its file changed: the command ran
    again = subprocess.run(
        [*SHELLS[shell], str(script)], capture_output=True, text=True, cwd=work, env=env
    )
    assert (again.returncode, again.stderr) == (0, ""), again.stderr
    assert "ran|" not in again.stdout and "not run: printf '%s|' ran" in again.stdout
    assert canaries(tmp_path) == []
    assert sorted(os.listdir(folder)) == ["a*[b]?"]


def test_playbook_check_ids_and_reasons_are_data(work: Path, tmp_path: Path) -> None:
    from harborkit.fix.playbook import render_ansible

    folder = tmp_path / "live"
    plan = ids_plan(folder)
    book = tmp_path / "fix.yml"
    book.write_text(render_ansible(plan, host="h", profile="p", plan_id=_plan_id(plan)))
    argv = [str(ANSIBLE), "-v", "-i", "localhost,", "-c", "local", str(book)]
    argv += ["-e", f"ansible_python_interpreter={sys.executable}"]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    first = subprocess.run(argv, capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (folder / "a*[b]?").read_bytes() == b"new\n"
    assert '"stdout": "ran|"' in first.stdout
    again = subprocess.run(argv, capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert '"stdout": "ran|"' not in again.stdout
    assert canaries(tmp_path) == []
    assert sorted(os.listdir(folder)) == ["a*[b]?"]
