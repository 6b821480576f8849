"""The Ansible variables harborkit uses to reach a host (``ansible_host``,
``ansible_port``, ``ansible_user``, ``ansible_become`` ...), checked: a value it
cannot use is one line naming ``file:line`` and the host."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from harborkit.errors import InputError
from harborkit.host import inventory_io as io
from harborkit.host.inventory_io import show, type_name
from harborkit.host.inventory_model import MAX_VALUE
from harborkit.host.ssh import SshTarget


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "on")


def _problem(where: Callable[[str], str], name: str, var: str, what: str) -> InputError:
    return InputError(f"{where(var)}: host {show(name)}: {var} {what}")


def _port(name: str, hv: Mapping[str, Any], where: Callable[[str], str]) -> int | None:
    for var in ("ansible_port", "ansible_ssh_port"):
        v = hv.get(var)
        if v is None or v == "":
            continue
        n: int | None = None
        if isinstance(v, int) and not isinstance(v, bool):
            n = v
        elif (
            isinstance(v, str)
            and v.strip().isascii()
            and v.strip().isdigit()
            and len(v.strip()) <= 5
        ):
            n = int(v.strip())
        if n is None or not 1 <= n <= 65535:
            raise _problem(where, name, var, f"{show(v)} is not a port number (1-65535)")
        return n
    return None


def _text(
    name: str, hv: Mapping[str, Any], keys: Iterable[str], where: Callable[[str], str]
) -> str | None:
    for var in keys:
        v = hv.get(var)
        if v is None or v == "":
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise _problem(where, name, var, f"must be a string, not {type_name(v)}")
        s = str(v)
        if len(s) > MAX_VALUE:
            raise _problem(where, name, var, f"is longer than {MAX_VALUE} characters")
        if io.has_control(s):
            raise _problem(where, name, var, f"{show(s)} holds a control character")
        return s
    return None


def _where_unknown(var: str) -> str:
    return "--inventory"


def target(
    name: str, hv: Mapping[str, Any], where: Callable[[str], str] = _where_unknown
) -> SshTarget:
    """How Ansible would reach ``name`` (ansible_host, _port, _user, _become ...);
    a value harborkit cannot use is an error naming ``where(var)`` and the host."""
    args: list[str] = []
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        v = hv.get(key)
        if v is None or v == "":
            continue
        if not isinstance(v, str):
            raise _problem(where, name, key, f"must be a string, not {type_name(v)}")
        if len(v) > MAX_VALUE:
            raise _problem(where, name, key, f"is longer than {MAX_VALUE} characters")
        try:
            args += shlex.split(v)
        except ValueError as e:
            raise _problem(where, name, key, f"cannot be split into arguments: {e}") from None
    become = hv.get("ansible_become")
    if become is not None and not isinstance(become, (bool, int, str)):
        raise _problem(
            where, name, "ansible_become", f"must be true or false, not {type_name(become)}"
        )
    return SshTarget(
        host=_text(name, hv, ("ansible_host", "ansible_ssh_host"), where) or name,
        user=_text(name, hv, ("ansible_user",), where),
        port=_port(name, hv, where),
        name=name,
        become=None if become is None else _truthy(become),
        identity=_text(name, hv, ("ansible_ssh_private_key_file",), where),
        ssh_args=tuple(args),
    )
