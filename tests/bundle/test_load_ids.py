"""bundle load judges images by id, not by name: a reference present with a
different id is reloaded and fixed; the right image under another name is
only re-tagged."""

from __future__ import annotations

from pathlib import Path

from harborkit.errors import ExitCode
from tests.bundle.conftest import BuildHost, image_list, run_cli
from tests.support.dockerd import Daemon
from tests.support.images import HARBOR_V180_IMAGES, busybox_layer, load_images, make_image


def test_reference_with_a_different_id_is_reloaded_and_fixed(
    built_bundle: Path, build_host: BuildHost, fresh_daemon: Daemon
) -> None:
    impostor = make_image(["goharbor/harbor-core:v1.8.0"], [busybox_layer()], cmd=("/bin/true",))
    client = fresh_daemon.client()
    try:
        load_images(client, [impostor])
        assert image_list(fresh_daemon) == {"goharbor/harbor-core:v1.8.0": impostor.id}
    finally:
        client.close()
    source = {t: i for t, i in image_list(build_host.daemon).items() if t in HARBOR_V180_IMAGES}
    assert source["goharbor/harbor-core:v1.8.0"] != impostor.id

    r = run_cli("bundle", "load", str(built_bundle), env=fresh_daemon.env())
    # the tag moved off the impostor is named (issue 19)
    core = source["goharbor/harbor-core:v1.8.0"]
    assert (r.returncode, r.stderr) == (
        ExitCode.OK,
        f"harborkit: moved tag goharbor/harbor-core:v1.8.0 from {impostor.id[:19]} to "
        f"{core[:19]}\n",
    )
    assert r.stdout == (
        "loaded 15 images, 0 already present\n"
        f"the installer was not unpacked: harborkit bundle load {built_bundle} --install-dir "
        "DIR unpacks it (images already loaded are skipped)\n"
    )
    assert image_list(fresh_daemon) == source  # the impostor's tag now names the bundle's image


def test_right_image_under_another_name_is_only_retagged(
    built_bundle: Path, build_host: BuildHost, fresh_daemon: Daemon
) -> None:
    r = run_cli("bundle", "load", str(built_bundle), env=fresh_daemon.env())
    assert (r.returncode, r.stderr) == (ExitCode.OK, "")
    source = {t: i for t, i in image_list(build_host.daemon).items() if t in HARBOR_V180_IMAGES}
    client = fresh_daemon.client()
    try:
        db = source["goharbor/harbor-db:v1.8.0"]
        client.api.tag(db, "keep/db", "1")
        client.api.remove_image("goharbor/harbor-db:v1.8.0")
    finally:
        client.close()
    assert "goharbor/harbor-db:v1.8.0" not in image_list(fresh_daemon)

    r = run_cli("bundle", "load", str(built_bundle), env=fresh_daemon.env())
    assert (r.returncode, r.stderr) == (ExitCode.OK, "")
    assert r.stdout == (
        "loaded 0 images, 15 already present\n"
        f"the installer was not unpacked: harborkit bundle load {built_bundle} --install-dir "
        "DIR unpacks it (images already loaded are skipped)\n"
    )
    assert image_list(fresh_daemon) == {**source, "keep/db:1": db}
