"""``harborkit fix`` over SSH against real sshd hosts (issue 22 items 1-3, 5).

Two hosts of the lab's image, started for this module, hold the
guide-as-written files; ``node-b``'s limits.conf differs from ``node-a``'s,
so each has its own plan (another id, another diff). Nothing here touches the
lab's shared hosts.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from tests.remote.conftest import FIXTURES, Lab, hk
from tests.support.sshhost import SshHost, start_host

LIMITS = "/etc/security/limits.conf"
FILES = (
    LIMITS,
    "/etc/security/limits.d/20-nproc.conf",
    "/etc/profile",
    "/etc/docker/daemon.json",
    "/etc/security/limits.d/90-harbor.conf",
)
#: checks whose plan is files only (no command needs systemd or docker here)
ONLY = ("--only", "limits.pam,sysctl.persisted")
BUSYBOX = Path("/usr/bin/busybox")
STALE = "/var/lib/harborkit/fix/.applier.lock"
B_LINE = "# node-b: a line node-a does not have\n"


@pytest.fixture(scope="module")
def pair(lab: Lab) -> Iterator[tuple[SshHost, SshHost]]:
    names = ("node-a", "node-b")
    with ThreadPoolExecutor(max_workers=2) as pool:
        hosts = list(
            pool.map(lambda n: start_host(lab.image, lab.env, n, lab.client.public_key), names)
        )
    try:
        for h in hosts:
            h.put_tree(FIXTURES / "guide-as-written")
        hosts[1].exec(f"printf '%s' '{B_LINE}' >> {LIMITS}")
        lab.client.trust(hosts)
        yield hosts[0], hosts[1]
    finally:
        for h in hosts:
            h.stop()


def state(host: SshHost) -> str:
    """sha256, mode, owner of every planned file (or 'absent')."""
    out = []
    for f in FILES:
        out.append(
            host.exec(
                f"if [ -e {f} ]; then printf '%s %s ' \"$(stat -c '%a %u:%g' {f})\" {f}; "
                f"sha256sum < {f}; else echo absent {f}; fi"
            )
        )
    return "".join(out)


def plan_ids(out: str) -> dict[str, str]:
    return dict(re.findall(r"^harborkit fix: (\S+) \(remote\), plan ([0-9a-f]{12}):", out, re.M))


def fix(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return hk("fix", *args, config=lab.client.config)


def test_dry_run_plans_each_host_from_its_own_files(
    lab: Lab, pair: tuple[SshHost, SshHost]
) -> None:
    a, b = pair
    before = state(a), state(b)
    r = fix(lab, "--host", f"{a.target},{b.target}", *ONLY)
    assert r.returncode == 0, r.stderr
    ids = plan_ids(r.stdout)
    assert set(ids) == {"node-a", "node-b"} and ids["node-a"] != ids["node-b"], r.stdout
    # each host's own diff: node-b's extra line is only in node-b's section
    part_a, part_b = r.stdout.split("harborkit fix: node-b (remote)")
    assert B_LINE.strip() not in part_a and B_LINE.strip() in part_b
    assert f"+++ b{LIMITS}" in part_a and f"+++ b{LIMITS}" in part_b
    assert f"--plan {ids['node-a']},{ids['node-b']}" in r.stdout
    # the same plan ids as a dry run of each host alone
    for h in pair:
        one = fix(lab, "--host", h.target, *ONLY)
        assert plan_ids(one.stdout) == {h.name: ids[h.name]}, one.stderr
    assert (state(a), state(b)) == before  # a dry run changes nothing


def test_a_down_host_does_not_stop_the_others(lab: Lab, pair: tuple[SshHost, SshHost]) -> None:
    a, _ = pair
    r = fix(lab, "--host", f"{a.target},{lab.down_address}", "--connect-timeout", "2", *ONLY)
    assert r.returncode == ExitCode.UNREACHABLE, r.stderr
    assert set(plan_ids(r.stdout)) == {"node-a"}
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"harborkit: error: {lab.down_address}")


def test_format_sh_and_ansible_write_one_file_per_host(
    lab: Lab, pair: tuple[SshHost, SshHost], tmp_path: Path
) -> None:
    a, b = pair
    ids = plan_ids(fix(lab, "--host", f"{a.target},{b.target}", *ONLY).stdout)
    for fmt, suffix in (("sh", ".sh"), ("ansible", ".yml")):
        out = tmp_path / fmt
        r = fix(lab, "--host", f"{a.target},{b.target}", *ONLY, "-f", fmt, "-o", str(out))
        assert r.returncode == 0, r.stderr
        assert sorted(p.name for p in out.iterdir()) == [f"node-a{suffix}", f"node-b{suffix}"]
        for h in pair:
            text = (out / f"{h.name}{suffix}").read_text()
            assert ids[h.name] in text
            assert (B_LINE.strip() in text) == (h is b) or fmt == "ansible"
        if fmt == "sh":
            assert (out / "node-a.sh").stat().st_mode & 0o777 == 0o755


def test_format_needs_an_output_folder(
    lab: Lab, pair: tuple[SshHost, SshHost], tmp_path: Path
) -> None:
    a, _ = pair
    r = fix(lab, "--host", a.target, *ONLY, "-f", "sh")
    assert (r.returncode, r.stderr.strip()) == (
        ExitCode.USAGE,
        "harborkit: error: --format sh/ansible with several hosts needs -o DIR",
    )
    f = tmp_path / "file"
    f.write_text("x")
    r = fix(lab, "--host", a.target, *ONLY, "-f", "sh", "-o", str(f))
    assert r.returncode == ExitCode.USAGE and "not a folder" in r.stderr
    assert f.read_text() == "x"


def test_snapshot_dir_plans_like_ssh(
    lab: Lab, pair: tuple[SshHost, SshHost], tmp_path: Path
) -> None:
    a, b = pair
    ids = plan_ids(fix(lab, "--host", f"{a.target},{b.target}", *ONLY).stdout)
    script = hk("collect", "--script")
    assert script.returncode == 0, script.stderr
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    for h in pair:
        data = h.exec("exec /bin/sh -s", input=script.stdout.encode(), raw=True)
        (snaps / f"{h.name}.hksnap").write_bytes(data)
    r = hk("fix", "--snapshot", str(snaps), *ONLY)
    assert r.returncode == 0, r.stderr
    assert plan_ids(r.stdout) == ids
    r = hk("fix", "--snapshot", str(snaps), *ONLY, "--apply")
    assert r.returncode == ExitCode.USAGE and "--snapshot" in r.stderr


def test_host_names_become_safe_file_names() -> None:
    from harborkit.commands.fix_remote import safe_name

    assert safe_name("server58") == "server58"
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name("a b\nc\x1b[31m") == "a_b_c__31m"
    assert safe_name("...") == "host"
    assert safe_name("root@10.0.0.1 (root@10.0.0.1:2222)") == "root_10.0.0.1__root_10.0.0.1_2222_"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def reset(host: SshHost, extra: str = "") -> None:
    """The host as the fixture made it: the guide's files, no journal."""
    created = " ".join(f for f in FILES if f != LIMITS)
    host.exec(f"rm -rf /var/lib/harborkit {created}")
    host.put_tree(FIXTURES / "guide-as-written")
    if extra:
        host.exec(f"printf '%s' '{extra}' >> {LIMITS}")


@pytest.fixture
def fresh(pair: tuple[SshHost, SshHost]) -> Iterator[tuple[SshHost, SshHost]]:
    reset(pair[0])
    reset(pair[1], B_LINE)
    # a mode and an owner of its own: kept by the fix, restored by the rollback
    pair[0].exec(f"chmod 0640 {LIMITS} && chown 1234:5678 {LIMITS}")
    yield pair


def journals(host: SshHost) -> str:
    return str(host.exec("ls /var/lib/harborkit/fix 2>/dev/null || true"))


@pytest.fixture(params=["dash", "busybox"])
def shell(request: pytest.FixtureRequest, pair: tuple[SshHost, SshHost]) -> Iterator[str]:
    """/bin/sh on node-b is dash, or BusyBox's ash (node-a keeps dash)."""
    b = pair[1]
    if request.param == "busybox":
        b.exec("cat > /bin/busybox && chmod 755 /bin/busybox", input=BUSYBOX.read_bytes())
        b.exec("ln -sf /bin/busybox /bin/sh")
        assert "BusyBox" in b.exec("/bin/sh --help 2>&1 || true")
    try:
        yield request.param
    finally:
        b.exec("ln -sf dash /bin/sh")


def test_apply_both_hosts_then_nothing_then_rollback_byte_exact(
    lab: Lab, fresh: tuple[SshHost, SshHost], shell: str
) -> None:
    a, b = fresh
    hosts = f"{a.target},{b.target}"
    before = state(a), state(b)
    trees = tree(a), tree(b)
    assert " 640 1234:5678 " in " " + before[0]
    ids = plan_ids(fix(lab, "--host", hosts, *ONLY).stdout)
    r = fix(lab, "--host", hosts, *ONLY, "--apply", "--plan", f"{ids['node-a']},{ids['node-b']}")
    assert r.returncode == 0, r.stdout + r.stderr
    for h in fresh:
        assert f"harborkit fix: {h.name}: applied plan {ids[h.name]} as journal " in r.stdout
    assert r.stdout.count("limits.pam               fail    pass") == 2, r.stdout
    assert r.stdout.rstrip().endswith("summary: node-a fixed, node-b fixed")
    fixed = state(a), state(b)
    assert fixed[0] != before[0] and fixed[1] != before[1]
    assert f"640 1234:5678 {LIMITS}" in fixed[0]  # mode and owner kept
    assert "absent" not in fixed[0] + fixed[1]  # the drop-in was made
    assert fixed[0].split(LIMITS)[1][:66] != fixed[1].split(LIMITS)[1][:66]  # each its own bytes
    for h in fresh:  # the journal: 0700, a manifest with sha256, mode, owner
        jid = journals(h).split()
        assert len(jid) == 1
        j = f"/var/lib/harborkit/fix/{jid[0]}"
        assert h.exec(f"stat -c %a /var/lib/harborkit/fix {j}").split() == ["700", "700"]
        assert h.exec(f"cat {j}/state") == "applied"
    man = a.exec("cat /var/lib/harborkit/fix/*/manifest")
    assert f"0 1 {before[0].split(LIMITS)[1].split()[0]} 640 1234 5678 {LIMITS}\n" in man + "\n"
    # the second apply: nothing to change, no second journal
    r = fix(lab, "--host", hosts, *ONLY, "--apply")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "harborkit fix: node-a: nothing to change",
        "harborkit fix: node-b: nothing to change",
        "summary: node-a unchanged, node-b unchanged",
    ]
    assert all(len(journals(h).split()) == 1 for h in fresh)
    r = fix(lab, "--host", hosts, "--list")
    assert r.returncode == 0 and r.stdout.count(" applied ") == 2, r.stdout
    r = fix(lab, "--host", hosts, "--rollback")
    assert r.returncode == 0, r.stderr
    assert (
        r.stdout.count("removed: /etc/security/limits.d/90-harbor.conf (the fix created it)") == 2
    )
    assert (state(a), state(b)) == before  # byte-exact: sha256, mode, owner; created ones gone
    assert (tree(a), tree(b)) == trees  # and every other file and folder of /etc
    r = fix(lab, "--host", hosts, "--rollback")
    assert r.returncode == ExitCode.USAGE and r.stdout.count("no journal to roll back") == 2


def test_a_host_changed_since_the_plan_is_refused_and_untouched(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    a, b = fresh
    hosts = f"{a.target},{b.target}"
    ids = plan_ids(fix(lab, "--host", hosts, *ONLY).stdout)
    b.exec(f"printf '# edited after the review\\n' >> {LIMITS}")
    edited = state(b)
    r = fix(lab, "--host", hosts, *ONLY, "--apply", "--plan", f"{ids['node-a']},{ids['node-b']}")
    assert r.returncode == ExitCode.FIX_REFUSED, r.stdout + r.stderr
    assert f"harborkit fix: node-a: applied plan {ids['node-a']} as journal " in r.stdout
    assert re.search(
        r"^harborkit fix: node-b: refused: the plan is now [0-9a-f]{12}, not one of --plan "
        rf"{ids['node-a']},{ids['node-b']}: the host changed since you reviewed it "
        r"\(nothing was changed\)$",
        r.stdout,
        re.M,
    ), r.stdout
    assert r.stdout.rstrip().endswith("summary: node-a fixed, node-b refused")
    assert state(b) == edited and journals(b) == ""


def _hand_plan(old: bytes | None, path: str = LIMITS) -> object:
    from harborkit.model.change import FileChange, Plan

    other = FileChange(("limits.pam",), "/etc/profile", b"# profile\n", None, "t", owned=True)
    mine = FileChange(("limits.pam",), path, b"* soft nofile 65536\n", old, "t")
    return Plan(files=(mine, other))


@pytest.mark.parametrize("case", ["edited", "removed", "a link", "created"])
def test_the_applier_itself_refuses_a_file_that_is_not_as_planned(
    fresh: tuple[SshHost, SshHost], shell: str, case: str
) -> None:
    # between harborkit's collect and its applier the file changes (a race, an
    # admin): the applier's own sha256 check refuses, and nothing changes
    from harborkit.fix.remote import render_applier

    _, b = fresh
    planned = b.exec(f"cat {LIMITS}", raw=True)
    plan = _hand_plan(None if case == "created" else planned)
    if case == "edited":
        b.exec(f"echo '# one more line' >> {LIMITS}")
    elif case == "removed":
        b.exec(f"rm {LIMITS}")
    elif case == "a link":
        b.exec(f"cp {LIMITS} /root/l && ln -sf /root/l {LIMITS}")
    before = state(b)
    text = render_applier(plan, journal_id="20990101T000000Z-abc", plan_id="abc", created="now")  # type: ignore[arg-type]
    out = b.exec("exec /bin/sh -s", input=text.encode())
    why = {"edited": "changed", "removed": "changed", "a link": "not-a-file", "created": "exists"}
    assert out.strip().splitlines()[-1] == f"HK refused {LIMITS} {why[case]}"
    assert state(b) == before and journals(b) == ""
    # the journal folder (and its lock) it made for the apply are gone again
    assert b.exec("[ -e /var/lib/harborkit ] || echo none") == "none\n"


def test_an_apply_cut_off_halfway_is_refused_then_rolled_back(
    lab: Lab, fresh: tuple[SshHost, SshHost], shell: str
) -> None:
    from harborkit.fix.remote import render_applier

    a, b = fresh
    before = state(b)
    plan = _hand_plan(b.exec(f"cat {LIMITS}", raw=True))
    text = render_applier(plan, journal_id="20260101T000000Z-cut", plan_id="cut", created="x")  # type: ignore[arg-type]
    # the connection drops after the first file was written: sh reads no more
    start = text.index("  hk_put ")
    cut = text[: text.index("esac\n", start) + 5]
    b.exec("exec /bin/sh -s", input=cut.encode())
    assert b.exec("cat /var/lib/harborkit/fix/20260101T000000Z-cut/state") == "applying"
    # the copies an applier and a rollback killed mid-write would have left beside it
    left = [f"{LIMITS.rsplit('/', 1)[0]}/.harborkit-{k}.{n}" for k, n in (("fix", 7), ("rb", 8))]
    b.exec(f"touch {' '.join(left)}")
    halfway = state(b)
    assert halfway != before
    hosts = f"{a.target},{b.target}"
    r = fix(lab, "--host", hosts, *ONLY, "--apply")
    assert r.returncode == ExitCode.FIX_REFUSED, r.stdout + r.stderr
    assert (
        "harborkit fix: node-b: refused: journal 20260101T000000Z-cut was cut off halfway; "
        "complete it with 'harborkit fix --rollback 20260101T000000Z-cut' "
        "and the same --host (nothing was changed)"
    ) in r.stdout
    assert state(b) == halfway
    assert "node-a fixed, node-b refused" in r.stdout
    r = fix(lab, "--host", b.target, "--rollback", "20260101T000000Z-cut")
    assert r.returncode == 0, r.stdout + r.stderr
    assert state(b) == before
    assert b.exec(f"ls -a {LIMITS.rsplit('/', 1)[0]} | grep -c harborkit || :").strip() == "0"
    r = fix(lab, "--host", b.target, *ONLY, "--apply")
    assert r.returncode == 0 and "node-b: applied plan" in r.stdout, r.stdout + r.stderr


def test_become_with_nopasswd_sudo_and_a_password_only_user(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    a, _ = fresh
    before = state(a)
    r = fix(lab, "--host", f"admin@{a.address}", "--become", *ONLY, "--apply")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "applied plan" in r.stdout and state(a) != before
    r = fix(lab, "--host", f"admin@{a.address}", "--become", "--rollback")
    assert r.returncode == 0 and state(a) == before, r.stdout + r.stderr
    kept = journals(a)  # the rolled-back journal stays, listed as such
    assert len(kept.split()) == 1
    r = fix(lab, "--host", f"clerk@{a.address}", "--become", *ONLY, "--apply")
    assert r.returncode == ExitCode.UNREACHABLE
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 1 and "wants a password (harborkit runs sudo -n)" in errors[0], errors
    assert state(a) == before and journals(a) == kept


def test_the_applier_killed_mid_way_leaves_a_journal_rollback_completes(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    a, b = fresh
    before = state(b)
    # the applier's first file put in place is its last act: its shell is killed
    wrapper = (
        '#!/bin/sh\n/bin/mv "$@"\ncase "$3" in /var/lib/*) ;; *)\n'
        "  rm -f /usr/local/bin/mv; kill -KILL $PPID;;\nesac\n"
    )
    b.exec("cat > /usr/local/bin/mv && chmod 755 /usr/local/bin/mv", input=wrapper.encode())
    try:
        r = fix(lab, "--host", f"{a.target},{b.target}", *ONLY, "--apply")
    finally:
        b.exec("rm -f /usr/local/bin/mv")
    assert r.returncode == ExitCode.UNREACHABLE, r.stdout + r.stderr
    assert "summary: node-a fixed, node-b failed" in r.stdout
    line = next(x for x in r.stdout.splitlines() if x.startswith("harborkit fix: node-b: "))
    assert "cut off" in line and "--list" in line, line
    halfway = state(b)
    assert halfway != before
    listed = fix(lab, "--host", b.target, "--list")
    assert re.search(r"^  \S+ +applying ", listed.stdout, re.M), listed.stdout
    # killed, it could not let go of the host's lock: named, never broken silently
    pid = re.search(r"^  lock: stale lock \S+: its holder \(pid (\d+), plan ", listed.stdout, re.M)
    assert pid is not None, listed.stdout
    for args in ((*ONLY, "--apply"), ("--rollback",)):
        r = fix(lab, "--host", b.target, *args)
        assert r.returncode == ExitCode.FIX_LOCKED, r.stdout + r.stderr
        assert re.search(
            rf"^harborkit fix: (node-b|{re.escape(b.address)}): refused: stale lock {STALE}: its holder \(pid "
            rf"{pid[1]}, plan [0-9a-f]{{12}}, since \S+Z\) is gone; if no harborkit fix runs on "
            rf"this host, clear it with 'harborkit fix --break-lock {pid[1]}' and the same "
            r"--host, then see --list \(nothing was changed\)$",
            r.stdout,
            re.M,
        ), r.stdout
        assert state(b) == halfway
    r = fix(lab, "--host", b.target, "--break-lock", str(int(pid[1]) + 1))
    assert r.returncode == ExitCode.FIX_LOCKED and "not the one --break-lock names" in r.stdout
    r = fix(lab, "--host", b.target, "--break-lock", pid[1])
    assert r.returncode == 0, r.stdout
    assert f"{b.address}: removed the stale lock (pid {pid[1]}, plan " in r.stdout, r.stdout
    r = fix(lab, "--host", b.target, "--break-lock", pid[1])
    assert r.returncode == 0 and "nothing to clear" in r.stdout, r.stdout
    r = fix(lab, "--host", b.target, *ONLY, "--apply")
    assert r.returncode == ExitCode.FIX_REFUSED and "was cut off halfway" in r.stdout
    assert state(b) == halfway
    r = fix(lab, "--host", b.target, "--rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert state(b) == before


def test_a_command_runs_only_when_its_files_changed_and_rollback_names_it(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    from dataclasses import replace

    from harborkit.fix.remote import render_applier
    from harborkit.model.change import Command

    _, b = fresh
    before = state(b)
    plan = _hand_plan(b.exec(f"cat {LIMITS}", raw=True))
    cmd = Command(("limits.pam",), ("touch", "/tmp/hk ran"), "t", irreversible="a file made")
    plan = replace(plan, commands=(cmd,))  # type: ignore[type-var]
    for n in (1, 2):
        text = render_applier(plan, journal_id=f"2026010{n}T000000Z-c", plan_id="c", created="x")  # type: ignore[arg-type]
        out = b.exec("exec /bin/sh -s", input=text.encode())
        assert out.strip().splitlines()[-1] == f"HK applied 2026010{n}T000000Z-c"
        ran = b.exec("ls /tmp/hk\\ ran 2>/dev/null; rm -f '/tmp/hk ran'")
        assert ran.strip() == ("/tmp/hk ran" if n == 1 else ""), n  # files unchanged: not run
    r = fix(lab, "--host", b.target, "--rollback", "20260101T000000Z-c")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "  cannot undo: touch '/tmp/hk ran' (a file made)" in r.stdout.splitlines()
    assert state(b) == before


HOSTILE_NAME = "/etc/hk dir/it's $(touch canary) `id` %s\\n\t.conf"
HOSTILE_BYTES = b"\x00\xff'$(touch /tmp/canary)`touch /tmp/canary`\n%s%n\\x41\\\n\r\nHK applied x\n"


def test_hostile_names_and_bytes_are_data_written_and_removed_exactly(
    lab: Lab, fresh: tuple[SshHost, SshHost], shell: str
) -> None:
    from harborkit.fix.remote import render_applier
    from harborkit.model.change import FileChange, Plan

    _, b = fresh
    b.exec("rm -rf '/etc/hk dir' /tmp/canary /canary /root/canary")
    plan = Plan(files=(FileChange(("limits.pam",), HOSTILE_NAME, HOSTILE_BYTES, None, "t"),))
    text = render_applier(plan, journal_id="20260101T000000Z-h", plan_id="h", created="x")
    assert text.isascii()
    out = b.exec("exec /bin/sh -s", input=text.encode())
    assert out.strip().splitlines()[-1] == "HK applied 20260101T000000Z-h"
    got = b.exec("cat /etc/hk\\ dir/*", raw=True)
    assert got == HOSTILE_BYTES
    assert b.exec("printf '%s' '/etc/hk dir'/*", raw=True) == HOSTILE_NAME.encode()
    assert b.exec("ls /tmp/canary /canary /root/canary 2>/dev/null || true") == ""
    r = fix(lab, "--host", b.target, "--rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    # the file the fix made is gone, and so is the folder it made for it
    assert b.exec("[ -e '/etc/hk dir' ] || echo gone") == "gone\n"
    assert "  removed folder: /etc/hk\\040dir (the fix created it)" in r.stdout.splitlines()
    assert b.exec("ls /tmp/canary /canary /root/canary 2>/dev/null || true") == ""


@pytest.mark.parametrize("path", ["etc/rel", "/etc/../passwd", "/etc//x", "/etc/./x", "/a\x00b"])
def test_a_path_no_applier_can_carry_is_refused(path: str) -> None:
    from harborkit.fix.export import ExportError
    from harborkit.fix.remote import render_applier
    from harborkit.model.change import FileChange, Plan

    plan = Plan(files=(FileChange(("x",), path, b"y", None, "t"),))
    with pytest.raises(ExportError, match="not a plain absolute path"):
        render_applier(plan, journal_id="1-a", plan_id="a", created="x")


def test_inventory_and_limit_apply_and_list_only_the_hosts_chosen(
    lab: Lab, fresh: tuple[SshHost, SshHost], tmp_path: Path
) -> None:
    a, b = fresh
    inv = tmp_path / "hosts.ini"
    inv.write_text(f"[nodes]\nnode-a ansible_host={a.address}\nnode-b ansible_host={b.address}\n")
    before_a = state(a)
    r = fix(lab, "-i", str(inv), "--limit", "node-b", *ONLY, "--apply")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("summary: node-b fixed")
    assert state(a) == before_a and journals(a) == ""
    r = fix(lab, "-i", str(inv), "--list")
    assert r.returncode == 0, r.stderr
    assert "harborkit fix: node-a: no fixes journaled in /var/lib/harborkit/fix" in r.stdout
    assert re.search(r"^  \S+-[0-9a-f]{12} +applied ", r.stdout, re.M), r.stdout
    r = fix(lab, "-i", str(inv), "--limit", "node-b", "--rollback")
    assert r.returncode == 0 and "harborkit fix: node-b: rolled back journal" in r.stdout


# -- one fix at a time per host: the lock --------------------------------------

#: mv that, the first time it would put a file of the fix in place, waits for /tmp/hk-go
HOLD = (
    "#!/bin/sh\n"
    'case "$3" in /var/lib/*) ;; *) if [ ! -e /tmp/hk-inside ]; then : > /tmp/hk-inside\n'
    "  n=0; while [ ! -e /tmp/hk-go ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n+1)); done; fi;;\n"
    'esac\nexec /bin/mv "$@"\n'
)


def fix_popen(lab: Lab, *args: str) -> subprocess.Popen[str]:
    import os
    import sys

    from tests.remote.conftest import HK

    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    argv = [*HK, "fix", "--ssh-config", str(lab.client.config), *args]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def wait_for(host: SshHost, path: str, seconds: float = 120) -> None:
    import time

    end = time.monotonic() + seconds
    while host.exec(f"[ -e {path} ] && echo y || true").strip() != "y":
        assert time.monotonic() < end, f"{path} never appeared on {host.name}"
        time.sleep(0.2)


def test_a_second_fix_while_one_applies_is_refused_naming_the_holder(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    _, b = fresh
    before = state(b)
    b.exec(
        "rm -f /tmp/hk-inside /tmp/hk-go; cat > /usr/local/bin/mv; chmod 755 /usr/local/bin/mv",
        input=HOLD.encode(),
    )
    first = fix_popen(lab, "--host", b.target, *ONLY, "--apply")
    try:
        wait_for(b, "/tmp/hk-inside")  # the first holds the lock, its journal made, no file yet
        pid, start, plan, since = b.exec(f"readlink {STALE}").split()
        assert re.fullmatch(r"[0-9a-f]{12}", plan) and b.exec(f"cat /proc/{pid}/comm").strip()
        held = (
            f"harborkit fix: node-b: refused: another harborkit fix holds {STALE} (pid {pid}, "
            f"plan {plan}, since {since}): try again when it has finished (nothing was changed)"
        )
        r = fix(lab, "--host", b.target, *ONLY, "--apply")
        assert r.returncode == ExitCode.FIX_LOCKED, r.stdout + r.stderr
        assert r.stdout.splitlines() == [held, "summary: node-b locked"], r.stdout
        for args in (("--rollback",), ("--break-lock", pid)):  # the same lock; alive: kept
            r = fix(lab, "--host", b.target, *args)
            assert r.returncode == ExitCode.FIX_LOCKED, r.stdout + r.stderr
            # named by its address: a rollback audits nothing
            assert r.stdout.splitlines() == [held.replace("node-b", b.address)], r.stdout
        r = fix(lab, "--host", b.target, "--list")
        assert r.returncode == 0 and f"  lock: {held.split('refused: ')[1][:-24]}" in r.stdout
        assert state(b) == before and len(journals(b).split()) == 1
        assert b.exec(f"readlink {STALE}").split() == [pid, start, plan, since]
        b.exec(": > /tmp/hk-go")
        out, err = first.communicate(timeout=300)
    finally:
        b.exec(": > /tmp/hk-go; rm -f /usr/local/bin/mv")
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, out + err
    assert f"harborkit fix: node-b: applied plan {plan} as journal " in out
    assert b.exec(f"[ -e {STALE} ] || [ -h {STALE} ] || echo free").strip() == "free"
    assert len(journals(b).split()) == 1
    r = fix(lab, "--host", b.target, *ONLY, "--apply")
    assert r.stdout.splitlines()[0] == "harborkit fix: node-b: nothing to change", r.stdout


#: sha256sum slowed down: two appliers started together overlap in their checks
SLOW_SHA = '#!/bin/sh\nsleep 0.3\nexec /usr/bin/sha256sum "$@"\n'


@pytest.mark.parametrize("round_", [1, 2])
def test_applies_started_together_on_one_host_never_interleave(
    lab: Lab, fresh: tuple[SshHost, SshHost], round_: int
) -> None:
    a, b = fresh
    b.exec(
        "cat > /usr/local/bin/sha256sum; chmod 755 /usr/local/bin/sha256sum",
        input=SLOW_SHA.encode(),
    )
    try:
        both = [fix_popen(lab, "--host", b.target, *ONLY, "--apply") for _ in range(2)]
        done = [p.communicate(timeout=300) for p in both]
    finally:
        b.exec("rm -f /usr/local/bin/sha256sum")
    words = sorted(
        next(x for x in out.splitlines() if x.startswith("harborkit fix: node-b: "))
        .split(": ", 2)[2]
        .split(" ")[0]
        for out, _ in done
    )
    codes = sorted(p.returncode for p in both)
    # one applies; the other is refused by the lock, or comes after and finds nothing to do
    assert (words, codes) in (
        (["applied", "refused:"], [0, ExitCode.FIX_LOCKED]),
        (["applied", "nothing"], [0, 0]),
    ), done
    assert len(journals(b).split()) == 1
    assert b.exec("cat /var/lib/harborkit/fix/*/state") == "applied"
    assert b.exec(f"[ -e {STALE} ] || [ -h {STALE} ] || echo free").strip() == "free"
    # exactly the state one apply makes
    reset(a, B_LINE)
    r = fix(lab, "--host", a.target, *ONLY, "--apply")
    assert r.returncode == 0, r.stdout
    assert state(a).replace("640 1234:5678", "644 0:0") == state(b)


# -- folders the fix made -------------------------------------------------------


def tree(host: SshHost, top: str = "/etc") -> str:
    """Every name below ``top`` with its mode, owner and type, and every file's sha256."""
    return str(
        host.exec(
            f"find {top} -xdev -exec stat -c '%n %a %u:%g %F' {{}} + | LC_ALL=C sort; "
            f"find {top} -xdev -type f -exec sha256sum {{}} + | LC_ALL=C sort"
        )
    )


def _made_folders_plan() -> object:
    from harborkit.model.change import FileChange, Plan

    return Plan(
        files=(
            FileChange(("x",), "/etc/hk new/a/b/one.conf", b"1\n", None, "t"),
            FileChange(("x",), "/etc/hk new/a/two.conf", b"2\n", None, "t"),
            FileChange(("x",), "/etc/docker/daemon.json", b"{}\n", None, "t"),
        )
    )


MADE = ("/etc/hk\\040new/a/b", "/etc/hk\\040new/a", "/etc/hk\\040new", "/etc/docker")


def test_a_rollback_removes_the_folders_the_apply_made(
    lab: Lab, fresh: tuple[SshHost, SshHost], shell: str
) -> None:
    from harborkit.fix.remote import render_applier

    _, b = fresh
    b.exec("rm -rf '/etc/hk new' /etc/docker")
    before = tree(b)
    text = render_applier(
        _made_folders_plan(), journal_id="20260101T000000Z-d", plan_id="d", created="x"
    )  # type: ignore[arg-type]
    out = b.exec("exec /bin/sh -s", input=text.encode())
    assert out.strip().splitlines()[-1] == "HK applied 20260101T000000Z-d"
    made = b.exec("stat -c '%a %u:%g' '/etc/hk new' '/etc/hk new/a' '/etc/hk new/a/b' /etc/docker")
    assert made.split("\n")[:4] == ["755 0:0"] * 4  # as mkdir -p makes them, not umask 077
    r = fix(lab, "--host", b.target, "--rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [x for x in r.stdout.splitlines() if "folder" in x] == [
        f"  removed folder: {m} (the fix created it)" for m in MADE
    ]
    assert tree(b) == before  # no new folder remains; every mode, owner and byte as it was


def test_a_folder_the_apply_made_that_is_not_empty_is_kept_and_said(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    from harborkit.fix.remote import render_applier

    _, b = fresh
    b.exec("rm -rf '/etc/hk new' /etc/docker")
    text = render_applier(
        _made_folders_plan(), journal_id="20260101T000000Z-e", plan_id="e", created="x"
    )  # type: ignore[arg-type]
    assert (
        b.exec("exec /bin/sh -s", input=text.encode())
        .strip()
        .endswith("HK applied 20260101T000000Z-e")
    )
    b.exec("echo mine > '/etc/hk new/a/admin.conf'")
    r = fix(lab, "--host", b.target, "--rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [x for x in r.stdout.splitlines() if "folder" in x] == [
        f"  removed folder: {MADE[0]} (the fix created it)",
        f"  kept folder: {MADE[1]} (the fix created it, but it is not empty now)",
        f"  kept folder: {MADE[2]} (the fix created it, but it is not empty now)",
        f"  removed folder: {MADE[3]} (the fix created it)",
    ]
    assert b.exec("find '/etc/hk new' | LC_ALL=C sort").split("\n")[:3] == [
        "/etc/hk new",
        "/etc/hk new/a",
        "/etc/hk new/a/admin.conf",
    ]
    assert b.exec("cat '/etc/hk new/a/admin.conf'") == "mine\n"
    b.exec("rm -rf '/etc/hk new'")


def test_folders_of_an_apply_cut_off_are_removed_by_the_rollback(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    from harborkit.fix.remote import render_applier

    _, b = fresh
    b.exec("rm -rf '/etc/hk new' /etc/docker")
    before = tree(b)
    text = render_applier(
        _made_folders_plan(), journal_id="20260101T000000Z-f", plan_id="f", created="x"
    )  # type: ignore[arg-type]
    cut = text[: text.index("esac\n", text.index("  hk_put ")) + 5]  # cut after one file
    b.exec("exec /bin/sh -s", input=cut.encode())
    assert b.exec("cat /var/lib/harborkit/fix/20260101T000000Z-f/state") == "applying"
    assert b.exec("cat '/etc/hk new/a/b/one.conf'") == "1\n"
    r = fix(lab, "--host", b.target, "--rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree(b) == before


def test_a_cli_apply_into_a_missing_folder_rolls_back_to_the_same_tree(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    _, b = fresh
    b.exec("rm -rf /etc/security/limits.d")
    before = tree(b)
    r = fix(lab, "--host", b.target, *ONLY, "--apply")
    assert r.returncode == 0, r.stdout + r.stderr
    assert b.exec("stat -c '%a %u:%g' /etc/security/limits.d").strip() == "755 0:0"
    r = fix(lab, "--host", b.target, "--rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "  removed folder: /etc/security/limits.d (the fix created it)" in r.stdout.splitlines()
    assert tree(b) == before


def test_the_connection_dropped_mid_apply_then_refused_then_rolled_back(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    # dash only: BusyBox's sh runs its own mv applet, not the one that holds the applier
    import time

    _, b = fresh
    before, before_tree = state(b), tree(b)
    b.exec(
        "rm -f /tmp/hk-inside /tmp/hk-go; cat > /usr/local/bin/mv; chmod 755 /usr/local/bin/mv",
        input=HOLD.encode(),
    )
    first = fix_popen(lab, "--host", b.target, *ONLY, "--apply")
    try:
        wait_for(b, "/tmp/hk-inside")  # the applier is about to put its first file in place
        pid = b.exec(f"readlink {STALE}").split()[0]
        sshd = b.exec(f"sed 's/^.*) //' /proc/{pid}/stat | cut -d ' ' -f 2").strip()
        assert b.exec(f"cat /proc/{sshd}/comm").strip() == "sshd"
        b.exec(f"kill -KILL {sshd}")  # the sshd child of the session: the connection drops
        out, err = first.communicate(timeout=300)
        b.exec(": > /tmp/hk-go")  # the applier goes on alone: it stops at its next word
        end = time.monotonic() + 60
        while b.exec(f"[ -h {STALE} ] && echo held || true").strip() == "held":
            assert time.monotonic() < end, "the applier cut off kept the host's lock"
            time.sleep(0.2)
    finally:
        b.exec(": > /tmp/hk-go; rm -f /usr/local/bin/mv")
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == ExitCode.UNREACHABLE, out + err
    assert out.rstrip().endswith("summary: node-b failed"), out
    line = next(x for x in out.splitlines() if x.startswith("harborkit fix: node-b: "))
    assert "cut off" in line and "--list" in line, line
    assert b.exec("cat /var/lib/harborkit/fix/*/state") == "applying"
    halfway = state(b)
    assert halfway != before
    r = fix(lab, "--host", b.target, *ONLY, "--apply")
    assert r.returncode == ExitCode.FIX_REFUSED and "was cut off halfway" in r.stdout, r.stdout
    assert state(b) == halfway
    r = fix(lab, "--host", b.target, "--rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert state(b) == before and tree(b) == before_tree


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--break-lock", "12"), "--break-lock clears a lock on hosts: it goes with --host or -i"),
        (("--host", "127.0.0.1", "--break-lock", "0"), "--break-lock 0: not a process id"),
        (
            ("--host", "127.0.0.1", "--break-lock", "12", "--apply"),
            "--apply, --rollback, --list and --break-lock exclude each other",
        ),
        (
            ("--host", "127.0.0.1", "--break-lock", "12", "--rollback"),
            "--apply, --rollback, --list and --break-lock exclude each other",
        ),
    ],
)
def test_break_lock_misuse_is_one_usage_line(args: tuple[str, ...], said: str) -> None:
    r = hk("fix", *args)  # refused before any host is reached
    assert r.returncode == ExitCode.USAGE, r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [f"harborkit: error: {said}"], r.stderr
    assert r.stdout == ""


def test_a_fix_run_on_the_host_itself_holds_the_remote_applier_off(
    lab: Lab, fresh: tuple[SshHost, SshHost]
) -> None:
    # harborkit run on the host locks /var/lib/harborkit/fix/.lock with flock and writes its pid
    _, b = fresh
    before = state(b)
    b.exec("command -v flock && mkdir -p -m 700 /var/lib/harborkit/fix && rm -f /tmp/hk-held")
    hold = (
        "exec 9>>/var/lib/harborkit/fix/.lock; flock 9; echo $$ > /var/lib/harborkit/fix/.lock; "
        ": > /tmp/hk-held; exec sleep 120"
    )
    holder = subprocess.Popen(
        ["docker", "exec", b.container, "/bin/sh", "-c", hold], env=b.docker_env
    )
    pid = ""
    try:
        wait_for(b, "/tmp/hk-held")
        pid = b.exec("cat /var/lib/harborkit/fix/.lock").strip()  # the sleep: exec kept it
        r = fix(lab, "--host", b.target, *ONLY, "--apply")
        assert r.returncode == ExitCode.FIX_LOCKED, r.stdout + r.stderr
        assert r.stdout.splitlines() == [
            "harborkit fix: node-b: refused: a harborkit fix run on the host holds "
            f"/var/lib/harborkit/fix/.lock (pid {pid}): try again when it has finished "
            "(nothing was changed)",
            "summary: node-b locked",
        ], r.stdout
        assert state(b) == before and journals(b) == ""
        assert b.exec(f"[ -h {STALE} ] || echo free").strip() == "free"
    finally:
        if pid:
            b.exec(f"kill {pid} || true")
        else:
            holder.kill()
        holder.wait(timeout=60)
    r = fix(lab, "--host", b.target, *ONLY, "--apply")
    assert r.returncode == 0 and "node-b: applied plan" in r.stdout, r.stdout + r.stderr
    assert b.exec("cat /var/lib/harborkit/fix/.lock").strip() != pid  # the applier's pid now
