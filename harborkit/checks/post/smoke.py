"""post.smoke: push a tiny image through Harbor's registry API, pull it back, delete it."""

from __future__ import annotations

import io
import json
import os
from urllib.parse import urljoin, urlsplit

from harborkit.checks.post import api_checks
from harborkit.checks.post._http import Answer, HttpError
from harborkit.model.check import Check, CheckContext, Outcome, Severity, SkipCheck, Status

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
REPOSITORY = "harborkit-smoke"


class SmokeFailed(Exception):
    """A step of the round trip went wrong; the message says which."""


def _sha(data: bytes) -> str:
    import hashlib  # here (and gzip, tarfile, secrets): only --smoke uses them

    return "sha256:" + hashlib.sha256(data).hexdigest()


def tiny_image(tag: str) -> tuple[bytes, bytes, bytes]:
    """(layer, config, manifest) of a one-layer image made in memory."""
    import gzip
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        data = f"harborkit smoke test {tag}\n".encode()
        info = tarfile.TarInfo("harborkit-smoke.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    diff_id = _sha(raw.getvalue())
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": _sha(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": _sha(layer),
                }
            ],
        },
        sort_keys=True,
    ).encode()
    return layer, config, manifest


class PostSmoke(Check):
    """Opt-in (``--smoke PROJECT``, with ``--harbor-user`` and
    ``HARBORKIT_HARBOR_PASSWORD``): push a tiny image made in memory (one
    layer, a unique tag) to ``PROJECT/harborkit-smoke`` through the registry
    API, pull it back by digest, compare the bytes, and delete it again. No
    Docker daemon is needed."""

    id = "post.smoke"
    title = "Push/pull round trip"
    group = "post"
    severity = Severity.HIGH
    remediation = (
        "docker-compose logs registry core proxy; check the project exists and the user's role"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        opts = api_checks.options(ctx)
        project = opts.get("smoke")
        if not project:
            raise SkipCheck("opt-in: --smoke PROJECT")
        user = opts.get("user")
        password = os.environ.get(api_checks.PASSWORD_ENV)
        if not user or not password:
            raise SkipCheck(f"--smoke needs --harbor-user and {api_checks.PASSWORD_ENV}")
        repo = f"{project}/{REPOSITORY}"
        import secrets

        tag = f"hk-{secrets.token_hex(6)}"
        try:
            answer, _claims = api_checks.token(
                ctx, user, password, f"repository:{repo}:pull,push,delete"
            )
            if answer.status != 200:
                return Outcome(Status.FAIL, f"{user}: no token for {repo} (HTTP {answer.status})")
            bearer = json.loads(answer.body).get("token") or ""
            return _round_trip(ctx, api_checks.harbor_url(ctx), repo, tag, str(bearer))
        except HttpError as e:
            return Outcome(Status.FAIL, e.message)
        except SmokeFailed as e:
            return Outcome(Status.FAIL, f"{repo}:{tag}: {e}")
        except (ValueError, AttributeError):
            return Outcome(Status.FAIL, "the token service answered something that is not a token")


def _round_trip(ctx: CheckContext, base: str, repo: str, tag: str, bearer: str) -> Outcome:
    auth = {"Authorization": f"Bearer {bearer}"}
    layer, config, manifest = tiny_image(tag)

    def call(method: str, url: str, want: tuple[int, ...], **kw: object) -> Answer:
        if urlsplit(url)[:2] != urlsplit(base)[:2]:
            raise SmokeFailed(f"{method} redirected off Harbor's origin to {url[:80]!r}")
        headers = {**auth, **dict(kw.pop("headers", {}) or {})}  # type: ignore[call-overload]
        answer = api_checks.call(ctx, url, method=method, headers=headers, **kw)  # type: ignore[arg-type]
        if answer.status not in want:
            raise SmokeFailed(f"{method} {urlsplit(url).path} answered HTTP {answer.status}")
        return answer

    for blob in (layer, config):
        start = call("POST", f"{base}/v2/{repo}/blobs/uploads/", (202,))
        location = urljoin(base + "/", start.header("location"))
        sep = "&" if "?" in location else "?"
        call(
            "PUT",
            f"{location}{sep}digest={_sha(blob)}",
            (201,),
            body=blob,
            headers={"Content-Type": "application/octet-stream"},
        )
    pushed = call(
        "PUT",
        f"{base}/v2/{repo}/manifests/{tag}",
        (201,),
        body=manifest,
        headers={"Content-Type": MANIFEST_V2},
    )
    digest = pushed.header("docker-content-digest") or _sha(manifest)
    if digest != _sha(manifest):
        raise SmokeFailed(
            f"Harbor names the manifest {digest[:80]!r}, its bytes are {_sha(manifest)}"
        )
    try:
        got = call(
            "GET", f"{base}/v2/{repo}/manifests/{digest}", (200,), headers={"Accept": MANIFEST_V2}
        )
        if got.body != manifest:
            raise SmokeFailed("the manifest pulled back by digest differs from the one pushed")
        pulled = call("GET", f"{base}/v2/{repo}/blobs/{_sha(layer)}", (200,))
        if pulled.body != layer:
            raise SmokeFailed("the layer pulled back differs from the one pushed")
    finally:
        call("DELETE", f"{base}/v2/{repo}/manifests/{digest}", (202,))
    return Outcome(
        Status.PASS, f"pushed, pulled back byte-exact and deleted {repo}:{tag} ({digest[:19]})"
    )
