"""harborkit runs on Python 3.9 to 3.13 (issue 25 item 4): cheap guards on 3.11.

``make test-py39`` runs the fast tests on a real 3.9 (a Debian 11 root); these
catch, without it, what 3.9 would refuse: syntax newer than 3.9, a ``X | Y``
union evaluated at run time (3.10), an annotation typer evaluates holding one,
``zip(strict=)`` (3.10), and the 3.10/3.11 additions of the standard library.
mypy checks the rest of the library API (python_version in pyproject.toml).
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborkit.compat import StrEnum, zip_strict

REPO = Path(__file__).resolve().parent.parent
#: everything that runs on 3.9: the package, its tests, the benchmarks, the build
SOURCES = sorted(
    p
    for top in ("harborkit", "tests", "bench")
    for p in (REPO / top).rglob("*.py")
    if "__pycache__" not in p.parts
) + [REPO / "setup.py", *(REPO / ".ci").glob("*.py")]
#: the one place that names what 3.10 and 3.11 added, behind a version check
COMPAT = REPO / "harborkit" / "compat.py"

#: names a ``X | Y`` of types is made of (CamelCase names count too, below)
TYPE_NAMES = frozenset(
    n for n in dir(builtins) if isinstance(getattr(builtins, n), type) and n.islower()
)
#: standard-library names that 3.10 and 3.11 added (module attribute or import)
NEWER_STDLIB = {
    ("datetime", "UTC"): "datetime.timezone.utc",
    ("enum", "StrEnum"): "harborkit.compat.StrEnum",
    ("enum", "verify"): "nothing",
    ("hashlib", "file_digest"): "a read loop",
    ("contextlib", "chdir"): "os.chdir in try/finally",
    ("contextlib", "aclosing"): "nothing",
    ("itertools", "pairwise"): "zip(x, x[1:])",
    ("typing", "Self"): "typing_extensions under TYPE_CHECKING",
    ("typing", "TypeAlias"): "typing_extensions under TYPE_CHECKING",
    ("typing", "ParamSpec"): "typing_extensions under TYPE_CHECKING",
    ("typing", "Concatenate"): "typing_extensions under TYPE_CHECKING",
    ("typing", "TypeGuard"): "typing_extensions under TYPE_CHECKING",
    ("typing", "Unpack"): "typing_extensions under TYPE_CHECKING",
    ("typing", "Never"): "typing.NoReturn",
    ("typing", "NotRequired"): "typing_extensions under TYPE_CHECKING",
    ("typing", "Required"): "typing_extensions under TYPE_CHECKING",
    ("typing", "LiteralString"): "str",
    ("typing", "assert_never"): "an explicit raise",
    ("typing", "TypeVarTuple"): "nothing",
}
NEWER_MODULES = {"tomllib": "a TOML-free format", "zoneinfo.": ""}
NEWER_BUILTINS = {"ExceptionGroup", "BaseExceptionGroup", "aiter", "anext", "EncodingWarning"}


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of every node inside an annotation (a string at run time, with the __future__ import)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        roots: list[ast.AST | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
            roots += [p.annotation for p in params if p is not None]
            roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
        for r in roots:
            if r is not None:
                inside.update(id(n) for n in ast.walk(r))
    return inside


def _is_type_operand(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and node.value is None:
        return True
    if isinstance(node, ast.Subscript):
        return _is_type_operand(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_type_operand(node.left) or _is_type_operand(node.right)
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
    if not isinstance(name, str):
        return False
    camel = name[:1].isupper() and any(c.islower() for c in name)  # Path, not re.IGNORECASE
    return name in TYPE_NAMES or camel


def runtime_unions(tree: ast.AST, future: bool = True) -> Iterator[int]:
    """Lines of a ``X | Y`` of types that runs: TypeError on 3.9. Annotations run too
    in a module without ``from __future__ import annotations``."""
    skip = _annotation_nodes(tree) if future else set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.BitOr)
            and id(node) not in skip
            and _is_type_operand(node.left)
            and _is_type_operand(node.right)
        ):
            yield node.lineno


def _is_typer_command(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for d in fn.decorator_list:
        call = d.func if isinstance(d, ast.Call) else d
        if isinstance(call, ast.Attribute) and call.attr in ("command", "callback"):
            return True
    return False


def typer_unions(tree: ast.AST) -> Iterator[int]:
    """Lines of a ``X | Y`` in a typer command's signature: typer evaluates those."""
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_typer_command(fn):
            a = fn.args
            for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]:
                if p.annotation is None:
                    continue
                for n in ast.walk(p.annotation):
                    if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
                        yield n.lineno
                        break


def newer_api(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Lines using what 3.10/3.11 added to the standard library, with what to use instead."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module, alias.name) in NEWER_STDLIB:
                    yield node.lineno, f"from {node.module} import {alias.name}"
            if node.module == "tomllib":
                yield node.lineno, "tomllib"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "tomllib":
                    yield node.lineno, "import tomllib"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in NEWER_STDLIB or (
                node.value.id == "dt" and node.attr == "UTC"
            ):
                yield node.lineno, f"{node.value.id}.{node.attr}"
        elif isinstance(node, ast.Name) and node.id in NEWER_BUILTINS:
            yield node.lineno, node.id
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            kws = {k.arg for k in node.keywords}
            if node.func.id == "zip" and "strict" in kws:
                yield node.lineno, "zip(strict=): use harborkit.compat.zip_strict"
            if node.func.id == "entry_points" and kws:
                yield node.lineno, "entry_points(group=): use harborkit.compat.entry_points"
            if node.func.id == "dataclass" and kws & {"slots", "kw_only", "match_args"}:
                yield node.lineno, f"dataclass({', '.join(sorted(kws))})"
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "entry_points":
            if node.keywords:
                yield node.lineno, "entry_points(group=): use harborkit.compat.entry_points"
        elif isinstance(node, (ast.Try,)) and type(node).__name__ == "TryStar":
            yield node.lineno, "except*"


def _problems(check: str) -> list[str]:
    out: list[str] = []
    for path in SOURCES:
        src = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(src, str(path), feature_version=(3, 9))
        except SyntaxError as e:
            out.append(f"{_rel(path)}:{e.lineno}: not Python 3.9 syntax: {e.msg}")
            continue
        if check == "syntax":
            continue
        future = "from __future__ import annotations" in src
        if check == "unions":
            runs = sorted(set(runtime_unions(tree, future)))
            out += [f"{_rel(path)}:{n}: X | Y runs here (3.10+)" for n in runs]
            out += [f"{_rel(path)}:{n}: X | Y in a typer signature" for n in typer_unions(tree)]
        if check == "api" and path != COMPAT:
            out += [f"{_rel(path)}:{n}: {what} (3.10+)" for n, what in newer_api(tree)]
    return out


@pytest.mark.parametrize("check", ["syntax", "unions", "api"])
def test_sources_run_on_python_39(check: str) -> None:
    assert _problems(check) == []


# --------------------------------------------------------------- the guards can fail
@pytest.mark.parametrize(
    "code",
    [
        "Opt = Annotated[str | None, typer.Option()]\n",
        "x = isinstance(v, int | float)\n",
        "x = isinstance(n, ast.Import | ast.ImportFrom)\n",
        "T = list[str] | None\n",
        "def f(x=cast(Path | None, y)): pass\n",
        "class C:\n    kinds = (dict | list)\n",
    ],
)
def test_runtime_union_is_found(code: str) -> None:
    assert list(runtime_unions(ast.parse(code))) != []


@pytest.mark.parametrize(
    "code",
    [
        "def f(x: str | None) -> int | None: pass\n",
        "x: Path | None = None\n",
        "flags = re.IGNORECASE | re.MULTILINE\n",
        "mode = stat.S_IRUSR | stat.S_IWUSR | 0o40\n",
        "n = a | b\n",
        "s = {1} | {2}\n",
    ],
)
def test_runtime_union_spares_annotations_and_flags(code: str) -> None:
    assert list(runtime_unions(ast.parse(code))) == []


def test_runtime_union_in_annotations_without_future_import() -> None:
    code = "def f(x: str | None) -> None: pass\n"
    assert list(runtime_unions(ast.parse(code), future=False)) == [1]


@pytest.mark.parametrize(
    "code",
    [
        "@app.command()\ndef c(x: Annotated[str | None, typer.Option()] = None): pass\n",
        "@bundle_app.command('load')\ndef c(*, y: Path | None = None): pass\n",
        "@app.callback(invoke_without_command=True)\ndef c(v: int | None = None): pass\n",
    ],
)
def test_typer_union_is_found(code: str) -> None:
    assert list(typer_unions(ast.parse(code))) != []


@pytest.mark.parametrize(
    "code",
    [
        "import tomllib\n",
        "from datetime import UTC\n",
        "t = datetime.UTC\n",
        "t = dt.UTC\n",
        "class E(enum.StrEnum): pass\n",
        "from typing import Self\n",
        "from typing import ParamSpec\n",
        "d = hashlib.file_digest(f, 'sha256')\n",
        "with contextlib.chdir(p): pass\n",
        "for a, b in zip(x, y, strict=True): pass\n",
        "@dataclass(frozen=True, slots=True)\nclass C: pass\n",
        "raise ExceptionGroup('x', [])\n",
        "eps = importlib.metadata.entry_points(group='harborkit.checks')\n",
        "eps = entry_points(group='harborkit.checks')\n",
    ],
)
def test_newer_api_is_found(code: str) -> None:
    assert list(newer_api(ast.parse(code))) != []


@pytest.mark.parametrize(
    "code",
    [
        "match x:\n    case 1: pass\n",
        "try:\n    pass\nexcept* ValueError:\n    pass\n",
        "def f[T](x: T) -> T: return x\n",
        "type X = int\n",
    ],
)
def test_newer_syntax_is_refused(code: str) -> None:
    with pytest.raises(SyntaxError):
        ast.parse(code, feature_version=(3, 9))


# --------------------------------------------------------------- harborkit.compat
@pytest.mark.parametrize(
    "args",
    [([1, 2], [3]), ([1], [3, 4]), ([], [1]), ([1, 2], [3, 4], [5]), (iter([1, 2]), "a")],
)
def test_zip_strict_refuses_lengths_that_differ(args: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        list(zip_strict(*args))  # type: ignore[call-overload]


def test_zip_strict_pairs_equal_lengths() -> None:
    assert list(zip_strict([1, 2], "ab")) == [(1, "a"), (2, "b")]
    assert list(zip_strict([1], [2], [3])) == [(1, 2, 3)]
    assert list(zip_strict([], [])) == []


def test_zip_strict_fallback_of_39() -> None:
    from harborkit.compat import _zip_strict

    assert list(_zip_strict(([1, 2], "ab"))) == [(1, "a"), (2, "b")]
    for bad in (([1, 2], [3]), ([1], [3, 4]), ([], [None])):
        with pytest.raises(ValueError, match="different lengths"):
            list(_zip_strict(bad))


class _Fmt(StrEnum):
    table = "table"
    json = "json"


def test_strenum_is_its_value() -> None:
    assert _Fmt.json == "json"
    assert isinstance(_Fmt.json, str)
    assert str(_Fmt.json) == "json"
    assert f"{_Fmt.json}" == "json"
    assert f"[{_Fmt.table:>7}]" == "[  table]"
    assert f"{_Fmt.table}" == "table"
    assert _Fmt("json") is _Fmt.json
    assert re.fullmatch(r"\w+", str(_Fmt.table))


# --------------------------------------------------------------- typer and click of 3.9
def _declared_names(fn: object) -> dict[str, set[str]]:
    """Per parameter, the option names its ``Annotated[..., typer.Option(...)]`` declares."""
    import inspect
    import typing

    from typer.models import OptionInfo

    hints = typing.get_type_hints(inspect.unwrap(fn), include_extras=True)  # type: ignore[arg-type]
    out: dict[str, set[str]] = {}
    for name, hint in hints.items():
        for info in getattr(hint, "__metadata__", ()):
            if isinstance(info, OptionInfo):
                decls = (info.default, *(info.param_decls or ()))
                # a flag pair "--on/--off" is two names
                out[name] = {
                    n
                    for d in decls
                    if isinstance(d, str) and d.startswith("-")
                    for n in d.split("/")
                }
    return out


def _commands(cmd: object, path: str = "harborkit") -> Iterator[tuple[str, object]]:
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, f"{path} {name}")


def test_typer_keeps_every_declared_option_name() -> None:
    """On 3.9, typer 0.23 dropped Annotated from string annotations (every option lost
    the names it declares); commands/annotations.py gives typer evaluated ones."""
    import typer

    from harborkit.commands.app import app

    checked = 0
    for path, cmd in _commands(typer.main.get_command(app)):
        callback = getattr(cmd, "callback", None)
        if callback is None:
            continue
        declared = _declared_names(inspect_unwrap(callback))
        got = {p.name: set(p.opts) | set(p.secondary_opts) for p in cmd.params}  # type: ignore[attr-defined]
        for name, names in declared.items():
            assert names <= got.get(name, set()), f"{path}: {name} declares {names}"
            checked += 1
    assert checked > 40  # every command was looked at


def inspect_unwrap(fn: object) -> object:
    """typer wraps each callback; the function the command module wrote."""
    import inspect

    return inspect.unwrap(fn)  # type: ignore[arg-type]


COMMAND_MODULE = """
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer()


@app.command()
def cmd(
    name: Annotated[Optional[str], typer.Option("--name", "-n")] = None,
    out: Annotated[Path, typer.Option("--output", "-o")] = Path("x"),
    flag: bool = False,
) -> Optional[int]:
    return None
"""


def test_resolved_signature_is_evaluated_and_keeps_annotated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inspect
    import typing

    import typer

    from harborkit.commands.annotations import resolve

    (tmp_path / "hk_cmd_mod.py").write_text(COMMAND_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import hk_cmd_mod  # type: ignore[import-not-found]

    fn = hk_cmd_mod.cmd
    assert isinstance(inspect.signature(fn).parameters["name"].annotation, str)
    resolve(hk_cmd_mod.app)
    params = inspect.signature(fn).parameters
    assert typing.get_origin(params["name"].annotation) is typing.Annotated
    assert typing.get_args(params["out"].annotation)[0] is Path
    assert params["flag"].annotation is bool
    assert params["out"].default == Path("x")
    cmd = typer.main.get_command(hk_cmd_mod.app)
    opts = {o for p in cmd.params for o in p.opts}
    assert {"--name", "-n", "--output", "-o", "--flag"} <= opts


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["harborkit"], True),
        (["harborkit", "bundle"], True),
        (["harborkit", "check"], False),
        (["harborkit", "bundle", "verify"], False),
        (["harborkit", "--no-color"], False),
        (["harborkit", "nosuch"], False),
    ],
)
def test_help_for_no_args_of_old_click(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], shown: bool
) -> None:
    """click 8.1 prints the help of a bare group and returns 0: run_app exits 2 there."""
    import sys

    from harborkit.commands.app import app
    from harborkit.commands.output import _help_for_no_args

    monkeypatch.setattr(sys, "argv", argv)
    assert _help_for_no_args(app) is shown


@pytest.mark.parametrize("args", [[], ["bundle"]])
def test_bare_group_shows_help_and_exits_2(args: list[str]) -> None:
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "harborkit", *args], capture_output=True, text=True, check=False
    )
    assert (r.returncode, r.stderr) == (2, "")
    assert "Usage: harborkit" in r.stdout


def test_entry_points_name_their_distribution() -> None:
    from harborkit.compat import entry_points

    builtin = [e for e in entry_points("harborkit.checks") if e.name == "builtin"]
    assert [(e.value, e.dist.name if e.dist else None) for e in builtin] == [
        ("harborkit.checks:BUILTIN_CHECKS", "harborkit")
    ]
    assert entry_points("harborkit.no-such-group") == []


@pytest.mark.parametrize(
    ("entry", "host", "covered"),
    [
        ("01.02.03.04/8", "1.2.3.4", False),  # 3.9.2 would read 1.0.0.0/8
        ("1.2.3.04/8", "1.2.3.4", False),
        ("::ffff:1.2.3.04/104", "1.2.3.4", False),
        ("10.0.0.0/8", "10.0.0.01", False),  # the Harbor address itself
        ("10.0.0.0/08", "10.1.2.3", True),  # Go reads /08 as /8
        ("10.0.0.0/8", "10.1.2.3", True),
        ("10.0.0.0/8", "10.0.0.10", True),  # a 0 that ends a part is no leading zero
        ("fd00::0db8/64", "fd00::1", True),  # IPv6 hextets may have leading zeros
    ],
)
def test_ipv4_leading_zeros_are_refused_on_every_python(
    entry: str, host: str, covered: bool
) -> None:
    """Python 3.9.0-3.9.4 (Debian 11: 3.9.2) reads 01.2.3.4 as 1.2.3.4; dockerd (Go)
    and later Pythons refuse it: harborkit judges as dockerd does on every Python."""
    from harborkit.checks.dockerd_registry import _go_ip, covers

    assert covers(entry, host, 5000) is covered
    assert _go_ip("01.2.3.4") is False
    assert _go_ip("1.2.3.4") is True
