"""Hostile inventories (issue 18, class 6): through ``harborkit check -i``,
with ansible-core's ``ansible-inventory`` and with the built-in reader, every
bad inventory is ONE line naming ``file:line`` (where a line is known) and
exit 2: never a traceback, a hang, or more than 200 MB of memory.

Each case runs as a real process (the CLI, and ansible-inventory under it);
its peak RSS is measured with ``wait4`` (descendants included), so an
inventory that would make either reader grow is caught here."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from tests.support.cli import MAIN, PRELUDE

ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")
READERS = {"ansible": ANSIBLE_INVENTORY, "builtin": "none"}
PEAK_MB = 200

#: runs argv[2:], then writes its peak RSS (KiB, descendants included) to argv[1];
#: a small parent, so that pytest's own size does not count
_WRAPPER = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(p.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    peak_mb: float
    seconds: float

    @property
    def line(self) -> str:
        """The one stderr line (asserting there is exactly one)."""
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr[-3000:]
        return lines[0]


def check(cwd: Path, reader: str, *args: str, timeout: float = 120, **env: str) -> Run:
    """``harborkit check ARGS`` in ``cwd`` with the given inventory reader, measured."""
    child_env = dict(os.environ)
    child_env["HARBORKIT_ANSIBLE_INVENTORY"] = READERS[reader]
    child_env.update(env)
    rss = cwd / ".rss"
    start = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(rss), sys.executable, "-c", PRELUDE + MAIN]
        + ["check", *args],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=cwd,
        timeout=timeout,
    )
    seconds = time.monotonic() - start
    peak = int(rss.read_text()) / 1024
    rss.unlink()
    return Run(r.returncode, r.stdout, r.stderr, peak, seconds)


@pytest.fixture(params=sorted(READERS))
def reader(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def err(text: str) -> str:
    return f"harborkit: error: {text}"


BAD_PORT = "is not a port number (1-65535)"

#: (case, file name, content, the message after "harborkit: error: ")
CASES: list[tuple[str, str, str | bytes, str]] = [
    # ports that are not integers, or out of range
    ("port-abc", "hosts.ini", "[g]\nsrv ansible_port=abc\n",
     f"hosts.ini:2: host 'srv': ansible_port 'abc' {BAD_PORT}"),
    ("port-zero", "hosts.ini", "[g]\nok\nsrv ansible_port=0\n",
     f"hosts.ini:3: host 'srv': ansible_port '0' {BAD_PORT}"),
    ("port-in-spec-65536", "hosts.ini", "[g]\nsrv:65536\n",
     f"hosts.ini:2: host 'srv': ansible_port '65536' {BAD_PORT}"),
    ("port-float", "hosts.ini", "[g]\nsrv ansible_port=22.5\n",
     f"hosts.ini:2: host 'srv': ansible_port '22.5' {BAD_PORT}"),
    ("port-arabic-digits", "hosts.ini", "[g]\nsrv ansible_port=\u0662\u0662\n",
     f"hosts.ini:2: host 'srv': ansible_port '\u0662\u0662' {BAD_PORT}"),
    ("port-group-var", "hosts.ini", "[g]\nsrv\n[g:vars]\nansible_port=99999\n",
     f"hosts.ini:4: host 'srv': ansible_port '99999' {BAD_PORT}"),
    ("port-negative-ssh-port", "hosts.yml", "all:\n  hosts:\n    srv:\n      ansible_ssh_port: -1\n",
     f"hosts.yml:4: host 'srv': ansible_ssh_port '-1' {BAD_PORT}"),
    ("port-bool", "hosts.yml", "all:\n  hosts:\n    srv:\n      ansible_port: true\n",
     f"hosts.yml:4: host 'srv': ansible_port 'True' {BAD_PORT}"),
    ("port-a-date", "hosts.yml", "all:\n  hosts:\n    srv:\n      ansible_port: 2027-02-30\n",
     f"hosts.yml:4: host 'srv': ansible_port '2027-02-30' {BAD_PORT}"),
    ("port-nan", "hosts.yml", "all:\n  hosts:\n    srv:\n      x: .inf\n      ansible_port: .nan\n",
     f"hosts.yml:5: host 'srv': ansible_port 'nan' {BAD_PORT}"),
    ("port-long-integer", "hosts.yml", "all:\n  hosts:\n    srv:\n      ansible_port: " + "9" * 5000 + "\n",
     "hosts.yml:4: integer of 5000 digits is too large"),
    # other values harborkit uses
    ("ssh-args-unsplittable", "hosts.ini", "[g]\nsrv ansible_ssh_common_args='-o \"x'\n",
     "hosts.ini:2: host 'srv': ansible_ssh_common_args cannot be split into arguments: "
     "No closing quotation"),
    ("ssh-args-a-list", "hosts.yml", "all:\n  hosts:\n    srv:\n      ansible_ssh_common_args: [a, b]\n",
     "hosts.yml:4: host 'srv': ansible_ssh_common_args must be a string, not a list"),
    ("host-with-newline", "hosts.yml", 'all:\n  hosts:\n    srv:\n      ansible_host: "a\\nb"\n',
     "hosts.yml:4: host 'srv': ansible_host 'a\\nb' holds a control character"),
    ("host-name-with-escape", "hosts.yml", 'all:\n  hosts:\n    "srv\\e[31m":\n',
     "hosts.yml:3: host name 'srv\\x1b[31m' holds a control character"),
    ("group-name-with-newline", "hosts.yml", 'all:\n  children:\n    "g\\nx":\n',
     "hosts.yml:3: group name 'g\\nx' holds a control character"),
    ("invalid-date", "hosts.yml", "all:\n  hosts:\n    srv:\n      ansible_host: !!timestamp 2027-02-30\n",
     "hosts.yml:4: invalid date '2027-02-30': day is out of range for month"),
    # host ranges
    ("range-step-zero", "hosts.ini", "[g]\nsrv[1:10:0]\n",
     "hosts.ini:2: host range '[1:10:0]': the step must be a whole number from 1"),
    ("range-letter-step-zero", "hosts.ini", "[g]\nsrv[a:z:0]\n",
     "hosts.ini:2: host range '[a:z:0]': the step must be a whole number from 1"),
    ("range-reversed", "hosts.ini", "[g]\nsrv[9:1]\n",
     "hosts.ini:2: host range '[9:1]': the start is after the end"),
    ("range-mixed", "hosts.ini", "[g]\nsrv[1:z]\n", "hosts.ini:2: bad host range '[1:z]'"),
    ("range-long-number", "hosts.ini", "[g]\nsrv[0:" + "9" * 500 + "]\n",
     "hosts.ini:2: host range '[0:" + "9" * 77 + "...': numbers of more than 9 digits"),
    ("range-in-a-long-name", "hosts.ini", "[g]\nsrv[0:" + "9" * 5000 + "]\n",
     "hosts.ini:2: host name 'srv[0:" + "9" * 74 + "...' is longer than 1024 characters"),
    ("range-100-million", "hosts.ini", "[g]\nsrv[0:99999999]\n",
     "hosts.ini:2: host range '[0:99999999]' expands to more than 10000 hosts"),
    ("range-product", "hosts.ini", "[g]\nsrv[0:999]-[0:999]\n",
     "hosts.ini:2: more than 10000 hosts in all"),
    ("range-sum-of-lines", "hosts.ini", "[g]\n" + "".join(f"a{i}-[0:999]\n" for i in range(11)),
     "hosts.ini:12: more than 10000 hosts in all"),
    ("range-repeated", "hosts.ini", "[g]\n" + "srv[0:9999]\n" * 11,
     "hosts.ini:12: host ranges make more than 100000 host names in all"),
    ("range-in-yaml", "hosts.yml", "all:\n  hosts:\n    srv[0:99999999]:\n",
     "hosts.yml:3: host range '[0:99999999]' expands to more than 10000 hosts"),
    ("range-in-json", "hosts.json", '{"all": {"hosts": {"srv[0:99999999]": null}}}\n',
     "hosts.json:1: host range '[0:99999999]' expands to more than 10000 hosts"),
    ("range-through-an-alias", "hosts.yml",
     "all:\n  children:\n    g:\n      hosts: &h\n        srv[0:5999]:\n    k:\n      hosts: *h\n"
     "    z:\n      hosts:\n        a[0:9999]:\n",
     "hosts.yml:10: more than 10000 hosts in all"),
    ("range-after-commented-header", "hosts.ini", "[g] # the web tier\nsrv[0:99999]\n",
     "hosts.ini:2: host range '[0:99999]' expands to more than 10000 hosts"),
    # groups
    ("children-cycle", "hosts.ini", "[a:children]\nb\n[b:children]\na\n[a]\nh1\n",
     "hosts.ini:4: group 'a' is its own descendant: a -> b -> a"),
    ("children-self", "hosts.ini", "[h]\nh1\n[a:children]\na\n",
     "hosts.ini:4: group 'a' is its own descendant: a -> a"),
    ("children-cycle-yaml", "hosts.yml",
     "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n",
     "hosts.yml:7: group 'a' is its own descendant: a -> b -> a"),
    # wrong YAML shapes
    ("yaml-a-list", "hosts.yml", "- a\n- b\n",
     "hosts.yml:1: an inventory is a mapping of groups (all: ...)"),
    ("yaml-hosts-a-list", "hosts.yml", "all:\n  hosts: [a, b]\n",
     "hosts.yml:2: hosts of group 'all' must be a mapping, not a list"),
    ("yaml-host-vars-a-list", "hosts.yml", "all:\n  hosts:\n    srv: [1, 2]\n",
     "hosts.yml:3: variables of host 'srv' must be a mapping, not a list"),
    ("yaml-vars-a-string", "hosts.yml", "all:\n  vars: x\n",
     "hosts.yml:2: vars of group 'all' must be a mapping, not a string"),
    ("yaml-group-a-number", "hosts.yml", "all:\n  children:\n    g: 5\n",
     "hosts.yml:3: group 'g' must be a mapping, not a number"),
    ("yaml-unknown-key", "hosts.yml", "all:\n  host:\n    srv:\n",
     "hosts.yml:2: group 'all': unknown key 'host' (hosts, vars or children)"),
    ("yaml-unhashable-key", "hosts.yml", "all:\n  hosts:\n    ? [a]\n    : {}\n",
     "hosts.yml:3: found unhashable key"),
    # aliases and nesting
    ("alias-recursive", "hosts.yml", "all:\n  hosts:\n    srv: &a\n      x: *a\n",
     "hosts.yml:4: alias *a refers to a node that contains it (a recursive alias)"),
    ("alias-undefined", "hosts.yml", "all:\n  hosts:\n    srv:\n      ansible_host: *nope\n",
     "hosts.yml:4: alias *nope names no anchor"),
    ("nesting-flow", "hosts.yml", "all:\n  vars:\n    x: " + "[" * 150 + "]" * 150 + "\n",
     "hosts.yml:3: nested deeper than 100 levels"),
    ("nesting-block", "hosts.yml",
     "all:\n" + "".join(" " * (2 + 4 * i) + f"children:\n{' ' * (4 + 4 * i)}g{i}:\n" for i in range(60)),
     "hosts.yml:101: nested deeper than 100 levels"),
    ("nesting-flow-5000", "hosts.yml", "all:\n  vars:\n    x: " + "[" * 5000 + "]" * 5000 + "\n",
     "hosts.yml:3: exceeded maximum nesting depth"),  # libyaml's own bound
    # text
    ("not-utf8", "hosts.ini", b"[g]\nsrv\xff\n", "hosts.ini:2: not UTF-8 text"),
]  # fmt: skip


def _alias_bomb(leaf: str, levels: int, fan: int) -> str:
    lines = [f'a0: &a0 "{leaf}"']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    return (
        "x:\n"
        + "".join(f"  {line}\n" for line in lines)
        + f"all:\n  hosts:\n    srv:\n      ansible_ssh_common_args: *a{levels - 1}\n"
    )


#: attacks by size: the memory of both readers (and of ansible-inventory) is measured
SIZE_CASES: list[tuple[str, str, str | bytes, str]] = [
    # 1 KiB x 9**8: terabytes once expanded
    ("alias-bomb-text", "hosts.yml", _alias_bomb("x" * 1024, 9, 9),
     "hosts.yml:7: more than 16 MiB of text once aliases are expanded: too large for an inventory"),
    # 9**9 values of one character
    ("alias-bomb-values", "hosts.yml", _alias_bomb("x", 10, 9),
     "hosts.yml:8: more than 100000 values once aliases are expanded: too large for an inventory"),
    ("range-bomb", "hosts.ini", "[g]\nsrv[0:99999999]-[0:99999999]\n",
     "hosts.ini:2: host range '[0:99999999]' expands to more than 10000 hosts"),
    # ansible-inventory's literal_eval of this line took 433 s and 2.2 GB
    ("literal-line", "hosts.ini", "[g]\nsrv x=[" + "0," * 2_000_000 + "]\n",
     "hosts.ini:2: line longer than 65536 characters"),
    ("flow-list-4mib", "hosts.yml", "all:\n  vars:\n    x: [" + "0," * 2_000_000 + "0]\n",
     "hosts.yml:3: more than 100000 values once aliases are expanded: too large for an inventory"),
    # 60 KB x 10,000: 600 MB of names
    ("long-name-times-range", "hosts.ini", "[g]\n" + "a" * 60_000 + "[0:9999]\n",
     "hosts.ini:2: host name '" + "a" * 80 + "...' is longer than 1024 characters"),
    # 8,000 variables copied into 10,000 hosts: 6 GB in both readers
    ("host-vars-times-range", "hosts.ini",
     "[g]\nsrv[0:9999] " + " ".join(f"k{i}=1" for i in range(8000)) + "\n",
     "hosts.ini:2: 8000 variables on 10000 hosts: more than 200000 host variables in all"),
    ("host-vars-times-range-yaml", "hosts.yml",
     "all:\n  vars:\n    v: &v {" + ", ".join(f"k{i}: 1" for i in range(8000)) + "}\n"
     "  hosts:\n    srv[0:9999]: *v\n",
     "hosts.yml:5: 8000 variables on 10000 hosts: more than 200000 host variables in all"),
    ("group-vars-380k", "hosts.ini",
     "[g]\nsrv\n[all:vars]\n" + "".join(f"k{i}=1\n" for i in range(380_000)),
     "hosts.ini:100004: more than 100000 variable assignments"),
    ("larger-than-4mib", "hosts.ini", "[g]\n" + "# padding\n" * 500_000,
     "--inventory hosts.ini: larger than 4 MiB"),
]  # fmt: skip


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [pytest.param(c[1], c[2], c[3], id=c[0]) for c in CASES + SIZE_CASES],
)
def test_bad_inventory_is_one_line_and_exit_2(
    tmp_path: Path, reader: str, name: str, content: str | bytes, message: str
) -> None:
    _write(tmp_path / name, content)
    r = check(tmp_path, reader, "-i", name)
    assert (r.code, r.line) == (ExitCode.USAGE, err(message))
    assert r.peak_mb < PEAK_MB, f"peak {r.peak_mb:.0f} MB"


def test_ports_and_values_that_are_fine(tmp_path: Path, reader: str) -> None:
    """The border of the port check: 1 and 65535 (int or text) pass, and reach ssh."""
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n"
        "    a: {ansible_host: 127.0.0.1, ansible_port: 1}\n"
        "    b: {ansible_host: 127.0.0.1, ansible_port: '65535'}\n"
    )
    (tmp_path / "ssh_config").write_text("")
    r = check(
        tmp_path, reader, "-i", "hosts.yml", "--ssh-config", "ssh_config",
        "--connect-timeout", "2", "--only", "limits.pam",
    )  # fmt: skip
    assert r.code == ExitCode.UNREACHABLE, r.stderr
    assert "refused" in r.stderr and "Traceback" not in r.stderr


# ---- files that are not regular files
def test_fifo_is_refused_without_hanging(tmp_path: Path, reader: str) -> None:
    os.mkfifo(tmp_path / "hosts.ini")
    r = check(tmp_path, reader, "-i", "hosts.ini", timeout=60)
    assert (r.code, r.line) == (
        ExitCode.USAGE,
        err("--inventory hosts.ini: a FIFO, not a regular file"),
    )


@pytest.mark.parametrize("name", ["/dev/zero", "zero-link"])
def test_device_is_refused_without_reading(tmp_path: Path, reader: str, name: str) -> None:
    (tmp_path / "zero-link").symlink_to("/dev/zero")
    r = check(tmp_path, reader, "-i", name)
    assert (r.code, r.line) == (
        ExitCode.USAGE,
        err(f"--inventory {name}: a character device, not a regular file"),
    )
    assert r.peak_mb < PEAK_MB


def test_missing_inventory(tmp_path: Path, reader: str) -> None:
    r = check(tmp_path, reader, "-i", "nothing.ini")
    assert (r.code, r.line) == (
        ExitCode.USAGE,
        err("--inventory nothing.ini: no such file or folder"),
    )


def test_folder_without_ansible_inventory(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts").write_text("[g]\nsrv\n")
    r = check(tmp_path, "builtin", "-i", "inv")
    assert (r.code, r.line) == (
        ExitCode.USAGE,
        err(
            "--inventory inv: a folder inventory needs ansible-inventory (pip install ansible-core)"
        ),
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("fifo", "--inventory inv/fifo: a FIFO, not a regular file"),
        ("zero", "--inventory inv/zero: a character device, not a regular file"),
        ("hosts", "inv/hosts:2: host range '[0:99999999]' expands to more than 10000 hosts"),
        ("group_vars/all.yml", "inv/group_vars/all.yml:3: alias *a refers to a node that contains it (a recursive alias)"),
        ("group_vars/all", "--inventory inv/group_vars/all: a FIFO, not a regular file"),
        ("esc\x1b[31m", "--inventory inv/'esc\\x1b[31m': a file name with a control character"),
    ],
)  # fmt: skip
def test_folder_with_a_hostile_entry(tmp_path: Path, entry: str, message: str) -> None:
    """A folder inventory is read by ansible-inventory: everything in it is checked first."""
    inv = tmp_path / "inv"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "a.ini").write_text("[g]\nsrv\n")
    p = inv / entry
    if entry.endswith("fifo") or entry == "group_vars/all":
        os.mkfifo(p)
    elif entry == "zero":
        p.symlink_to("/dev/zero")
    elif entry == "hosts":
        p.write_text("[g]\nsrv[0:99999999]\n")
    else:
        p.write_text("x: &a\n  y:\n    - *a\n")
    r = check(tmp_path, "ansible", "-i", "inv", timeout=60)
    assert (r.code, r.line) == (ExitCode.USAGE, err(message))
    assert r.peak_mb < PEAK_MB


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("host_vars", "--inventory host_vars/srv: a FIFO, not a regular file"),
        ("group_vars", "group_vars/g.yml:2: nested deeper than 100 levels"),
        ("group_vars/many", "--inventory group_vars/many: more than 1000 files to read"),
    ],
)
def test_vars_beside_the_inventory_are_checked(tmp_path: Path, entry: str, message: str) -> None:
    """ansible-inventory reads group_vars/ and host_vars/ beside the file: they are checked
    first, and only so much of them (a folder of 1,001 files)."""
    (tmp_path / "hosts.ini").write_text("[g]\nsrv\n")
    (tmp_path / entry.split("/")[0]).mkdir()
    if entry == "host_vars":
        os.mkfifo(tmp_path / entry / "srv")
    elif entry == "group_vars/many":
        (tmp_path / entry).mkdir()
        for i in range(1001):
            (tmp_path / entry / f"f{i}.yml").write_text("")
    else:
        (tmp_path / entry / "g.yml").write_text("x:\n  " + "[" * 200 + "]" * 200 + "\n")
    r = check(tmp_path, "ansible", "-i", "hosts.ini", timeout=60)
    assert (r.code, r.line) == (ExitCode.USAGE, err(message))


def test_vars_linked_to_the_root_folder(tmp_path: Path) -> None:
    """group_vars/ linking to / is not walked whole: one line, exit 2, quickly."""
    (tmp_path / "hosts.ini").write_text("[g]\nsrv\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "root").symlink_to("/")
    r = check(tmp_path, "ansible", "-i", "hosts.ini", timeout=60)
    assert r.code == ExitCode.USAGE
    assert r.line.startswith(err("--inventory group_vars/root/")), r.line
    assert r.line.endswith(": more than 1000 files to read") or "not a regular file" in r.line
    assert r.seconds < 30


# ---- ansible-inventory: deadline, output and memory bounds
def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie waiting for its parent to reap it is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_ansible_inventory_deadline(tmp_path: Path) -> None:
    """A dynamic inventory that never answers (and one that leaves a child holding
    the pipes) ends at HARBORKIT_INVENTORY_TIMEOUT, its processes killed."""
    from concurrent.futures import ThreadPoolExecutor

    scripts = {
        "sleeps.sh": "echo $$ > sleeps.pid\nexec sleep 60\n",
        "forks.sh": "sleep 60 &\necho $! > forks.pid\necho '{}'\n",
    }
    for name, body in scripts.items():
        (tmp_path / name[:-3]).mkdir()
        script = tmp_path / name[:-3] / name
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(0o755)

    def run(name: str) -> Run:
        # 10 s: ansible-inventory (Python) must have started the script by then, also
        # on a loaded 2-core machine running two test workers (2 s, then 5 s, were not
        # always enough); both run at once, so the suite waits the deadline once
        return check(tmp_path / name[:-3], "ansible", "-i", name, HARBORKIT_INVENTORY_TIMEOUT="10")

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(scripts, pool.map(run, scripts)))
    for name, r in runs.items():
        assert (r.code, r.line) == (
            ExitCode.USAGE,
            err(f"--inventory {name}: ansible-inventory did not finish within 10 s"),
        )
        assert r.seconds < 40  # the scripts sleep 60 s
        pid = int((tmp_path / name[:-3] / name.replace(".sh", ".pid")).read_text())
        assert not _alive(pid), f"{name}: its process {pid} was left running"


def test_ansible_inventory_output_bound(tmp_path: Path) -> None:
    """What ansible-inventory prints is bounded (16 MiB), whatever it is."""
    fake = tmp_path / "fake-ansible-inventory"
    fake.write_text('#!/bin/sh\nexec yes \'{"all": {"hosts": ["a"]}}\'\n')
    fake.chmod(0o755)
    (tmp_path / "hosts.ini").write_text("[g]\nsrv\n")
    r = check(tmp_path, "ansible", "-i", "hosts.ini", HARBORKIT_ANSIBLE_INVENTORY=str(fake))
    assert (r.code, r.line) == (
        ExitCode.USAGE,
        err("--inventory hosts.ini: ansible-inventory printed more than 16 MiB"),
    )
    assert r.peak_mb < PEAK_MB


def test_ansible_inventory_memory_bound(tmp_path: Path) -> None:
    """A dynamic inventory whose output ansible-inventory reads whole: its memory is
    bounded, and the failure is one line."""
    script = tmp_path / "spam.sh"
    script.write_text("#!/bin/sh\nexec yes '\"aaaaaaaaaaaaaaaa\",'\n")
    script.chmod(0o755)
    r = check(tmp_path, "ansible", "-i", "spam.sh")
    assert r.code == ExitCode.USAGE
    assert r.line.startswith(err("--inventory spam.sh: ansible-inventory"))
    assert r.peak_mb < PEAK_MB


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("[]", "ansible-inventory printed JSON that is not a mapping of groups"),
        ('{"g": {"hosts": "srv"}}', "ansible-inventory printed hosts of group 'g' that is not a list of names"),
        ('{"_meta": {"hostvars": {"srv": 1}}}', "ansible-inventory printed _meta.hostvars that is not a mapping of host variables"),
        ('{"all": {"hosts": ["srv"]}, "_meta": {"hostvars": {"srv": {"ansible_port": 1' + "0" * 2000 + "}}}}",
         "ansible-inventory printed no JSON: integer of 2001 digits is out of range"),
        ('{"_meta": {"hostvars": {"a\\u001bb": {}}}}', "ansible-inventory printed a name with a control character ('a\\x1bb') in _meta.hostvars"),
        ("not json", "ansible-inventory printed no JSON: Expecting value: line 1 column 1 (char 0)"),
    ],
)  # fmt: skip
def test_ansible_inventory_output_is_checked(tmp_path: Path, output: str, message: str) -> None:
    fake = tmp_path / "fake-ansible-inventory"
    (tmp_path / "out.json").write_text(output)
    fake.write_text(f"#!/bin/sh\nexec cat {tmp_path / 'out.json'}\n")
    fake.chmod(0o755)
    (tmp_path / "inv.sh").write_text("#!/bin/sh\n")
    (tmp_path / "inv.sh").chmod(0o755)
    r = check(tmp_path, "ansible", "-i", "inv.sh", HARBORKIT_ANSIBLE_INVENTORY=str(fake))
    assert (r.code, r.line) == (ExitCode.USAGE, err(f"--inventory inv.sh: {message}"))


# ---- --limit ~regex under a time bound
def test_limit_regex_has_a_time_bound(tmp_path: Path, reader: str) -> None:
    (tmp_path / "hosts.ini").write_text("[g]\n" + "a" * 40 + "b\n")
    r = check(
        tmp_path, reader, "-i", "hosts.ini", "--limit", "~^(a+)+$", HARBORKIT_LIMIT_TIMEOUT="1"
    )
    assert (r.code, r.line) == (
        ExitCode.USAGE,
        err(
            "--limit ~^(a+)+$: the regular expression '^(a+)+$' took longer than 1 s "
            "(it backtracks too much)"
        ),
    )
    assert r.seconds < 20


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("~(", "--limit ~(: bad regular expression '(': missing ), unterminated subpattern at position 0"),
        ("~x{99999999999}", "--limit ~x{99999999999}: bad regular expression 'x{99999999999}': the repetition number is too large"),
        ("~zzz", "--limit ~zzz: ~zzz matches no host or group of hosts.ini"),
    ],
)  # fmt: skip
def test_limit_bad_regex(tmp_path: Path, pattern: str, message: str) -> None:
    (tmp_path / "hosts.ini").write_text("[g]\nsrv\n")
    r = check(tmp_path, "builtin", "-i", "hosts.ini", "--limit", pattern)
    assert (r.code, r.line) == (ExitCode.USAGE, err(message))


# ---- big but valid: read within the bounds
def test_ten_thousand_hosts_fit(tmp_path: Path, reader: str) -> None:
    """The cap itself is usable: 10,000 hosts (a range, and the same range in a
    second group) are read, and --limit picks from them, in bounded memory."""
    (tmp_path / "hosts.ini").write_text(
        "[web]\nsrv[00000:09999] ansible_user=ops\n[db]\nsrv[00000:00099]\n"
        "[all:vars]\nansible_port=2222\n"
    )
    r = check(tmp_path, reader, "-i", "hosts.ini", "--limit", "db:&nothing")
    assert (r.code, r.line) == (
        ExitCode.USAGE,
        err("--limit db:&nothing: nothing is no host or group of hosts.ini"),
    )
    assert r.peak_mb < PEAK_MB


def test_a_chain_of_a_thousand_groups_over_ten_thousand_hosts(tmp_path: Path) -> None:
    """Every group's vars reach every host: held once per set of groups, not per host
    (this took 1 GB and 20 s). ansible-inventory itself takes minutes here: its
    deadline answers (one line, exit 2)."""
    text = "".join(f"[g{i}:children]\ng{i + 1}\n[g{i}:vars]\nv{i}={i}\n" for i in range(999))
    (tmp_path / "hosts.ini").write_text(text + "[g999]\nsrv[0:9999]\n")
    r = check(tmp_path, "builtin", "-i", "hosts.ini", "--limit", "g*:!g0")
    assert (r.code, r.line) == (
        ExitCode.USAGE,
        err("--limit g*:!g0: no host of hosts.ini is left"),
    )
    assert r.peak_mb < PEAK_MB
    assert r.seconds < 30
    r = check(tmp_path, "ansible", "-i", "hosts.ini", HARBORKIT_INVENTORY_TIMEOUT="3")
    assert (r.code, r.line) == (
        ExitCode.USAGE,
        err("--inventory hosts.ini: ansible-inventory did not finish within 3 s"),
    )
    assert r.peak_mb < PEAK_MB


def test_group_vars_times_hosts(tmp_path: Path, reader: str) -> None:
    """99,000 group vars over 10,000 hosts: the built-in reader holds them once;
    ansible-inventory copies them into every host and stops at its memory bound.
    Either way within 200 MB, and one line."""
    (tmp_path / "hosts.ini").write_text(
        "[g]\nsrv[0:9999]\n[all:vars]\n" + "".join(f"k{i}=1\n" for i in range(99_000))
    )
    r = check(tmp_path, reader, "-i", "hosts.ini", "--limit", "nothing")
    assert r.code == ExitCode.USAGE
    if reader == "builtin":
        assert r.line == err("--limit nothing: nothing is no host or group of hosts.ini")
    else:
        assert r.line.startswith(err("--inventory hosts.ini: ansible-inventory")), r.line
    assert r.peak_mb < PEAK_MB
