"""The commands of a local audit (harborkit/childproc.py, LocalHost.run) and the
Compose probe a local check starts before anything else loads (commands/early.py):
the same answers as subprocess.run, deadlines that hold against a hang and a
trickle, output read to a bound, nothing left running, and the early start
really first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harborkit import childproc
from harborkit.errors import ExitCode
from harborkit.host.local import LocalHost, finish
from harborkit.host.warm import WarmLocalHost

REPO = Path(__file__).resolve().parents[2]


def _script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    exe = folder / name
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(0o755)
    return exe


def _alive(marker: str) -> list[str]:
    """Command lines of the running processes that contain ``marker``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            found.append(cmd)
    return found


# -- LocalHost.run: what subprocess.run(text=True) said, within a deadline and a bound ---------


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-c", "echo out; echo err >&2"],
        ["sh", "-c", "printf 'a\\r\\nb\\rc\\n'; exit 3"],  # newlines as text mode reads them
        ["sh", "-c", "printf 'x%.0s' $(seq 200000)"],  # more than a pipe holds
        ["sh", "-c", "printf 'y%.0s' $(seq 100000) >&2; printf 'z%.0s' $(seq 100000)"],
        ["sh", "-c", "kill -TERM $$"],
        ["true"],
    ],
)
def test_commands_read_as_subprocess_run_reads_them(argv: list[str]) -> None:
    want = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}, check=False
    )
    got = LocalHost().run(argv)
    assert (got.argv, got.rc, got.stdout, got.stderr) == (
        tuple(argv),
        want.returncode,
        want.stdout,
        want.stderr,
    )


def test_a_missing_program_is_127() -> None:
    r = LocalHost().run(["no-such-program-hk"])
    assert (r.rc, r.stdout, r.stderr) == (127, "", "no-such-program-hk: command not found")


def test_bytes_of_no_encoding_are_replaced_not_an_error() -> None:
    r = LocalHost().run(["sh", "-c", "printf 'v1.2\\377\\n'"])
    assert (r.rc, r.stdout) == (0, "v1.2\ufffd\n")


@pytest.mark.parametrize(
    "body",
    [
        "exec sleep 60",  # silent
        "while :; do printf .; sleep 0.1; done",  # a trickle: always "alive", never done
        "sleep 60 & exec true",  # exits, but a child keeps its output open
        "exec 1>&- 2>&-; exec sleep 60",  # closes its output, then never exits
    ],
)
def test_a_command_that_never_ends_meets_its_deadline(tmp_path: Path, body: str) -> None:
    exe = _script(tmp_path / "bin", "hang", body)
    t = time.monotonic()
    r = LocalHost().run([str(exe)], timeout=0.5)
    assert time.monotonic() - t < 5.0  # the deadline, not the minute
    assert (r.rc, r.stdout, r.stderr) == (124, "", f"{exe}: timed out after 0.5s")


@pytest.mark.parametrize(
    ("body", "stream"),
    [
        ("exec yes 1.24.0", "stdout"),  # endless
        ("exec yes 1.24.0 >&2", "stderr"),
        ("head -c 10000000 /dev/zero | tr '\\0' 1", "stdout"),  # 10 MB, then done
    ],
)
def test_a_command_that_prints_too_much_is_stopped(tmp_path: Path, body: str, stream: str) -> None:
    exe = _script(tmp_path / "bin", "flood", body)
    r = LocalHost().run([str(exe)])
    assert (r.stdout, r.stderr) == (
        "",
        f"{exe}: printed more than 4 MiB: stopped, its output not read",
    )
    assert r.rc != 0 and not r.ok


def test_exactly_the_bound_is_read() -> None:
    argv = ["sh", "-c", f"head -c {childproc.MAX_OUTPUT} /dev/zero | tr '\\0' v"]
    r = LocalHost().run(argv)
    assert (r.rc, len(r.stdout), set(r.stdout)) == (0, childproc.MAX_OUTPUT, {"v"})


def test_an_interrupted_read_kills_the_command(tmp_path: Path) -> None:
    """Ctrl-C while a command runs: the command is killed (as subprocess.run did),
    not left running."""
    import signal

    child = childproc.spawn(["sleep", "60"])

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            finish(child, 30.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert child.proc.returncode == -signal.SIGKILL
    assert id(child) not in childproc._LIVE


# -- started early, collected later: the same command, the deadline from its start ----------


def test_an_early_start_is_taken_once_and_counted_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "log"
    exe = _script(tmp_path / "bin", "c", f'echo "$0 $*" >> {log}; echo 1.24.0')
    argv = [str(exe), "version", "--short"]
    childproc.prestart(argv)
    childproc.prestart(argv)  # started once
    host = WarmLocalHost()
    host.warm_run(argv)
    assert childproc.adopt(argv) is None  # taken by the host
    first, second = host.run(argv), host.run(argv)
    assert first == second == LocalHost().run(argv)
    assert (first.rc, first.stdout) == (0, "1.24.0\n")
    assert log.read_text().splitlines() == [f"{exe} version --short"] * 2  # early, then ours


def test_an_early_start_that_hangs_meets_the_deadline_from_its_start(tmp_path: Path) -> None:
    exe = _script(tmp_path / "bin", "c", "exec sleep 60")
    childproc.prestart([str(exe)])
    child = childproc.adopt([str(exe)])
    assert child is not None
    time.sleep(1.1)  # harborkit loading, meanwhile
    t = time.monotonic()
    r = finish(child, 1.0)  # already past: the deadline counts from the start
    assert time.monotonic() - t < 1.0  # (counted from here, it would wait 1 s)
    assert r.rc == 124 and child.proc.returncode is not None


# -- the whole command: first thing started, bounded, nothing left behind -----------------------

_ORDER = (
    "import sys, os, json\n"
    "events = []\n"
    "profile = None\n"
    "def hook(event, args):\n"
    "    if event == 'subprocess.Popen':\n"
    "        events.append('run ' + os.path.basename(str(args[1][0])))\n"
    "    elif event == 'import' and args[0] in ('typer', 'yaml', 'harborkit.host',\n"
    "                                            'harborkit.engine', 'harborkit.checks'):\n"
    "        events.append('import ' + args[0])\n"
    "    elif event == 'open' and str(args[0]).endswith('harbor-v1.8.0.yaml'):\n"
    "        events.append('read profile')\n"
    "sys.addaudithook(hook)\n"
    "sys.argv = ['harborkit', *sys.argv[2:]]\n"
    "out = sys.argv.pop(1)\n"
    "from harborkit.commands import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    open(out, 'w').write(json.dumps(events))\n"
)


def _fake_compose_path(tmp_path: Path, body: str) -> dict[str, str]:
    _script(tmp_path / "bin", "docker-compose", body)
    return {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}


def test_compose_is_started_before_harborkit_loads(tmp_path: Path) -> None:
    """A local check starts docker-compose before typer, the profile, the host
    layer or the checks are imported; its answer is the one judged, asked once."""
    log = tmp_path / "log"
    env = _fake_compose_path(tmp_path, f'echo "$0 $*" >> {log}; echo 1.24.0')
    report, events = tmp_path / "r.json", tmp_path / "events.json"
    r = subprocess.run(
        [sys.executable, "-c", _ORDER, "-", str(events), "check", "-f", "json", "-o", str(report)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr
    seen = json.loads(events.read_text())
    assert seen[0] == "run docker-compose", seen
    for later in ("import typer", "import yaml", "import harborkit.host", "read profile"):
        assert later in seen[1:], (later, seen)
    results = {x["id"]: x for x in json.loads(report.read_text())["results"]}
    assert results["docker.compose"]["message"].startswith(
        "docker-compose 1.24.0 at " + str(tmp_path / "bin")
    )
    assert log.read_text().splitlines() == [
        f"{tmp_path / 'bin' / 'docker-compose'} version --short"
    ]


def test_the_early_compose_is_the_built_in_profiles() -> None:
    from harborkit.commands import early
    from harborkit.engine.profile import load_profile

    assert load_profile().data["compose"]["binary"] == early.BUILTIN_COMPOSE


def test_the_early_compose_is_the_one_localhost_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """early.compose_argv's PATH scan (no shutil imported) finds what
    LocalHost.which does: not a file without x, not a folder, the first one."""
    from harborkit.commands import early

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "docker-compose").write_text("#!/bin/sh\n")  # not executable
    (tmp_path / "folder" / "docker-compose").mkdir(parents=True)
    _script(tmp_path / "one", "docker-compose", "echo 1")
    _script(tmp_path / "two", "docker-compose", "echo 2")
    dirs = [plain, tmp_path / "folder", tmp_path / "missing", tmp_path / "one", tmp_path / "two"]
    monkeypatch.setenv("PATH", os.pathsep.join(map(str, dirs)))
    want = LocalHost().which("docker-compose")
    assert want == str(tmp_path / "one" / "docker-compose")
    assert early.compose_argv() == [want, "version", "--short"]
    monkeypatch.setenv("PATH", str(plain))
    assert early.compose_argv() is None and LocalHost().which("docker-compose") in (
        None,
        "/usr/local/bin/docker-compose",
        "/usr/bin/docker-compose",
    )  # LocalHost.which looks in the usual folders too: the check asks for that one


_PEAK = (
    "import sys\n"
    "sys.argv = ['harborkit', *sys.argv[1:]]\n"
    "from harborkit.commands import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM:')][0]\n"
    "    print('peak', hwm.split()[1], file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    "body",
    [
        "exec yes 1.24.0 {marker}",
        "head -c 10000000 /dev/zero | tr '\\0' 1",
        "exec yes {marker} >&2",
    ],
)
def test_a_flooding_compose_is_one_finding_in_bounded_memory(tmp_path: Path, body: str) -> None:
    """docker-compose printing 10 MB, or without end (early start and the
    --version retry alike): stopped at 4 MiB, one clear finding, the program's own
    peak memory well under 200 MB, no process left."""
    marker = f"hk-flood-{os.getpid()}-{tmp_path.name}"
    env = _fake_compose_path(tmp_path, body.format(marker=marker))
    out = tmp_path / "r.json"
    args = ["check", "--only", "docker.compose", "-f", "json", "-o", str(out)]
    r = subprocess.run(
        [sys.executable, "-c", _PEAK, *args], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert r.returncode == ExitCode.FAILED, r.stderr
    peak_kb = int(r.stderr.splitlines()[-1].split()[1])
    assert peak_kb < 200 * 1024
    (compose,) = json.loads(out.read_text())["results"]
    exe = tmp_path / "bin" / "docker-compose"
    said = f"{exe}: printed more than 4 MiB: stopped, its output not read"
    assert compose["message"] == f"version: {exe} does not report a version: {said[:120]}"
    assert _alive(marker) == [] and _alive(str(exe)) == []


def test_an_early_compose_nobody_takes_is_not_left_running(tmp_path: Path) -> None:
    """A usage error after the early start: harborkit exits at once (one line, 2)
    and kills the Compose it started; nothing stays behind."""
    seconds = f"30.{os.getpid():07d}"  # a sleep no other process runs
    env = _fake_compose_path(tmp_path, f"exec sleep {seconds}")
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "check", "--forks", "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert (r.returncode, r.stderr) == (
        ExitCode.USAGE,
        "harborkit: error: --forks 0: must be at least 1\n",
    )
    exe = str(tmp_path / "bin" / "docker-compose")
    assert _alive(exe) == [] and _alive(f"sleep {seconds}") == []
