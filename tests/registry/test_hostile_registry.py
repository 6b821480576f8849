"""A registry that lies, in every way issue 13 lists: one line, exit 10, and nothing of the user's touched.

Each case runs ``harborkit bundle build --from registry://...`` (or ``bundle
push``) as a process against :mod:`tests.support.hostile_registry` with a
temporary ``HOME`` (so the default cache is ``$HOME/.cache/harborkit/blobs``)
holding a planted ``.bashrc`` that must survive. The process's own peak RSS is
taken with ``wait4``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harborkit.errors import ExitCode
from tests.registry.conftest import REPO, write_installer, write_manifest
from tests.support.hostile_registry import (
    AMBIGUOUS_URLS,
    PASSWORD,
    REPOSITORY,
    TOKEN,
    USER,
    HostileRegistry,
    hostile_registry,
)

MAX_RSS_MB = 200
PLANTED = "planted by the test: must survive\n"
NOT_A_DIGEST = "is not sha256: followed by 64 lowercase hex digits"
TRAVERSAL_SHOWN = "'sha256:../../../..//////////////////////////////////////////////.bashrc'"
HEX = r"sha256:[0-9a-f]{64}"


@dataclass(frozen=True)
class Run:
    """A finished harborkit process."""

    rc: int
    stdout: str
    stderr: str
    peak_rss_mb: float


@dataclass(frozen=True)
class Site:
    """A user's machine in a temporary folder: HOME with a planted file, a manifest, an installer."""

    root: Path
    home: Path
    manifest: Path
    installer: Path

    @property
    def planted(self) -> Path:
        return self.home / ".bashrc"

    @property
    def cache(self) -> Path:
        return self.home / ".cache" / "harborkit" / "blobs"

    def cache_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.cache.rglob("*") if p.is_file())


@pytest.fixture
def site(tmp_path: Path) -> Site:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text(PLANTED)
    manifest = write_manifest(tmp_path, [f"{REPOSITORY}:v1"])
    return Site(tmp_path, home, manifest, write_installer(tmp_path))


#: runs argv[2:], then writes its peak RSS (KiB) to argv[1]; a small parent, so that the
#: fork+exec does not count pytest's own size as the child's (Linux keeps the old mm's peak)
_WRAPPER = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(p.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(site: Site, *args: str, password: bool = False) -> Run:
    """``python -m harborkit ARGS`` with HOME in ``site``; exit code, output, own peak RSS."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "DOCKER_CONFIG")}
    env["HOME"] = str(site.home)
    if password:
        env["HARBORKIT_REGISTRY_PASSWORD"] = PASSWORD
    rss = site.root / "rss"
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(rss), sys.executable, "-m", "harborkit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
    )
    peak = int(rss.read_text()) / 1024
    rss.unlink()
    return Run(proc.returncode, proc.stdout, proc.stderr, peak)


def build(site: Site, reg: HostileRegistry, *extra: str) -> Run:
    auth = ["--username", USER] if reg.auth != "none" else []
    return run_measured(
        site,
        "bundle", "build", "-q", "--from", f"registry://{reg.host}", "--insecure",
        "-m", str(site.manifest), "--installer", str(site.installer),
        "-o", str(site.root / "out.tar"), *auth, *extra,
        password=bool(auth),
    )  # fmt: skip


def refused(run: Run, site: Site, line: str) -> None:
    """Exit 10 with exactly ``line`` (a regex), nothing at the output, the planted file intact."""
    assert run.stderr.count("\n") == 1, run.stderr  # one line, no traceback
    assert re.fullmatch("harborkit: error: " + line + "\n", run.stderr), run.stderr
    assert run.rc == ExitCode.REGISTRY, run.stderr
    assert run.peak_rss_mb < MAX_RSS_MB, f"peak RSS {run.peak_rss_mb:.0f} MB"
    assert site.planted.read_text() == PLANTED
    assert not (site.root / "out.tar").exists()
    assert [p.name for p in site.root.iterdir() if "partial" in p.name] == []


def _h(reg: HostileRegistry) -> str:
    return re.escape(reg.host)


# --------------------------------------------------------------------------- digests as paths


@pytest.mark.parametrize(
    ("mode", "line"),
    [
        (
            "traversal-layer",
            "{h}: hostile/app:v1: manifest {hex}: layer 0 digest {trav} {nd}",
        ),
        ("traversal-config", "{h}: hostile/app:v1: manifest {hex}: config digest {trav} {nd}"),
        ("traversal-index", "{h}: hostile/app:v1: index entry 0 digest {trav} {nd}"),
        (
            "traversal-header",
            "{h}: manifest hostile/app:v1: Docker-Content-Digest header {trav} {nd}",
        ),
        (
            "diff-id-not-digest",
            r"{h}: hostile/app \(hostile/app:v1\): config {hex}: diff_ids\[0\] {trav} {nd}",
        ),
    ],
)
def test_a_digest_that_climbs_out_of_the_cache_is_refused(mode: str, line: str, site: Site) -> None:
    with hostile_registry(mode) as reg:
        run = build(site, reg)
    expected = line.format(
        h=_h(reg), hex=HEX, trav=re.escape(TRAVERSAL_SHOWN), nd=re.escape(NOT_A_DIGEST)
    )
    refused(run, site, expected)
    outside = [p for p in site.home.rglob("*") if p.is_file() and site.cache not in p.parents]
    assert outside == [site.planted]  # nothing written beside it (no .bashrc.partial)


def test_the_same_build_from_an_honest_registry_works(site: Site) -> None:
    with hostile_registry("ok") as reg:
        run = build(site, reg)
    assert (run.rc, run.stderr) == (ExitCode.OK, "")
    assert (site.root / "out.tar").is_file()
    assert site.planted.read_text() == PLANTED


# --------------------------------------------------------------------------- malformed documents


@pytest.mark.parametrize(
    ("mode", "line"),
    [
        ("manifest-list", "{h}: manifest hostile/app:v1 is a JSON list, not an object"),
        ("index-no-digest", "{h}: hostile/app:v1: index entry 0 digest is missing"),
        (
            "index-child-mismatch",
            "{h}: manifest hostile/app@{hex} does not match its digest \\(got {hex}\\)",
        ),
        ("config-not-json", r"{h}: hostile/app \(hostile/app:v1\): config {hex} is not JSON"),
        (
            "config-not-object",
            r"{h}: hostile/app \(hostile/app:v1\): config {hex} is a JSON list, not an object",
        ),
        (
            "rootfs-not-object",
            r"{h}: hostile/app \(hostile/app:v1\): config {hex}: rootfs is not an object",
        ),
        (
            "diff-id-count",
            r"{h}: hostile/app \(hostile/app:v1\): config {hex} lists 0 diff_ids for 1 layers",
        ),
        (
            "diff-id-wrong",
            r"{h}: hostile/app \(hostile/app:v1\): config {hex}: diff_ids\[0\] is {hex}, "
            r"but layer {hex} ungzips to {hex} \(docker load would refuse the image\)",
        ),
        (
            "bad-size",
            "{h}: hostile/app:v1: manifest {hex}: layer 0 size '60000' is not a whole number "
            "of bytes",
        ),
        (
            "config-too-big",
            "{h}: hostile/app:v1: manifest {hex}: config of 1099511627776 bytes is larger "
            "than 16 MiB",
        ),
        # JSON that readers would read differently, or that Go's decoders (skopeo) refuse
        ("manifest-duplicate-key", "{h}: manifest hostile/app:v1 holds the key 'layers' twice"),
        ("manifest-nan", "{h}: manifest hostile/app:v1 holds NaN, which is not JSON"),
        (
            "layer-size-huge",
            "{h}: manifest hostile/app:v1 holds the number 1000000000000000000000000000000000000"
            r"\.\.\., out of any 64-bit range",
        ),
        (
            "layer-size-int64",
            "{h}: manifest hostile/app:v1 holds the number 9223372036854775808, out of any "
            "64-bit range",
        ),
        (
            "manifest-ambiguous",
            "{h}: manifest hostile/app:v1 is ambiguous: an image manifest that also has "
            "'manifests'",
        ),
        (
            "index-ambiguous",
            "{h}: manifest hostile/app:v1 is ambiguous: an index that also has 'layers'",
        ),
        (
            "manifest-served-as-oci",
            "{h}: manifest hostile/app:v1 is ambiguous: it says it is "
            r"'application/vnd\.docker\.distribution\.manifest\.v2\+json' but is served as "
            r"'application/vnd\.oci\.image\.manifest\.v1\+json'",
        ),
        (
            "manifest-schema-version",
            r"{h}: manifest hostile/app:v1: schemaVersion 1 is not 2 \(for an image manifest\)",
        ),
        (
            "config-duplicate-key",
            r"{h}: hostile/app \(hostile/app:v1\): config {hex} holds the key 'rootfs' twice",
        ),
        # digests: only sha256 in lower-case hex, and what is received must hash to it
        (
            "layer-sha512",
            r"{h}: hostile/app:v1: manifest {hex}: layer 0 digest 'sha512:[0-9a-f]+\.\.\. is "
            "not sha256: followed by 64 lowercase hex digits",
        ),
        (
            "layer-uppercase",
            "{h}: hostile/app:v1: manifest {hex}: layer 0 digest 'sha256:[0-9A-F]{{64}}' is "
            "not sha256: followed by 64 lowercase hex digits",
        ),
        (
            "size-conflict",  # (the first size won; the second was never checked)
            r"{h}: hostile/app:v1 names blob {hex} with \d+ bytes, and hostile/app with \d+ "
            "bytes",
        ),
        (
            "header-digest-lie",
            "{h}: manifest hostile/app:v1 hashes to {hex}, the registry says {hex}",
        ),
        (
            "blob-mismatch",
            r"{h}: blob {hex} of hostile/app does not match its digest \(received \d+ bytes "
            r"hashing to {hex}\); the download was removed",
        ),
    ],
)
def test_a_malformed_document_is_one_line_exit_10(mode: str, line: str, site: Site) -> None:
    with hostile_registry(mode) as reg:
        run = build(site, reg)
    refused(run, site, line.format(h=_h(reg), hex=HEX))


# --------------------------------------------------------------------------- token service


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        ("token-expires-nan", "the token response's expires_in is not a number"),
        ("token-endless", "the token response is larger than 256 KiB"),  # a bounded read
        (
            "token-expires-huge",  # was an OverflowError traceback
            "the token response holds the number 1000000000000000000000000000000000000..., "
            "out of any 64-bit range",
        ),
        ("token-conflict", "the token response holds a token and another access_token"),
        ("token-duplicate", "the token response holds the key 'token' twice"),
        ("token-nan", "the token response holds NaN, which is not JSON"),
        *(
            (
                mode,
                "the token response holds a token that is not a bearer token (RFC 6750: "
                "letters, digits, '-._~+/', then '=')",
            )
            for mode in ("token-not-latin1", "token-space", "token-newline")
        ),
    ],
)
def test_a_bad_token_response_is_one_line_and_never_echoed(
    mode: str, what: str, site: Site
) -> None:
    with hostile_registry(mode, auth="bearer") as reg:
        run = build(site, reg)
    refused(
        run,
        site,
        rf"{_h(reg)}: token service http://{_h(reg)}/token \(to get manifest hostile/app:v1\): "
        + re.escape(what),
    )
    assert TOKEN not in run.stderr


# --------------------------------------------------------------------------- bounded reads


def test_an_endless_error_body_is_cut(site: Site) -> None:
    with hostile_registry("error-endless") as reg:
        run = build(site, reg)
    refused(
        run, site, f"{_h(reg)}: get manifest hostile/app:v1 failed: HTTP 500 Internal Server Error"
    )


def test_a_blob_past_its_declared_size_is_cut_and_removed(site: Site) -> None:
    with hostile_registry("blob-overflow") as reg:
        declared = sum(len(b) for b in reg.image.blobs.values())
        run = build(site, reg)
    refused(
        run,
        site,
        f"{_h(reg)}: blob {HEX} \\(hostile/app\\) goes on past the \\d+ bytes its manifest "
        "declares; the download was removed",
    )
    assert site.cache_bytes() <= declared, sorted(site.cache.rglob("*"))
    layer = reg.image.layer_digests[0].split(":", 1)[1]
    assert not (
        site.cache / "sha256" / f"{layer}.partial"
    ).exists()  # (a cancelled config's may stay)


def test_a_blob_is_asked_for_as_it_is_not_compressed_for_the_wire(site: Site) -> None:
    """requests asks for gzip by default; a server (or proxy) that gzips the answer would
    have the blob fail its digest: blobs are asked for with ``Accept-Encoding: identity``."""
    with hostile_registry("blob-gzip-if-asked") as reg:
        run = build(site, reg)
    assert (run.rc, run.stderr) == (ExitCode.OK, "")


def test_a_resumed_partial_that_does_not_match_restarts_in_the_same_run(site: Site) -> None:
    with hostile_registry("ok") as reg:
        layer = reg.image.layer_digests[0]
        partial = site.cache / "sha256" / (layer.split(":", 1)[1] + ".partial")
        partial.parent.mkdir(parents=True)
        partial.write_bytes(b"not the start of this layer" * 100)
        run = build(site, reg)
    assert (run.rc, run.stderr) == (ExitCode.OK, "")
    assert (site.cache / "sha256" / layer.split(":", 1)[1]).read_bytes() == reg.image.blobs[layer]
    assert not partial.exists()


# --------------------------------------------------------------------------- credentials


def test_a_redirect_elsewhere_gets_no_credentials(site: Site) -> None:
    with hostile_registry("redirect-elsewhere", auth="basic") as reg:
        run = build(site, reg)
    assert (run.rc, run.stderr) == (ExitCode.OK, "")
    assert reg.witness_seen, "the redirect was not followed"
    assert [s.authorization for s in reg.witness_seen] == [None] * len(reg.witness_seen)
    assert any(s.authorization for s in reg.seen)  # the registry itself did get them


@pytest.fixture(scope="module")
def bundle() -> Iterator[Path]:
    """A bundle of the hostile image, built from the honest mode."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "home").mkdir()
        s = Site(
            root, root / "home", write_manifest(root, [f"{REPOSITORY}:v1"]), write_installer(root)
        )
        with hostile_registry("ok") as reg:
            run = build(s, reg)
        assert run.rc == ExitCode.OK, run.stderr
        yield root / "out.tar"


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_an_upload_location_elsewhere_gets_no_credentials(
    auth: str, bundle: Path, site: Site
) -> None:
    with hostile_registry("location-elsewhere", auth=auth) as reg:
        run = run_measured(
            site,
            "bundle", "push", "-q", str(bundle), "--registry", reg.host, "--insecure",
            "--username", USER, "--workers", "1",
            password=True,
        )  # fmt: skip
    refused(
        run,
        site,
        rf"{_h(reg)}: push blob {HEX} to hostile/app: http://{re.escape(reg.witness_host)}"
        rf"/upload/1 asked for credentials; harborkit sends them only to http://{_h(reg)} "
        "and its token service",
    )
    assert reg.witness_seen, "the upload never reached the Location"
    assert [s.authorization for s in reg.witness_seen] == [None] * len(reg.witness_seen)
    assert PASSWORD not in run.stderr and TOKEN not in run.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["bundle", "build", "--from", f"registry://{USER}:{PASSWORD}@127.0.0.1:5000", "-o", "x"],
        ["bundle", "build", "--from", f"registry://{USER}:{PASSWORD}@127.0.0.1:5000/v2", "-o", "x"],
        ["bundle", "push", "x.tar", "--registry", f"{USER}:{PASSWORD}@127.0.0.1:5000"],
    ],
    ids=["build", "build-with-path", "push"],
)
def test_credentials_in_the_registry_address_are_refused(command: list[str], site: Site) -> None:
    run = run_measured(site, *command)
    assert run.rc == ExitCode.USAGE
    assert run.stderr == (
        "harborkit: error: registry '127.0.0.1:5000': credentials in the registry address are "
        "not accepted (they would be printed and stored); give --username and the password in "
        "HARBORKIT_REGISTRY_PASSWORD (or --password)\n"
    )
    assert PASSWORD not in run.stderr + run.stdout


# --------------------------------------------------------------------------- ambiguous URLs
# issue 19, classes 13 and 14: a URL that urlsplit reads as the registry while urllib3 (which
# requests connects with) reads it as the witness, or that a parser refuses outright, is one
# line exit 10 wherever the registry sends it, and no request at all reaches the witness.

_WHY = {
    "backslash": "it holds a backslash",
    "backslash-path": "it holds a backslash",
    "bracket-ipv4": "its bracketed host is not an IPv6 address",
    "bracket-name": "its bracketed host is not an IPv6 address",
    "userinfo": "it holds user info (an '@' before the host)",
    "percent-host": "its host is percent-encoded",
    "space": "it holds whitespace, a control or a non-ASCII character",
    "control": "it holds whitespace, a control or a non-ASCII character",
}
assert set(_WHY) == set(AMBIGUOUS_URLS)


def _shown(url: str) -> str:
    return re.escape(repr("".join(c if c.isprintable() else "?" for c in url)))


def _nothing_reached_the_witness(reg: HostileRegistry, run: Run) -> None:
    assert reg.witness_seen == [], reg.witness_seen
    assert PASSWORD not in run.stderr and TOKEN not in run.stderr


@pytest.mark.parametrize("variant", sorted(AMBIGUOUS_URLS))
def test_an_ambiguous_blob_redirect_is_refused(variant: str, site: Site) -> None:
    with hostile_registry(f"redirect-{variant}", auth="basic") as reg:
        run = build(site, reg)
        url = reg.ambiguous_url(variant, "/blobs/")
    refused(
        run,
        site,
        rf"{_h(reg)}: fetch blob {HEX} of hostile/app: redirect: the URL "
        rf"{_shown(url)[:-1]}{HEX}' is refused: {re.escape(_WHY[variant])}",
    )
    _nothing_reached_the_witness(reg, run)


@pytest.mark.parametrize("variant", sorted(AMBIGUOUS_URLS))
def test_an_ambiguous_upload_location_is_refused(variant: str, bundle: Path, site: Site) -> None:
    with hostile_registry(f"location-{variant}", auth="basic") as reg:
        run = run_measured(
            site,
            "bundle", "push", "-q", str(bundle), "--registry", reg.host, "--insecure",
            "--username", USER, "--workers", "1",
            password=True,
        )  # fmt: skip
        url = reg.ambiguous_url(variant, "/upload/1")
    refused(
        run,
        site,
        rf"{_h(reg)}: push blob {HEX} to hostile/app: upload Location: the URL {_shown(url)} "
        rf"is refused: {re.escape(_WHY[variant])}",
    )
    _nothing_reached_the_witness(reg, run)
    assert not any("/manifests/" in s.path and s.method == "PUT" for s in reg.seen)


@pytest.mark.parametrize("variant", sorted(AMBIGUOUS_URLS))
def test_an_ambiguous_token_realm_is_refused(variant: str, site: Site) -> None:
    with hostile_registry(f"realm-{variant}", auth="bearer") as reg:
        run = build(site, reg)
        url = reg.ambiguous_url(variant, "/token")
    refused(
        run,
        site,
        rf"{_h(reg)}: the token realm \(to get manifest hostile/app:v1\): the URL {_shown(url)} "
        rf"is refused: {re.escape(_WHY[variant])}",
    )
    _nothing_reached_the_witness(reg, run)
    assert [s.authorization for s in reg.seen] == [None]  # only the first, anonymous request


# --------------------------------------------------------------------------- nested JSON


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        ("token-nested", "the token response is nested deeper than 64 levels"),
        ("token-nested-object", "the token response is nested deeper than 64 levels"),
        ("token-deep-valid", "the token response is nested deeper than 64 levels"),
    ],
)
def test_a_deeply_nested_token_response_is_one_line(mode: str, what: str, site: Site) -> None:
    with hostile_registry(mode, auth="bearer") as reg:
        run = build(site, reg)
    refused(
        run,
        site,
        rf"{_h(reg)}: token service http://{_h(reg)}/token \(to get manifest hostile/app:v1\): "
        + re.escape(what),
    )


def test_a_deeply_nested_error_body_is_one_line(site: Site) -> None:
    with hostile_registry("error-nested") as reg:
        run = build(site, reg)
    refused(
        run, site, f"{_h(reg)}: get manifest hostile/app:v1 failed: HTTP 500 Internal Server Error"
    )


# --------------------------------------------------------------------------- plain-http token


def test_an_https_registry_naming_a_plain_http_token_service_is_refused(
    site: Site, tmp_path: Path
) -> None:
    from tests.support.registry import make_pki

    pki = make_pki(tmp_path / "pki")
    with hostile_registry(
        "realm-plain-http", auth="bearer", tls=(pki.server_cert, pki.server_key)
    ) as reg:
        run = run_measured(
            site,
            "bundle", "build", "-q", "--from", f"registry://{reg.host}", "--ca", str(pki.ca_cert),
            "-m", str(site.manifest), "--installer", str(site.installer),
            "-o", str(site.root / "out.tar"), "--username", USER,
            password=True,
        )  # fmt: skip
    refused(
        run,
        site,
        rf"{_h(reg)}: the registry is served over https but names the plain-http token service "
        rf"'http://{re.escape(reg.witness_host)}/token' \(to get manifest hostile/app:v1\): "
        r"credentials would travel in clear; refused \(use --insecure only for a plain-http "
        r"registry\)",
    )
    assert reg.witness_seen == []
    assert [s.authorization for s in reg.seen] == [None]


# --------------------------------------------------------------------------- --project


@pytest.mark.parametrize(
    "project",
    [
        "advb/../x", "advb%2f..%2fx", "ADVB", "", "advb/x", "/advb", "advb/", "..", "-advb",
        "advb-", "a..b", "a___b", " advb", "advb\n", "advb\\x", "adv\u00e9", "a" * 256,
    ],
)  # fmt: skip
def test_a_project_that_is_not_one_path_component_is_refused(
    project: str, bundle: Path, site: Site
) -> None:
    with hostile_registry("ok", auth="basic") as reg:
        run = run_measured(
            site,
            "bundle", "push", "-q", str(bundle), "--registry", reg.host, "--insecure",
            "--username", USER, "--project", project,
            password=True,
        )  # fmt: skip
    assert run.rc == ExitCode.USAGE, run.stderr
    assert run.stderr == (
        f"harborkit: error: --project {project!r} is not a registry project name: one path "
        "component of lowercase letters and digits, separated by '.', '_', '__' or dashes\n"
    )
    assert reg.seen == [] and reg.witness_seen == []  # nothing was sent at all


@pytest.mark.parametrize("project", ["advb", "a.b", "a__b", "a--b", "a_b-c.d"])
def test_a_valid_project_replaces_the_namespace(project: str, bundle: Path, site: Site) -> None:
    with hostile_registry("ok", auth="basic") as reg:
        run = run_measured(
            site,
            "bundle", "push", "-q", str(bundle), "--registry", reg.host, "--insecure",
            "--username", USER, "--project", project,
            password=True,
        )  # fmt: skip
    # the hostile registry serves only hostile/app: another namespace is a 404, named
    assert run.rc == ExitCode.REGISTRY, run.stderr
    assert f"(does project {project!r} exist?)" in run.stderr
    paths = {s.path.split("?", 1)[0] for s in reg.seen}
    assert paths and all(p.startswith(f"/v2/{project}/app/") for p in paths if p != "/v2/"), paths


# --------------------------------------------------------------------------- layers


def test_a_gzip_bomb_layer_is_refused_as_it_inflates(site: Site) -> None:
    with hostile_registry("layer-bomb") as reg:
        layer = reg.image.layer_digests[0]
        size = len(reg.image.blobs[layer])
        run = build(site, reg)
    limit = size * 100 + (64 << 20)
    refused(
        run,
        site,
        rf"{_h(reg)}: hostile/app: layer {layer.split(':')[1]}: the layer expands past {limit} "
        rf"bytes from {size} \(more than 100 times its size: a gzip bomb\?\); refused",
    )


def test_the_uncompressed_size_counts_every_gzip_member(site: Site) -> None:
    import json
    import tarfile

    with hostile_registry("layer-multi-member") as reg:
        run = build(site, reg)
        gz = reg.image.blobs[reg.image.layer_digests[0]]
    assert (run.rc, run.stderr) == (ExitCode.OK, "")
    with tarfile.open(site.root / "out.tar") as tf:
        member = tf.extractfile("harbor-bundle.json")
        assert member is not None
        meta = json.loads(member.read())
    import gzip

    whole = len(gzip.decompress(gz))
    last_trailer = int.from_bytes(gz[-4:], "little")
    assert last_trailer != whole  # the trailer alone would lie
    assert [x["uncompressed_size"] for x in meta["layers"]] == [whole]
    assert meta["images"][0]["size"] == whole


def test_a_manifest_with_too_many_layers_is_refused(site: Site) -> None:
    with hostile_registry("too-many-layers") as reg:
        run = build(site, reg)
    refused(
        run,
        site,
        rf"{_h(reg)}: hostile/app:v1: manifest {HEX}: 1001 layers, more than the 1000 "
        "harborkit accepts",
    )


# --------------------------------------------------------------------------- deadlines


def _timed_build(site: Site, reg: HostileRegistry, env: dict[str, str]) -> tuple[Run, float]:
    import time

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        started = time.monotonic()
        run = build(site, reg)
        return run, time.monotonic() - started
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.parametrize("mode", ["trickle-headers", "trickle-manifest"])
def test_a_trickled_answer_does_not_beat_the_request_deadline(mode: str, site: Site) -> None:
    with hostile_registry(mode) as reg:
        run, took = _timed_build(site, reg, {"HARBORKIT_REGISTRY_DEADLINE": "2"})
    refused(
        run,
        site,
        rf"{_h(reg)}: get manifest hostile/app:v1: no complete answer within 2 s "
        r"\(HARBORKIT_REGISTRY_DEADLINE\)",
    )
    assert took < 25, took  # a byte every 0.2 s: the whole answer would take minutes


def test_a_trickled_blob_does_not_beat_the_blob_deadline(site: Site) -> None:
    with hostile_registry("trickle-blob") as reg:
        run, took = _timed_build(
            site,
            reg,
            {"HARBORKIT_REGISTRY_BLOB_DEADLINE": "2", "HARBORKIT_REGISTRY_STALL": "60"},
        )
    refused(
        run,
        site,
        rf"{_h(reg)}: fetch blob {HEX} of hostile/app: no complete answer within 2 s "
        r"\(HARBORKIT_REGISTRY_BLOB_DEADLINE\)",
    )
    assert took < 25, took  # a whole run with room for a loaded CI; not the stall or trickle


def test_a_trickled_blob_fails_the_speed_floor(site: Site) -> None:
    with hostile_registry("trickle-blob") as reg:
        run, took = _timed_build(site, reg, {"HARBORKIT_REGISTRY_STALL": "1"})
    refused(
        run,
        site,
        rf"{_h(reg)}: blob {HEX} \(hostile/app\) stalled: less than 64 KiB in 1 s after \d+ "
        r"bytes \(HARBORKIT_REGISTRY_STALL\); rerun to resume",
    )
    assert took < 25, took  # a whole run with room for a loaded CI; not the stall or trickle


def test_a_blob_that_goes_silent_fails_at_the_stall_window(site: Site) -> None:
    with hostile_registry("stall-blob") as reg:
        run, took = _timed_build(site, reg, {"HARBORKIT_REGISTRY_STALL": "1"})
    refused(
        run,
        site,
        rf"{_h(reg)}: connection lost after \d+ of \d+ bytes of blob {HEX} \(hostile/app\): "
        r".*timed out.*; rerun to resume",
    )
    assert took < 25, took  # a whole run with room for a loaded CI; not the stall or trickle


# --------------------------------------------------------------------------- push


def _push(site: Site, bundle: Path, reg: HostileRegistry, *extra: str) -> Run:
    return run_measured(
        site,
        "bundle", "push", "-q", str(bundle), "--registry", reg.host, "--insecure",
        "--username", USER, *extra,
        password=True,
    )  # fmt: skip


def test_a_push_reads_every_manifest_back(bundle: Path, site: Site) -> None:
    with hostile_registry("ok", auth="basic") as reg:
        run = _push(site, bundle, reg)
    assert (run.rc, run.stderr) == (ExitCode.OK, "")
    gets = [s.path for s in reg.seen if s.method == "GET" and "/manifests/sha256:" in s.path]
    assert len(gets) == 1  # after the PUT
    puts = [i for i, s in enumerate(reg.seen) if s.method == "PUT" and "/manifests/" in s.path]
    assert puts and puts[-1] < max(i for i, s in enumerate(reg.seen) if s.path in gets)


def test_a_manifest_the_registry_forgets_is_named(bundle: Path, site: Site) -> None:
    with hostile_registry("push-forgets", auth="basic") as reg:
        run = _push(site, bundle, reg)
    refused(
        run,
        site,
        rf"{_h(reg)}: hostile/app:v1: the registry accepted manifest {HEX} but does not serve "
        "it when read back; the push is not complete",
    )


def test_a_parallel_failure_names_the_first_failure_not_an_aborted_sibling(
    bundle: Path, site: Site
) -> None:
    import time

    with hostile_registry("push-one-fails", auth="basic") as reg:
        started = time.monotonic()
        run = _push(site, bundle, reg, "--workers", "2")
        took = time.monotonic() - started
        layer = reg.image.layer_digests[0]
    refused(
        run,
        site,
        rf"{_h(reg)}: push blob {re.escape(layer)} to hostile/app failed: HTTP 500 "
        "BLOB_UPLOAD_INVALID: disk on fire",
    )
    assert took < 30, took  # the hanging sibling was broken off, not waited for


@pytest.mark.parametrize(
    "command",
    [
        ["bundle", "push", "x.tar", "--registry", "[127.0.0.2]:5000"],
        ["bundle", "build", "--from", "registry://[127.0.0.2]:5000", "-o", "x"],
    ],
    ids=["push", "build"],
)
def test_a_bracketed_ipv4_registry_address_is_a_usage_error(command: list[str], site: Site) -> None:
    run = run_measured(site, *command)
    assert run.rc == ExitCode.USAGE, run.stderr
    assert run.stderr == (
        "harborkit: error: registry address '[127.0.0.2]:5000' is not HOST[:PORT] "
        "(brackets hold an IPv6 address)\n"
    )


def test_a_trickled_upload_answer_does_not_beat_the_blob_deadline(bundle: Path, site: Site) -> None:
    import time

    os.environ["HARBORKIT_REGISTRY_BLOB_DEADLINE"] = "2"
    try:
        with hostile_registry("trickle-upload-answer", auth="basic") as reg:
            started = time.monotonic()
            run = _push(site, bundle, reg, "--workers", "1")
            took = time.monotonic() - started
    finally:
        del os.environ["HARBORKIT_REGISTRY_BLOB_DEADLINE"]
    refused(
        run,
        site,
        rf"{_h(reg)}: push blob {HEX} to hostile/app: no complete answer within 2 s "
        r"\(HARBORKIT_REGISTRY_BLOB_DEADLINE\)",
    )
    assert took < 25, took  # a whole run with room for a loaded CI; not the stall or trickle


# --------------------------------------------------------------------------- adversarial pass


def _tls_run(site: Site, ca: Path, *args: str, password: bool = True) -> Run:
    return run_measured(site, *args, "--ca", str(ca), "--username", USER, password=password)


@pytest.mark.parametrize("command", ["build", "push"])
def test_an_https_registry_sending_us_to_plain_http_is_refused(
    command: str, bundle: Path, site: Site, tmp_path: Path
) -> None:
    """A blob redirect (build) or an upload Location (push) from https to plain http."""
    from tests.support.registry import make_pki

    pki = make_pki(tmp_path / "pki")
    mode = "redirect-elsewhere" if command == "build" else "location-elsewhere"
    with hostile_registry(mode, auth="basic", tls=(pki.server_cert, pki.server_key)) as reg:
        if command == "build":
            run = _tls_run(
                site, pki.ca_cert,
                "bundle", "build", "-q", "--from", f"registry://{reg.host}",
                "-m", str(site.manifest), "--installer", str(site.installer),
                "-o", str(site.root / "out.tar"),
            )  # fmt: skip
            url, what = rf"http://{re.escape(reg.witness_host)}/blobs/{HEX}", rf"fetch blob {HEX}"
            where = f"{what} of hostile/app: redirect"
        else:
            run = _tls_run(
                site, pki.ca_cert,
                "bundle", "push", "-q", str(bundle), "--registry", reg.host, "--workers", "1",
            )  # fmt: skip
            url = rf"http://{re.escape(reg.witness_host)}/upload/1"
            where = rf"push blob {HEX} to hostile/app"
    refused(
        run,
        site,
        rf"{_h(reg)}: {where}: the URL '{url}' is refused: it is plain http while the "
        "registry is served over https",
    )
    assert reg.witness_seen == []  # nothing went in clear, credentials or data


def test_no_cookie_goes_back_to_the_registry_or_to_another_port(site: Site) -> None:
    """Cookies ignore ports: a cookie jar would hand the registry's cookie to any service on
    its address (here the witness a blob redirect points at). Docker and skopeo keep none."""
    with hostile_registry("cookie-jar", auth="basic") as reg:
        run = build(site, reg)
    assert (run.rc, run.stderr) == (ExitCode.OK, "")
    assert reg.witness_host.rsplit(":", 1)[0] == reg.host.rsplit(":", 1)[0]
    assert reg.witness_seen, "the redirect was not followed"
    assert len(reg.seen) > 3
    assert [s.cookie for s in reg.seen + reg.witness_seen] == [None] * len(
        reg.seen + reg.witness_seen
    )
    assert [s.authorization for s in reg.witness_seen] == [None] * len(reg.witness_seen)


@pytest.mark.parametrize(
    ("mode", "line"),
    [
        (
            "head-no-length",
            r"{h}: check blob {hex} in hostile/app: the registry answered 200 without a valid "
            r"Content-Length \(''\)",
        ),
        (
            "head-wrong-length",
            r"{h}: push blob {hex} to hostile/app: the registry says it holds this blob with 5 "
            r"bytes, but it has \d+",
        ),
    ],
)
def test_a_blob_head_without_its_true_size_is_not_taken_as_there(
    mode: str, line: str, bundle: Path, site: Site
) -> None:
    """A HEAD 200 without a Content-Length or with a size that is not the blob's (skopeo 1.x
    takes both as "there") is a registry that lies or a broken store: nothing is tagged on
    its word."""
    with hostile_registry(mode, auth="basic") as reg:
        run = _push(site, bundle, reg, "--workers", "1")
    refused(run, site, line.format(h=_h(reg), hex=HEX))
    assert [s for s in reg.seen if "/manifests/" in s.path] == []


def test_a_trickled_tls_handshake_does_not_beat_the_request_deadline(
    site: Site, tmp_path: Path
) -> None:
    """The handshake is the one moment the deadline cannot shut the connection down (the
    socket is being wrapped): the connect timeout is cut to the time left."""
    import time

    from tests.support.hostile_registry import trickle_proxy
    from tests.support.registry import make_pki

    pki = make_pki(tmp_path / "pki")
    os.environ["HARBORKIT_REGISTRY_DEADLINE"] = "2"
    try:
        with (
            hostile_registry("ok", tls=(pki.server_cert, pki.server_key)) as reg,
            trickle_proxy(reg.host) as host,
        ):
            started = time.monotonic()
            run = _tls_run(
                site, pki.ca_cert,
                "bundle", "build", "-q", "--from", f"registry://{host}",
                "-m", str(site.manifest), "--installer", str(site.installer),
                "-o", str(site.root / "out.tar"),
            )  # fmt: skip
            took = time.monotonic() - started
    finally:
        del os.environ["HARBORKIT_REGISTRY_DEADLINE"]
    refused(
        run,
        site,
        rf"{re.escape(host)}: get manifest hostile/app:v1: no complete answer within 2 s "
        r"\(HARBORKIT_REGISTRY_DEADLINE\)",
    )
    assert took < 25, took  # was 60 s: the connect timeout bounded the handshake as a whole


@pytest.mark.parametrize(
    ("mode", "auth", "line"),
    [
        (
            "token-quadratic",
            "bearer",
            r"{h}: token service http://{h}/token \(to get manifest hostile/app:v1\): the token "
            "response is not JSON",
        ),
        ("manifest-quadratic", "none", "{h}: manifest hostile/app:v1 is not JSON"),
        (
            "error-quadratic",
            "none",
            "{h}: get manifest hostile/app:v1 failed: HTTP 500 Internal Server Error",
        ),
    ],
)
def test_json_that_is_slow_to_skip_is_parsed_in_linear_time(
    mode: str, auth: str, line: str, site: Site
) -> None:
    """64 KiB of escaped quotes took a string-skipping regex ~40 s (quadratic: a 4 MiB
    manifest would take days, and no deadline covers parsing)."""
    import time

    with hostile_registry(mode, auth=auth) as reg:
        started = time.monotonic()
        run = build(site, reg)
        took = time.monotonic() - started
    refused(run, site, line.format(h=_h(reg)))
    assert took < 25, took  # a whole run with room for a loaded CI; not the stall or trickle


def _crafted_push(site: Site, source: bytes, *, big_layer: bool = False) -> tuple[Run, list[str]]:
    """``bundle push`` of a crafted (unsigned, checksums right) bundle whose
    ``images/source-manifests.json`` is ``source`` (``{layer}``: a layer's digest, its
    member over 4 MiB with ``big_layer``); what the registry saw."""
    import random

    from tests.support.bundles import craft_bundle, crafted_images
    from tests.support.images import make_image, make_layer

    images = crafted_images()
    if big_layer:
        data = random.Random(5).randbytes(5 << 20)  # gzip keeps random bytes at their size
        images = [make_image(images[0].tags, [make_layer([("big.bin", data, 0o644)])])]
    path = site.root / "crafted.tar"
    crafted = craft_bundle(path, images=images)
    layer = crafted.metadata["layers"][0]["digest"]
    ref = crafted.metadata["images"][0]["reference"]
    source = source.replace(b"{layer}", layer.encode()).replace(b"{ref}", ref.encode())
    extra = [("images/source-manifests.json", source)]
    if b"{manifest}" in source:  # a true manifest of the first image, stored as a blob
        img = crafted.metadata["images"][0]
        sizes = {x["digest"]: x["size"] for x in crafted.metadata["layers"]}
        doc = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(crafted.member(f"images/blobs/sha256/{img['image_id'][7:]}")),
                "digest": img["image_id"],
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": sizes[d],
                    "digest": d,
                }
                for d in img["layers"]
            ],
        }
        raw = json.dumps(doc).encode()
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        extra.append((f"images/blobs/sha256/{digest[7:]}", raw))
        extra[0] = (extra[0][0], source.replace(b"{manifest}", digest.encode()))
    craft_bundle(path, images=images, extra=extra)
    with hostile_registry("ok") as reg:
        run = run_measured(
            site, "bundle", "push", "-q", str(path), "--registry", reg.host, "--insecure"
        )
    return run, [s.path for s in reg.seen]


_SOURCE_AS_LAYER = b"""{"version": 1, "registry": "127.0.0.1:5000", "images": [
 {"reference": "{ref}", "repository": "x/y",
  "manifest": {"digest": "{layer}",
               "media_type": "application/vnd.docker.distribution.manifest.v2+json"},
  "index": null}]}"""


def _source_typed(media_type: str) -> bytes:
    """source-manifests.json naming a true manifest of the first image as ``media_type``."""
    return json.dumps(
        {
            "version": 1,
            "registry": "127.0.0.1:5000",
            "images": [
                {
                    "reference": "{ref}",
                    "repository": "x/y",
                    "manifest": {"digest": "{manifest}", "media_type": media_type},
                    "index": None,
                }
            ],
        }
    ).encode()


@pytest.mark.parametrize(
    ("source", "big_layer", "why"),
    [
        # verify reads the member first, as strictly as every bundle document
        (b"[" * 200_000, False, "images/source-manifests.json nests deeper than 64 levels"),
        (b"[" * 100_000 + b"]" * 100_000, False, "images/source-manifests.json nests "
         "deeper than 64 levels"),
        (b'{"version": 1, "version": 1}', False, "images/source-manifests.json repeats key "
         "'version' in one object"),
        (b" " * (5 << 20) + b"{}", False, r"images/source-manifests.json fails its schema at "
         r"\(top\): 'version' is a required property"),
        (_SOURCE_AS_LAYER, True, r"manifest {hex} of \S+ is larger than 4 MiB"),
        # the media type it is pushed as (its Content-Type): an image manifest's, its own
        (_source_typed("\u4e2d\u6587"), False, r"manifest {hex} of \S+: '\u4e2d\u6587' is "
         "not an image manifest type"),
        (_source_typed("x\r\nX-Evil: 1"), False, r"manifest {hex} of \S+: 'x\\r\\nX-Evil: 1' "
         "is not an image manifest type"),
        (_source_typed("application/vnd.oci.image.index.v1+json"), False, r"manifest {hex} of "
         r"\S+: 'application/vnd\.oci\.image\.index\.v1\+json' is not an image manifest type"),
        (_source_typed("application/vnd.oci.image.manifest.v1+json"), False, r"manifest {hex} "
         r"of \S+ is 'application/vnd\.docker\.distribution\.manifest\.v2\+json', the "
         r"bundle says 'application/vnd\.oci\.image\.manifest\.v1\+json'"),
    ],
    ids=[
        "nested", "deep-valid", "duplicate-key", "large", "a-layer-as-manifest",
        "type-not-latin1", "type-crlf", "type-index", "type-other",
    ],
)  # fmt: skip
def test_a_crafted_source_manifests_member_is_one_line_exit_4_before_any_request(
    source: bytes, big_layer: bool, why: str, site: Site
) -> None:
    """push reads images/source-manifests.json and the manifests it names from the bundle:
    a deep one was a RecursionError traceback, and both were read whole, whatever size."""
    run, seen = _crafted_push(site, source, big_layer=big_layer)
    assert run.stderr.count("\n") == 1, run.stderr
    line = rf"harborkit: error: bundle \S+crafted\.tar: {why.format(hex=HEX)}\n"
    assert re.fullmatch(line, run.stderr), run.stderr
    assert run.rc == ExitCode.BUNDLE_CORRUPT, run.stderr
    assert run.peak_rss_mb < MAX_RSS_MB, run.peak_rss_mb
    assert seen == []  # refused before anything was sent


def test_an_upload_answered_as_mounted_when_no_mount_was_asked_is_refused(
    bundle: Path, site: Site
) -> None:
    """201 to an upload's POST means "mounted from another repository": without a mount
    asked for, nothing would be uploaded on the registry's word (skopeo wants 202)."""
    with hostile_registry("post-created", auth="basic") as reg:
        run = _push(site, bundle, reg, "--workers", "1")
    refused(run, site, rf"{_h(reg)}: push blob {HEX} to hostile/app failed: HTTP 201 Created")
    assert [s for s in reg.seen if s.method in ("PUT", "PATCH")] == []


def test_a_crafted_source_manifest_of_the_right_type_is_sent(site: Site) -> None:
    """The control of the test above: the same crafted bundle with the manifest's own type
    gets past every check of the bundle and is sent (this registry has no such repository)."""
    run, seen = _crafted_push(
        site, _source_typed("application/vnd.docker.distribution.manifest.v2+json")
    )
    assert run.rc == ExitCode.REGISTRY, run.stderr
    assert "NAME_UNKNOWN" in run.stderr and "bundle" not in run.stderr, run.stderr
    assert seen


@pytest.mark.parametrize("plant", ["fifo", "link"])
def test_a_planted_diffid_in_the_cache_neither_hangs_nor_is_followed(
    plant: str, site: Site
) -> None:
    """The cache keeps a layer's diff id beside it (``<hex>.diffid``): a FIFO there hung the
    next build's read, and a link there was read through (and the temporary file written
    before the rename could be a link too)."""
    with hostile_registry("ok") as reg:
        assert build(site, reg).rc == ExitCode.OK
        (site.root / "out.tar").unlink()
        diffids = list(site.cache.rglob("*.diffid"))
        assert diffids
        outside = site.root / "outside"
        outside.write_text("sha256:" + "0" * 64 + " 1")
        for d in diffids:
            d.unlink()
            if plant == "fifo":
                os.mkfifo(d)
            else:
                d.symlink_to(outside)
        env = dict(os.environ, HOME=str(site.home))
        proc = subprocess.run(
            [
                sys.executable, "-m", "harborkit", "bundle", "build", "-q",
                "--from", f"registry://{reg.host}", "--insecure", "-m", str(site.manifest),
                "--installer", str(site.installer), "-o", str(site.root / "out.tar"),
            ],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
        )  # fmt: skip
    assert (proc.returncode, proc.stderr) == (ExitCode.OK, "")
    assert outside.read_text() == "sha256:" + "0" * 64 + " 1"
    assert all(d.is_file() and not d.is_symlink() for d in diffids)  # worked out again


def test_a_realm_with_a_query_and_a_fragment_gets_the_scope_in_its_query(site: Site) -> None:
    """The service and scope were appended after the realm's #fragment: never sent."""
    with hostile_registry("realm-fragment", auth="bearer") as reg:
        run = build(site, reg)
    assert (run.rc, run.stderr) == (ExitCode.OK, "")
    tokens = [s.path for s in reg.seen if s.path.startswith("/token")]
    assert tokens and all("#" not in p and "tenant=1&service=hostile&scope=" in p for p in tokens)


def test_a_challenge_harborkit_does_not_speak_is_named(site: Site) -> None:
    """A 401 asking for Negotiate/NTLM said the credentials were rejected: none were sent."""
    with hostile_registry("challenge-negotiate", auth="basic") as reg:
        run = build(site, reg)
    refused(
        run,
        site,
        rf"{_h(reg)}: get manifest hostile/app:v1: the registry asks for negotiate, ntlm "
        r"authentication; harborkit speaks Basic and Bearer only \(401\)",
    )
    assert [s.authorization for s in reg.seen] == [None]
