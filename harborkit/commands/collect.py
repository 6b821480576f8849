"""``harborkit collect --script``: print the snapshot collector for a host."""

from __future__ import annotations

import sys

from harborkit.commands.options import (
    CollectHarborConfigOpt,
    CollectInstallDirOpt,
    CollectNodeOpt,
    CollectProfileOpt,
    ScriptOpt,
)


def collect(
    script_: ScriptOpt = False,
    profile: CollectProfileOpt = None,
    harbor_config: CollectHarborConfigOpt = None,
    install_dir: CollectInstallDirOpt = None,
    node: CollectNodeOpt = None,
) -> None:
    """Print the snapshot collector: sh collect.sh > HOST.hksnap on the target,
    then harborkit check --snapshot HOST.hksnap here."""
    from harborkit.collect import script
    from harborkit.engine.plugins import discover
    from harborkit.engine.profile import load_profile, with_nodes
    from harborkit.engine.wants import wants_for
    from harborkit.model.check import CheckOptions

    if not script_:
        from harborkit.errors import InputError

        raise InputError("collect: say what to print: --script (see harborkit collect --help)")
    prof = with_nodes(load_profile(profile), node or [])
    loaded, _ = discover()
    from harborkit.engine.session import host_path

    options = CheckOptions(host_path(harbor_config, "/"), host_path(install_dir, "/"))
    sys.stdout.write(script(wants_for(prof.data, options, [lc.cls for lc in loaded])))
