"""What ``check`` and ``fix`` share: from command-line options to a
:class:`~harborkit.engine.audit.Session` (the installed checks, the profile,
the selection and the check options), which :mod:`harborkit.engine.audit` runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harborkit.engine.audit import Session
from harborkit.engine.plugins import LoadedCheck, PluginFailure
from harborkit.engine.runner import Selection
from harborkit.errors import InputError
from harborkit.model.check import CheckOptions

if TYPE_CHECKING:
    from harborkit.host.interface import Host


def split_names(values: Sequence[str] | None) -> tuple[str, ...]:
    """``--only a,b --only c`` -> ``("a", "b", "c")``."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return tuple(out)


def require_some(
    selection: Selection,
    loaded: Sequence[LoadedCheck],
    cross: Sequence[Any] = (),
    failures: Sequence[PluginFailure] = (),
) -> None:
    """A run that would judge nothing is a usage error, not "OK: 0 checks".

    ``cross``: the cross-node checks (classes with ``id`` and ``group``) when
    the run audits several hosts; broken plugins are reported as checks too."""
    from harborkit.engine.runner import PLUGIN_GROUP, plugin_id

    if any(selection.picks(lc.cls) for lc in loaded):
        return
    if any(selection.picks_name(c.id, c.group) for c in cross):
        return
    if any(selection.picks_name(plugin_id(f), PLUGIN_GROUP) for f in failures):
        return
    if selection.phase != "all":  # the names pick checks, but of the other phase
        named = replace(selection, phase="all")
        if any(named.picks(lc.cls) for lc in loaded) or any(
            named.picks_name(c.id, c.group) for c in cross
        ):
            other = "post" if selection.phase == "pre" else "pre"
            raise InputError(
                f"--phase {selection.phase}: the selected checks are all of phase {other} "
                f"(add --phase {other} or --phase all)"
            )
    said = [f"--only {','.join(selection.only)}"] if selection.only else []
    said += [f"--skip {','.join(selection.cli_skip)}"] if selection.cli_skip else []
    by = " ".join(said) if said else "the profile's select/skip"
    raise InputError(
        f"{by}: selects no check, so nothing would be judged (see 'harborkit check --list')"
    )


def host_path(path: str | None, root: str | None) -> str | None:
    """Paths of files on the audited host: absolute; relative ones are taken
    from the current directory on a live host, from the sysroot's / otherwise."""
    if path is None:
        return None
    if root is None:
        return os.path.abspath(path)
    return path if path.startswith("/") else "/" + path


def check_options(
    host: Host,
    profile: Mapping[str, Any],
    harbor_config: str | None,
    install_dir: str | None,
    root: str | None,
) -> CheckOptions:
    """--harbor-config and --install-dir as paths on the audited host; one that
    names nothing there is a usage error, not a failed check."""
    from harborkit.checks._harbor import find_install_dir
    from harborkit.model.check import CheckOptions

    where = f" in the sysroot {root}" if root else ""
    config = host_path(harbor_config, root)
    if config is not None and not host.exists(config):
        raise InputError(f"--harbor-config {config}: no such file{where}")
    inst = host_path(install_dir, root)
    if inst is not None:
        names = list((profile.get("harbor") or {}).get("config_names") or ["harbor.yml"])
        inst = find_install_dir(host, inst, names)
    return CheckOptions(config, inst)


def root_options(
    host: Host,
    profile: Mapping[str, Any],
    harbor_config: str | None,
    install_dir: str | None,
    root: str,
) -> CheckOptions:
    """:func:`check_options` for one of several sysroots: the error names it."""
    try:
        return check_options(host, profile, harbor_config, install_dir, root)
    except InputError as e:
        if root in e.message:
            raise
        raise InputError(f"{e.message} (in the sysroot {root})") from e


def prepare(
    *,
    profile: Path | None,
    root: str | None,
    harbor_config: str | None,
    install_dir: str | None,
    node: Sequence[str] | None,
    only: Sequence[str] | None,
    skip: Sequence[str] | None,
    loaded: Sequence[LoadedCheck] | None = None,
    failures: Sequence[PluginFailure] = (),
    harbor: str | None = None,
) -> Session:
    """Load the profile, validate --only/--skip against the installed checks."""
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile, with_harbor, with_nodes

    if loaded is None:
        loaded, failures = discover()
    prof = with_harbor(with_nodes(load_profile(profile), node or []), harbor)
    selection = Selection(prof.select, prof.skip, split_names(only), split_names(skip))
    selection.validate_names([lc.cls for lc in loaded], failures)
    from harborkit.host import LocalHost, SysrootHost

    host: Host = SysrootHost(root) if root else LocalHost()
    options = check_options(host, prof.data, harbor_config, install_dir, root)
    return Session(tuple(loaded), tuple(failures), prof, selection, root, options)
