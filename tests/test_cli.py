"""The command line, run as a real process: exit codes, errors, output files."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from tests.support.cli import run_harborkit, run_listing_modules

REPO = Path(__file__).resolve().parents[1]
PLUGIN_SRC = REPO / "tests" / "plugins" / "harborkit-example-plugin"


def hk(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run_harborkit(args, env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)


@pytest.fixture
def motd_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("harbor01\n")
    return root


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, really installed (pip) into its own folder."""
    work = tmp_path_factory.mktemp("plugin")
    src = work / "src"
    shutil.copytree(PLUGIN_SRC, src)
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    return target


def test_help_and_version() -> None:
    r = hk("--help")
    assert r.returncode == ExitCode.OK
    assert "check" in r.stdout and "bundle" in r.stdout
    r = hk("--version")
    assert r.returncode == ExitCode.OK and r.stdout.strip() == "harborkit 0.1.0"


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "harborkit"
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert r.returncode == ExitCode.OK and r.stdout.startswith("harborkit ")


def test_unknown_only_name_is_usage_error(motd_root: Path) -> None:
    r = hk("check", "--root", str(motd_root), "--only", "nosuch.check")
    assert r.returncode == ExitCode.USAGE
    assert r.stderr == (
        "harborkit: error: --only nosuch.check: no check or group of that name "
        "(see 'harborkit check --list')\n"
    )


def test_bad_profile_is_one_line_exit_2(tmp_path: Path, motd_root: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: harborkit/v1\nkind: Profile\nname: x\nselinux:\n  mode: disable\n")
    r = hk("check", "--root", str(motd_root), "--profile", str(bad))
    assert r.returncode == ExitCode.USAGE
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"harborkit: error: {bad}:5: selinux.mode: 'disable' is not one of")


def test_missing_root_is_usage_error(tmp_path: Path) -> None:
    r = hk("check", "--root", str(tmp_path / "nope"))
    assert r.returncode == ExitCode.USAGE
    assert r.stderr == f"harborkit: error: --root {tmp_path / 'nope'}: not a directory\n"


def test_plugin_checks_run_and_broken_plugin_is_reported(
    plugin_path: Path, motd_root: Path, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(plugin_path)}
    r = hk("check", "--list", env=env)
    assert r.returncode == ExitCode.OK
    assert "site.motd" in r.stdout and "[harborkit-example-plugin]" in r.stdout

    out = tmp_path / "report.json"
    r = hk(
        "check",
        "--root",
        str(motd_root),
        "--only",
        "site",
        "--only",
        "plugins",
        "-f",
        "json",
        "-o",
        str(out),
        env=env,
    )
    data = json.loads(out.read_text())
    ids = {x["id"]: x for x in data["results"]}
    assert set(ids) == {"plugin:harborkit-example-plugin", "site.motd"}
    assert ids["site.motd"]["status"] == "fail"
    assert ids["site.motd"]["message"] == "/etc/motd does not exist"
    assert ids["site.motd"]["source"] == "harborkit-example-plugin"
    assert ids["plugin:harborkit-example-plugin"]["status"] == "error"
    assert (
        "No module named 'harborkit_example_plugin.missing'"
        in ids["plugin:harborkit-example-plugin"]["message"]
    )
    assert r.returncode == ExitCode.FAILED
    assert r.stdout == ""
    assert r.stderr.startswith("FAILED: 2 checks on harbor01:")

    (motd_root / "etc/motd").write_text("Welcome to the Harbor registry host\n")
    r = hk("check", "--root", str(motd_root), "--only", "site", "--skip", "plugins", env=env)
    assert r.returncode == ExitCode.OK
    assert "not shown: 1 passing check (-v shows them)" in r.stdout
    r = hk("check", "--root", str(motd_root), "--only", "site", "--skip", "plugins", "-v", env=env)
    assert r.returncode == ExitCode.OK
    assert "PASS" in r.stdout and "/etc/motd mentions Harbor" in r.stdout
    assert "plugin:" not in r.stdout


def test_waivers_turn_a_failure_into_waived(
    plugin_path: Path, motd_root: Path, tmp_path: Path
) -> None:
    w = tmp_path / "waivers.yaml"
    w.write_text(
        "waivers:\n"
        "  - id: site.motd\n    reason: banner managed by the image team\n    expires: 2999-01-01\n"
        "  - id: plugin:harborkit-example-plugin\n    reason: known broken entry point\n"
    )
    env = {"PYTHONPATH": str(plugin_path)}
    r = hk(
        "check",
        "--root",
        str(motd_root),
        "--only",
        "site,plugins",
        "--waivers",
        str(w),
        "-f",
        "json",
        env=env,
    )
    data = json.loads(r.stdout)
    statuses = {x["id"]: x["status"] for x in data["results"]}
    # a waiver covers failures and warnings; a broken check (error) stays an error
    assert statuses == {"plugin:harborkit-example-plugin": "error", "site.motd": "waived"}
    assert r.returncode == ExitCode.FAILED


def test_output_to_unwritable_place_is_environment_error(motd_root: Path, tmp_path: Path) -> None:
    r = hk(
        "check",
        "--root",
        str(motd_root),
        "--only",
        "selinux",
        "-o",
        str(tmp_path / "no/such/dir/r.txt"),
    )
    assert r.returncode == ExitCode.ENVIRONMENT
    assert r.stderr.startswith(f"harborkit: error: cannot write {tmp_path / 'no/such/dir/r.txt'}:")


def test_output_file_is_replaced_atomically(motd_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.xml"
    out.write_text("old")
    r = hk("check", "--root", str(motd_root), "--only", "selinux", "-f", "junit", "-o", str(out))
    assert (r.returncode, r.stdout) == (ExitCode.OK, "")
    assert r.stderr == "OK: 1 check on harbor01: 1 pass\n"
    assert out.read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.xml")] == []


# --- one meaning per option ---------------------------------------------------


@pytest.fixture
def unpacked(tmp_path: Path) -> Path:
    """What 'bundle load --install-dir DIR' leaves: DIR/harbor/harbor.yml."""
    root = tmp_path / "root"
    (root / "opt/harbor").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "opt/harbor/harbor.yml").write_text("hostname: 192.168.3.60\nhttp:\n  port: 8888\n")
    return root


@pytest.mark.parametrize("given", ["/opt", "/opt/harbor", "opt/", "/opt/harbor/"])
def test_install_dir_is_the_harbor_folder_or_its_parent(unpacked: Path, given: str) -> None:
    r = hk(
        "check",
        "--root",
        str(unpacked),
        "--install-dir",
        given,
        "--only",
        "harbor.config",
        "-f",
        "json",
    )
    assert r.returncode == 1, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert {f["location"].split(":")[0] for f in res["findings"] if f["location"]} == {
        "/opt/harbor/harbor.yml"
    }


def test_install_dir_without_harbor_yml_is_a_usage_error(unpacked: Path) -> None:
    (unpacked / "srv").mkdir()
    r = hk("check", "--root", str(unpacked), "--install-dir", "/srv")
    assert (r.returncode, r.stdout) == (ExitCode.USAGE, "")
    assert r.stderr == (
        "harborkit: error: --install-dir /srv: no harbor.yml found (looked for /srv/harbor.yml "
        "or /srv/harbor/harbor.yml); give the folder holding harbor.yml or the one bundle load "
        "unpacked into\n"
    )
    r = hk("check", "--root", str(unpacked), "--install-dir", "/nope")
    assert (r.returncode, r.stderr) == (
        2,
        "harborkit: error: --install-dir /nope: no such folder\n",
    )
    r = hk("check", "--root", str(unpacked), "--install-dir", "/opt/harbor/harbor.yml")
    assert (r.returncode, r.stderr) == (
        2,
        "harborkit: error: --install-dir /opt/harbor/harbor.yml: not a folder\n",
    )


def test_install_dir_on_the_live_host_relative_to_cwd(tmp_path: Path) -> None:
    (tmp_path / "harbor").mkdir()
    (tmp_path / "harbor/harbor.yml").write_text("hostname: 192.168.3.60\n")
    r = hk("check", "--install-dir", ".", "--only", "harbor.config", "-f", "json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert res["findings"][0]["location"].startswith(f"{tmp_path}/harbor/harbor.yml")


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (
            "server58=not-an-ip",
            "'not-an-ip' is not an IP address (nodes resolve to addresses, e.g. 192.168.3.58)",
        ),
        (
            "server58=192.168.3.300",
            "'192.168.3.300' is not an IP address (nodes resolve to addresses, e.g. 192.168.3.58)",
        ),
        ("bad_name=192.168.3.58", "'bad_name' is not a host name"),
        ("server58", "expected NAME=ADDRESS, e.g. server58=192.168.3.58"),
    ],
)
def test_node_address_is_validated(motd_root: Path, spec: str, error: str) -> None:
    r = hk("check", "--root", str(motd_root), "--node", spec)
    assert (r.returncode, r.stdout) == (ExitCode.USAGE, "")
    assert r.stderr == f"harborkit: error: --node {spec!r}: {error}\n"


def test_node_ipv6_is_accepted(motd_root: Path) -> None:
    r = hk(
        "check",
        "--root",
        str(motd_root),
        "--node",
        "server59=fd00::59",
        "--only",
        "network.nodes",
        "-f",
        "json",
    )
    assert r.returncode == 1, r.stderr
    (res,) = json.loads(r.stdout)["results"]
    assert res["message"] == "server59: does not resolve (add 'fd00::59 server59' to /etc/hosts)"


def test_profile_node_address_is_validated(motd_root: Path, tmp_path: Path) -> None:
    from harborkit.resources import default_profile

    prof = tmp_path / "site.yaml"
    text = default_profile().read_text()
    assert "\nnodes: []\n" in text
    prof.write_text(
        text.replace("\nnodes: []\n", "\nnodes:\n  - {name: server58, address: server58}\n")
    )
    line = prof.read_text().splitlines().index("  - {name: server58, address: server58}") + 1
    r = hk("check", "--root", str(motd_root), "--profile", str(prof))
    assert r.returncode == 2
    assert r.stderr == (
        f"harborkit: error: {prof}:{line}: nodes[0].address: 'server58' is not an IP address "
        "(nodes resolve to addresses, e.g. 192.168.3.58)\n"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--only", "all", "--skip", "all"], "--only all --skip all"),
        (["--only", "limits", "--skip", "limits"], "--only limits --skip limits"),
        (["--only", "limits.pam", "--skip", "all"], "--only limits.pam --skip all"),
        (["--only", "cluster"], "--only cluster"),  # cross-node checks: not on one host
        (["--skip", "all"], "--skip all"),
    ],
)
def test_a_selection_of_no_check_is_a_usage_error(
    motd_root: Path, args: list[str], line: str
) -> None:
    r = hk("check", "--root", str(motd_root), *args)
    assert (r.returncode, r.stdout) == (ExitCode.USAGE, "")
    assert r.stderr == (
        f"harborkit: error: {line}: selects no check, so nothing would be judged "
        "(see 'harborkit check --list')\n"
    )


def test_a_profile_that_selects_no_check_is_a_usage_error(motd_root: Path, tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("apiVersion: harborkit/v1\nkind: Profile\nname: none\nselect: []\n")
    r = hk("check", "--root", str(motd_root), "--profile", str(p))
    assert (r.returncode, r.stdout) == (ExitCode.USAGE, "")
    assert r.stderr == (
        "harborkit: error: the profile's select/skip: selects no check, so nothing would be "
        "judged (see 'harborkit check --list')\n"
    )


def test_cluster_checks_count_when_several_roots_are_audited(motd_root: Path) -> None:
    r = hk("check", "--root", str(motd_root), "--root", str(motd_root), "--only", "cluster")
    assert r.returncode in (ExitCode.OK, ExitCode.FAILED), r.stderr


@pytest.mark.parametrize("option", ["--profile", "--waivers"])
def test_a_fifo_as_profile_or_waivers_is_refused_not_waited_on(
    motd_root: Path, tmp_path: Path, option: str
) -> None:
    fifo = tmp_path / "input.yaml"
    os.mkfifo(fifo)
    what = "profile" if option == "--profile" else "waivers file"
    r = hk("check", "--root", str(motd_root), option, str(fifo))
    assert (r.returncode, r.stdout) == (ExitCode.USAGE, "")
    assert r.stderr == f"harborkit: error: {fifo}: not a regular file, not a {what}\n"


def test_duplicate_waivers_are_a_usage_error_naming_both_lines(
    motd_root: Path, tmp_path: Path
) -> None:
    w = tmp_path / "w.yaml"
    w.write_text("waivers:\n  - id: limits.pam\n    reason: a\n  - id: limits.pam\n    reason: b\n")
    r = hk("check", "--root", str(motd_root), "--waivers", str(w))
    assert (r.returncode, r.stdout) == (ExitCode.USAGE, "")
    assert r.stderr == (
        f"harborkit: error: {w}:4: waivers[1].id: a second waiver for limits.pam "
        f"(the first is at {w}:2): keep one waiver per check\n"
    )


# --------------------------------------------------------------- the command layer (issue 21)

PACKAGE = REPO / "harborkit"
COMMANDS = PACKAGE / "commands"
CLI_LIBRARIES = ("typer", "click")


def _imported_names(tree: ast.AST) -> list[str]:
    """Every module a file imports: statements at any depth, ``__import__`` and
    ``importlib.import_module`` with a literal name."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            names.append(node.args[0].value)
    return names


def test_only_the_commands_package_imports_typer() -> None:
    outside = [p for p in PACKAGE.rglob("*.py") if COMMANDS not in p.parents]
    assert len(outside) > 50  # the walk found the package
    found = {
        f"{p.relative_to(REPO)}: {name}"
        for p in outside
        for name in _imported_names(ast.parse(p.read_text(), str(p)))
        if name.split(".")[0] in CLI_LIBRARIES
    }
    assert found == set()
    # ... and the commands do (the walk sees imports at all)
    assert "typer" in _imported_names(ast.parse((COMMANDS / "app.py").read_text()))


def test_importing_every_other_module_loads_no_typer() -> None:
    code = (
        "import importlib, pkgutil, sys, harborkit\n"
        "names = [m.name for m in pkgutil.walk_packages(harborkit.__path__, 'harborkit.')\n"
        "         if not m.name.startswith(('harborkit.commands', 'harborkit.__main__'))]\n"
        "for n in names: importlib.import_module(n)\n"
        "print(len(names), sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'click'}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    count, loaded = r.stdout.split(" ", 1)
    assert int(count) > 50 and loaded.strip() == "[]"


@pytest.mark.parametrize(
    ("where", "banned"),
    [
        ("harborkit/engine/x.py", True),
        ("harborkit/fix/x.py", True),
        ("harborkit/x.py", True),
        ("harborkit/commands/x.py", False),
        ("harborkit/commands/bundle/x.py", False),
    ],
)
@pytest.mark.parametrize(
    "source",
    [
        "import typer\n\nprint(typer)\n",
        "import typer.core\n\nprint(typer.core)\n",
        "from typer.main import get_command\n\nprint(get_command)\n",
        "import click\n\nprint(click)\n",
        "def f() -> None:\n    from click.exceptions import UsageError\n\n    print(UsageError)\n",
    ],
)
def test_lint_refuses_typer_outside_the_commands(where: str, banned: bool, source: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--stdin-filename", where, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if banned:
        assert r.returncode == 1 and "TID251" in r.stdout, r.stdout + r.stderr
    else:
        assert r.returncode == 0, r.stdout + r.stderr


def test_fix_is_registered_once() -> None:
    from harborkit.commands.app import app

    names = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    assert sorted(names) == ["check", "collect", "fix"]
    assert [g.name for g in app.registered_groups] == ["bundle", "profile"]


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno
            if body[1] - body[0] + 1 > 80:
                out.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    return out


def test_command_modules_are_short() -> None:
    modules = list(COMMANDS.rglob("*.py"))
    assert len(modules) >= 10
    assert [p for p in modules if len(p.read_text().splitlines()) > 600] == []
    assert [f for p in modules for f in _long_functions(p)] == []


HEAVY = ("docker", "jsonschema", "requests", "cryptography", "cyclonedx", "isal", "yaml")
#: what typer would load for help and usage errors that harborkit never needs (issue 24):
#: pydantic (typer's value coercion), rich (help is plain text) and its markdown renderer
HELP_NEVER = (*HEAVY, "pydantic", "rich", "markdown_it", "pygments")
#: nor for a usage error (a bad value is worded by typer's own conversion, pydantic;
#: a local check's head start may have read the built-in profile, yaml)
USAGE_NEVER = ("docker", "jsonschema", "requests", "cryptography", "rich", "markdown_it")


@pytest.mark.parametrize(
    ("args", "exit_code", "error"),
    [
        (("--help",), 0, None),
        (("check", "--help"), 0, None),
        (("fix", "--help"), 0, None),
        (("collect", "--help"), 0, None),
        (("bundle", "build", "--help"), 0, None),
        (("bundle", "load", "--help"), 0, None),
        (("bundle", "push", "--help"), 0, None),
        (("bundle", "keygen", "--help"), 0, None),
        (("profile", "init", "--help"), 0, None),
        ((), ExitCode.USAGE, None),  # the help, shown for no command
        (("bundle",), ExitCode.USAGE, None),
        (
            ("check", "--forks", "abc"),
            ExitCode.USAGE,
            "Invalid value for '--forks': ",
        ),
        (("check", "--frobnicate"), ExitCode.USAGE, "No such option: --frobnicate"),
        (("bundle", "verify"), ExitCode.USAGE, "Missing argument "),  # 'BUNDLE' on click 8.1
        (("frobnicate",), ExitCode.USAGE, "No such command 'frobnicate'."),
    ],
)
def test_help_and_usage_errors_load_no_heavy_library(
    args: tuple[str, ...], exit_code: int, error: str | None
) -> None:
    """--help and a usage error import none of rich, pydantic, the Docker SDK ...:
    the help is plain text, the error one line of ours."""
    never = HELP_NEVER if error is None else USAGE_NEVER
    r, code, loaded = run_listing_modules(args, never)
    assert (code, loaded) == (exit_code, [])
    said = r.stderr.splitlines()
    if error is None:
        assert said == []
        assert r.stdout.startswith("Usage: harborkit")
    else:
        assert r.stdout == ""
        (line,) = said
        assert line.startswith(f"harborkit: error: {error}"), line


def test_python_dash_m_harborkit_runs_the_same_main(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "--version"], capture_output=True, text=True
    )
    assert (r.returncode, r.stdout) == (ExitCode.OK, "harborkit 0.1.0\n")
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "check", "--forks", "0"], capture_output=True, text=True
    )
    assert (r.returncode, r.stdout) == (ExitCode.USAGE, "")
    assert r.stderr == "harborkit: error: --forks 0: must be at least 1\n"


def test_sysroot_audit_loads_no_docker_sdk_nor_pydantic(tmp_path: Path) -> None:
    never = {"docker", "pydantic", "markdown_it", "rich.markdown", "typer.rich_utils"}
    root = Path(__file__).parent / "fixtures" / "sysroots" / "guide-as-written"
    out = tmp_path / "r.json"
    args = ["check", "--root", str(root), "-f", "json", "-o", str(out), "--forks", "3"]
    _, code, loaded = run_listing_modules(args, never | {"jsonschema", "requests"})
    assert (code, loaded) == (ExitCode.FAILED, [])
    assert json.loads(out.read_text())  # the audit ran and wrote its report


SAMPLES: tuple[object, ...] = (
    None,
    "x",
    "",
    "-",
    "5",
    "0",
    "65",
    "-3",
    "1.5",
    "1e3",
    " 7",
    "abc",
    "json",
    "JSON",
    "table",
    "/tmp",
    "a\x00b",
    True,
    False,
    3,
    2.5,
    ["a", "b"],
    ("c",),
    [],
    Path("/p"),
)


def test_lean_value_conversion_matches_typers_own() -> None:
    """Every parameter of every command converts every sample exactly as typer's
    own (pydantic) conversion does: same value and type, or the same error."""
    # typer itself is what this compares against
    import typer.main  # noqa: TID251

    # typer < 0.24 (the last for Python 3.9) converts with click: lean.py leaves it alone
    _click = pytest.importorskip("typer._click", reason="typer without pydantic conversion")
    from typer._coercion import build_runtime_param  # noqa: TID251

    from harborkit.commands import lean
    from harborkit.commands.app import app

    root = typer.main.get_command(app)
    todo, compared = [root], 0
    while todo:
        cmd = todo.pop()
        todo += list(getattr(cmd, "commands", {}).values())
        ctx = _click.Context(cmd)
        for param in cmd.params:
            ours = lean._LeanRuntimeParam(param, build_runtime_param)
            theirs = build_runtime_param(param.type_descriptor)
            for value in SAMPLES:
                got: object
                want: object
                try:
                    got = ours.coerce(value, param=param, ctx=ctx)
                except Exception as e:
                    got = ("error", type(e).__name__, str(e))
                try:
                    want = theirs.coerce(value, param=param, ctx=ctx)
                except Exception as e:
                    want = ("error", type(e).__name__, str(e))
                assert (type(got), got) == (type(want), want), (cmd.name, param.name, value)
                compared += 1
    assert compared > 2000


#: typer >= 0.24 words a bad value through pydantic; typer 0.23 (the last for Python 3.9)
#: through click 8.1: the line of the typer installed
PYDANTIC_TYPER = importlib.util.find_spec("typer._click") is not None


@pytest.mark.parametrize(
    ("args", "line", "click_line"),
    [
        (
            ("check", "--forks", "abc"),
            "Invalid value for '--forks': Input should be a valid integer, unable to parse "
            "string as an integer",
            "Invalid value for '--forks': 'abc' is not a valid integer.",
        ),
        (
            ("check", "-f", "xml"),
            "Invalid value for '--format' / '-f': 'xml' is not one of 'table', 'json', "
            "'junit', 'html'.",
            None,
        ),
        (
            ("check", "--command-timeout", "soon"),
            "Invalid value for '--command-timeout': Input should be a valid number, unable "
            "to parse string as a number",
            "Invalid value for '--command-timeout': 'soon' is not a valid float.",
        ),
    ],
)
def test_bad_values_are_typers_usage_lines(
    args: tuple[str, ...], line: str, click_line: str | None
) -> None:
    r = hk(*args)
    want = line if PYDANTIC_TYPER or click_line is None else click_line
    assert (r.returncode, r.stdout) == (ExitCode.USAGE, "")
    assert r.stderr == f"harborkit: error: {want} (see 'harborkit check -h')\n"


@pytest.mark.parametrize(
    "args",
    [("--help",), ("check", "--help"), ("fix", "--help"), ("bundle", "load", "--help"), ()],
)
def test_help_is_plain_text_in_a_terminal_and_in_a_log(args: tuple[str, ...]) -> None:
    """Help is click's plain layout (as git or docker print theirs): the same
    bytes on a colour terminal as with rich switched off in typer, no box, no
    escape sequence, no markup left in (``\\[``), nothing wider than COLUMNS."""
    out = {}
    for mode, extra in (
        ("terminal", {"TERM": "xterm-256color", "FORCE_COLOR": "1", "COLUMNS": "100"}),
        ("no rich", {"TERM": "dumb", "TYPER_USE_RICH": "0", "COLUMNS": "100"}),
    ):
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        r = subprocess.run(
            [sys.executable, "-m", "harborkit", *args],
            capture_output=True,
            text=True,
            env={**env, **extra},
            cwd=REPO,
        )
        assert (r.returncode, r.stderr) == ((0 if args else ExitCode.USAGE), ""), mode
        out[mode] = r.stdout
    text = out["terminal"]
    assert text == out["no rich"]
    assert text.startswith("Usage: harborkit ")
    assert "\x1b" not in text and "\\[" not in text
    assert not set(text) & set("╭╮╰╯│─━┃")
    assert max(len(line) for line in text.splitlines()) <= 100


def _help_rows(*path: str) -> dict[str, str]:
    """Each option of ``harborkit PATH --help`` -> its row, wrapped lines joined."""
    r = hk(*path, "--help", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    rows: dict[str, str] = {}
    last = ""
    for line in r.stdout.splitlines():
        words = line.split()
        if line.startswith("  -"):
            last = words[1] if words[0].endswith(",") else words[0]  # "-i, --inventory"
            rows[last] = " ".join(words)
        elif line.startswith("    ") and last:
            rows[last] += " " + " ".join(words)
        else:
            last = ""
    return rows


REMOTE_OPTIONS = (
    "--host",
    "--snapshot",
    "--inventory",
    "--limit",
    "--forks",
    "--ssh-config",
    "--become",
    "--connect-timeout",
    "--command-timeout",
    "--accept-new-host-keys",
)


def test_fix_remote_options_say_what_they_do_for_a_fix() -> None:
    """check and fix share the remote options, not their words: none of fix's says
    it audits, judges or collects; check's still say so."""
    fix, check = _help_rows("fix"), _help_rows("check")
    assert set(REMOTE_OPTIONS) <= set(fix) and set(REMOTE_OPTIONS) <= set(check)
    for option in REMOTE_OPTIONS:
        for word in ("audit", "judge", "collect"):
            assert word not in fix[option].lower(), fix[option]
    assert "Fix [ssh://][USER@]HOST[:PORT] over SSH" in fix["--host"]
    assert "Fix the hosts of an Ansible inventory" in fix["--inventory"]
    assert "hosts or groups to fix" in fix["--limit"]
    assert "Hosts fixed in parallel" in fix["--forks"]
    assert "apply and roll back as root on the host through sudo -n" in fix["--become"]
    assert "the others are still fixed" in fix["--command-timeout"]
    assert "Plan from a snapshot FILE" in fix["--snapshot"]
    assert "Audit [ssh://][USER@]HOST[:PORT] over SSH" in check["--host"]
    assert "Hosts audited in parallel" in check["--forks"]
    assert "the others are still judged" in check["--command-timeout"]
    assert "Collect as root through sudo -n" in check["--become"]


def test_long_option_lists_read_in_sections() -> None:
    """check, fix and bundle load list their options under headings, each option
    once, under the heading that says what it is for."""
    want = {
        ("check",): {
            "Options": ("--profile", "--root", "--only", "--waivers", "--list", "--help"),
            "Report": ("--format", "--output", "--strict", "--verbose", "--no-color"),
            "Other machines": ("--host", "--snapshot", "--inventory", "--forks", "--become"),
            "After the install": ("--phase", "--smoke", "--ca", "--replication-target"),
        },
        ("fix",): {
            "Arguments": (),
            "Options": ("--profile", "--root", "--only", "--skip", "--help"),
            "Plan, apply, roll back": ("--apply", "--plan", "--rollback", "--journal-dir"),
            "Other machines": ("--host", "--inventory", "--limit", "--command-timeout"),
        },
        ("bundle", "load"): {
            "Arguments": (),
            "Options": ("--install-dir", "--key", "--quiet", "--help"),
            "Other machines": ("--host", "--inventory", "--forks", "--ssh-config", "--become"),
        },
    }
    for path, sections in want.items():
        r = hk(*path, "--help", env={"COLUMNS": "200"})
        assert r.returncode == 0, r.stderr
        found: dict[str, list[str]] = {}
        for line in r.stdout.splitlines():
            if line and not line.startswith(" ") and line.endswith(":"):
                heading = found.setdefault(line[:-1], [])
            elif line.startswith("  -") and found:
                heading.append(
                    line.split()[1] if line.split()[0].endswith(",") else line.split()[0]
                )
        assert list(found) == list(sections), path
        for title, names in sections.items():
            assert set(names) <= set(found[title]), (path, title, found[title])
        every = [n for names in found.values() for n in names]
        assert len(every) == len(set(every)), path  # each option once


# lean.resolve_annotations is for typer on 3.10+; on 3.9 commands/annotations.py does it
_RESOLVES = pytest.mark.skipif(
    sys.version_info < (3, 10), reason="lean.resolve_annotations does nothing on Python 3.9"
)

_TREE = (
    "import sys, json\n"
    "from harborkit.commands import lean\n"
    "lean.install()\n"
    "from harborkit.commands.app import app\n"
    "if sys.argv[1] == 'resolved':\n"
    "    lean.resolve_annotations(app)\n"
    "import typer.main\n"
    "import re\n"
    "def walk(cmd, path):\n"
    "    out = []\n"
    "    for p in cmd.params:\n"
    "        attrs = sorted((k, re.sub(' at 0x[0-9a-f]+', '', repr(v))) for k, v in vars(p).items())\n"
    "        out.append([path, attrs, repr(p.type_descriptor.annotation)])\n"
    "    for name, sub in sorted(getattr(cmd, 'commands', {}).items()):\n"
    "        out += walk(sub, path + ' ' + name)\n"
    "    return out\n"
    "print(json.dumps(walk(typer.main.get_command(app), 'harborkit')))\n"
)


@_RESOLVES
def test_annotations_resolved_once_build_the_same_command_line() -> None:
    """lean.resolve_annotations (annotations evaluated once, not by typer twice)
    gives typer the very same parameters: names, types, defaults, help."""
    out = {}
    for mode in ("strings", "resolved"):
        r = subprocess.run(
            [sys.executable, "-c", _TREE, mode], capture_output=True, text=True, cwd=REPO
        )
        assert r.returncode == 0, r.stderr
        out[mode] = json.loads(r.stdout)
    assert len(out["strings"]) > 100  # every parameter of every command
    assert out["resolved"] == out["strings"]


@_RESOLVES
def test_resolve_annotations_reaches_every_command_and_wrapper() -> None:
    code = (
        "import inspect\n"
        "from harborkit.commands import lean\n"
        "from harborkit.commands.app import app\n"
        "lean.resolve_annotations(app)\n"
        "todo, left, seen = [app], [], 0\n"
        "while todo:\n"
        "    a = todo.pop()\n"
        "    infos = list(a.registered_commands) + ([a.registered_callback] if a.registered_callback else [])\n"
        "    for i in infos:\n"
        "        f = i.callback\n"
        "        while f is not None:\n"
        "            seen += 1\n"
        "            left += [(f.__name__, k) for k, v in f.__annotations__.items() if isinstance(v, str)]\n"
        "            f = getattr(f, '__wrapped__', None)\n"
        "    todo += [g.typer_instance for g in a.registered_groups]\n"
        "print(seen, left)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    seen, left = r.stdout.split(" ", 1)
    assert int(seen) >= 10 and left.strip() == "[]"


def _all_commands() -> list[tuple[str, ...]]:
    import typer.main  # noqa: TID251 - the help of every command the app declares

    from harborkit.commands.app import app

    out: list[tuple[str, ...]] = []

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        out.append(path)
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


def test_help_names_values_in_words_not_python_types() -> None:
    """Every command's help: an option's value is a word (HOST, FILE, N...),
    never typer's ``<list[str]>``/``<str>``/``<path>``/``<int>``; an argument
    shows its name only; a choice still lists its choices."""
    import re

    env = {**os.environ, "COLUMNS": "200"}
    types = re.compile(r"<(list\[\w+\]|str|path|int|float|bool)>")
    commands = _all_commands()
    assert ("check",) in commands and ("bundle", "build") in commands
    for path in commands:
        r = hk(*path, "--help", env=env)
        assert r.returncode == 0, (path, r.stderr)
        assert not types.findall(r.stdout), (path, types.findall(r.stdout))
    r = hk("check", "--help", env=env)
    rows = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("  -")]
    # "  --host HOST  help..." or "  -f, --format <table|...>  help..."
    words = {row[1]: row[2] for row in rows if row[0].endswith(",")}
    words.update({row[0]: row[1] for row in rows if row[0].startswith("--")})
    assert words["--host"] == "HOST"
    assert words["--snapshot"] == "FILE|DIR"
    assert words["--node"] == "NAME=ADDRESS"
    assert words["--only"] == "IDS"
    assert words["--forks"] == "N"
    assert words["--connect-timeout"] == "SECONDS"
    assert words["--output"] == "FILE"
    assert words["--format"] == "<table|json|junit|html>"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        (1000, "1.0 kB"),
        (30_200, "30.2 kB"),
        (999_949, "999.9 kB"),
        (1_000_000, "1.0 MB"),
        (1_204_500_000, "1,204.5 MB"),
    ],
)
def test_sizes_read_at_a_glance(n: int, text: str) -> None:
    from harborkit.commands.bundle.base import mb
    from harborkit.textsafe import size_text

    assert size_text(n) == text == mb(n)
