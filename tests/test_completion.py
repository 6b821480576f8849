"""Shell completion: ``--show-completion`` / ``--install-completion`` for bash and zsh.

Run in a real bash (and a bash started under the name ``zsh``, which is how
the shell detection tells shells apart: this machine has no zsh), with a
``harborkit`` on PATH that runs this checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BASH = shutil.which("bash") or "/bin/bash"


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bin")
    hk = d / "harborkit"
    repo = Path(__file__).resolve().parents[1]
    hk.write_text(
        f'#!/bin/sh\nPYTHONPATH={repo}${{PYTHONPATH:+:$PYTHONPATH}} exec {sys.executable} -m harborkit "$@"\n'
    )
    hk.chmod(0o755)
    (d / "zsh").symlink_to(BASH)  # detected as zsh by its name
    return d


def shell(bin_dir: Path, name: str, script: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }
    exe = str(bin_dir / "zsh") if name == "zsh" else BASH
    # "; true": bash must not exec harborkit in its place (the shell is found as its parent)
    return subprocess.run(
        [exe, "--norc", "--noprofile", "-c", script + "\ntrue"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def complete_in_bash(bin_dir: Path, home: Path, script_file: Path, words: str) -> list[str]:
    """Source the completion script, fill COMP_WORDS as bash does, run the function."""
    r = shell(
        bin_dir,
        "bash",
        f"source {script_file}\n"
        f"COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n"
        '_harborkit_completion harborkit\nprintf "%s\\n" "${COMPREPLY[@]}"',
        home,
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout.split()


def test_bash_completion_script_sources_and_completes(bin_dir: Path, tmp_path: Path) -> None:
    r = shell(bin_dir, "bash", "harborkit --show-completion", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "complete -o default -F _harborkit_completion harborkit" in r.stdout
    script = tmp_path / "hk.bash"
    script.write_text(r.stdout)
    assert complete_in_bash(bin_dir, tmp_path, script, "harborkit bu") == ["bundle"]
    assert complete_in_bash(bin_dir, tmp_path, script, "harborkit pro") == ["profile"]
    assert complete_in_bash(bin_dir, tmp_path, script, "harborkit bundle man") == ["manifest"]
    assert complete_in_bash(bin_dir, tmp_path, script, "harborkit profile") == ["profile"]
    got = complete_in_bash(bin_dir, tmp_path, script, "harborkit profile ''")
    assert got == ["show", "init", "check"]
    got = complete_in_bash(bin_dir, tmp_path, script, "harborkit profile init --n")
    assert sorted(got) == ["--name", "--node", "--ntp-master"]


def test_the_env_protocol_answers_bash_and_zsh(tmp_path: Path) -> None:
    """What the scripts run: the shell's words in, the completions out."""
    from tests.support.cli import run_harborkit

    base = dict(os.environ)
    r = run_harborkit(
        [],
        env={**base, "_HARBORKIT_COMPLETE": "complete_bash", "COMP_WORDS": "harborkit bu",
             "COMP_CWORD": "1"},
    )  # fmt: skip
    assert (r.returncode, r.stdout) == (0, "bundle\n"), r.stderr
    r = run_harborkit(
        [],
        env={**base, "_HARBORKIT_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "harborkit bu"},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('_arguments \'*: :(("bundle":'), r.stdout


def test_zsh_completion_script(bin_dir: Path, tmp_path: Path) -> None:
    r = shell(bin_dir, "zsh", "harborkit --show-completion", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("#compdef harborkit\n"), r.stdout
    assert "_HARBORKIT_COMPLETE=complete_zsh" in r.stdout
    assert "compdef _harborkit_completion harborkit" in r.stdout


@pytest.mark.parametrize(
    ("name", "rc", "script"),
    [("bash", ".bashrc", ".bash_completions/harborkit.sh"), ("zsh", ".zshrc", ".zfunc/_harborkit")],
)
def test_install_completion_writes_the_script_under_home_only(
    bin_dir: Path, tmp_path: Path, name: str, rc: str, script: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    r = shell(bin_dir, name, "harborkit --install-completion", home)
    assert r.returncode == 0, r.stderr
    assert f"{name} completion installed in" in r.stdout
    written = home / script
    assert "_harborkit_completion" in written.read_text()
    assert (home / rc).is_file()
    files = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert files == sorted([rc, script])


def test_help_lists_the_completion_options(tmp_path: Path) -> None:
    from tests.support.cli import run_harborkit

    r = run_harborkit(["--help"], env=dict(os.environ, COLUMNS="100"))
    assert r.returncode == 0, r.stderr
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout
