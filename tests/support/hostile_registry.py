"""A registry that lies, for tests: a small threaded HTTP server on loopback, one mode per lie.

It serves one image (``hostile/app:v1``, made in Python) through the registry
API v2, with optional Basic or bearer auth, and a *witness* server on another
loopback address and port that records every request it gets (the place a
Location header or a redirect points at: no credentials may reach it). Both
bind ``127.0.0.x`` with a random ``x`` and a port the kernel picks, and stop by
themselves after ``lifetime`` seconds if a test forgets to.

Modes (``MODES``) each change one answer; ``ok`` changes none.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import random
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.registry import make_image, make_layer

USER = "hkuser"
PASSWORD = "hk-hostile-pw"
TOKEN = "hk-secret-token-0123456789"
REPOSITORY = "hostile/app"
TAG = "v1"
#: 64 characters after ``sha256:`` that climb from ``<cache>/sha256/`` to ``$HOME/.bashrc``
TRAVERSAL = "sha256:" + "../../../../" + "/" * 45 + ".bashrc"
ENDLESS_CAP = 768 << 20  # an endless body stops here (enough to prove it was not read whole)

MODES: tuple[str, ...] = (
    "ok",
    "traversal-layer",
    "traversal-config",
    "traversal-index",
    "traversal-header",
    "manifest-list",
    "index-no-digest",
    "index-child-mismatch",
    "config-not-json",
    "config-not-object",
    "rootfs-not-object",
    "diff-id-not-digest",
    "diff-id-wrong",
    "diff-id-count",
    "bad-size",
    "config-too-big",
    "token-expires-nan",
    "token-endless",
    "error-endless",
    "blob-overflow",
    "redirect-elsewhere",
    "location-elsewhere",
)
#: URLs that one parser reads as the registry and another as the witness, or that a parser
#: refuses (issue 19, classes 13 and 14); each is sent as a blob redirect, an upload Location
#: and a bearer realm. ``{w}`` is the witness's ``addr:port``, ``{wa}``/``{wp}`` its address and
#: port, ``{r}`` the registry's ``addr:port``, ``{p}`` the path.
AMBIGUOUS_URLS = {
    "backslash": "http://{w}\\@{r}{p}",
    "backslash-path": "http://{w}\\{p}",
    "bracket-ipv4": "http://[{wa}]:{wp}{p}",
    "bracket-name": "http://[localhost]:{wp}{p}",
    "userinfo": "http://{r}@{w}{p}",
    "percent-host": "http://%31{wa_tail}:{wp}{p}",
    "space": "http://{w} @{r}{p}",
    "control": "http://{w}\x01@{r}{p}",
}
#: where an ambiguous URL is sent
URL_PLACES = ("redirect", "location", "realm")
MODES = (
    *MODES,
    *(f"{place}-{v}" for place in URL_PLACES for v in AMBIGUOUS_URLS),
    "token-nested",  # a token response of 200,000 nested '['
    "token-nested-object",  # and of nested objects
    "token-deep-valid",  # valid JSON, 100,000 deep
    "error-nested",  # an error body of 200,000 nested '['
    "realm-plain-http",  # an https registry naming a plain-http token service
    "layer-bomb",  # a gzip layer of 200 members of 1 MiB of zeros each (~0.2 MiB -> 200 MiB)
    "layer-multi-member",  # a valid layer in three gzip members (the last trailer lies)
    "too-many-layers",  # a manifest naming 1,001 layers
    "trickle-headers",  # every answer's status line and headers at a byte per 0.2 s
    "trickle-manifest",  # the manifest body at a byte per 0.2 s
    "trickle-blob",  # the layer at a byte per 0.2 s
    "stall-blob",  # the layer's first bytes, then silence
    "push-forgets",  # a pushed manifest is answered 201, but is not there when read back
    "push-one-fails",  # the layer's upload fails at once, the config's hangs
    "trickle-upload-answer",  # the answer to an upload's PUT at a byte per 0.2 s
    # JSON that two readers could read two ways, or that Go's decoders refuse
    "token-expires-huge",  # expires_in of 401 digits (float() overflows)
    "token-conflict",  # a token and another access_token
    "token-duplicate",  # "token" twice
    "token-nan",  # expires_in: NaN
    "token-not-latin1",  # a token with CJK characters
    "token-space",  # a token with a space
    "token-newline",  # a token with CR LF and a header after it
    "manifest-duplicate-key",  # "layers" twice (the first empty)
    "manifest-nan",  # a NaN in the manifest
    "layer-size-huge",  # a layer size of 401 digits
    "layer-size-int64",  # a layer size of 2**63
    "manifest-ambiguous",  # an image manifest that also lists "manifests"
    "index-ambiguous",  # an index that also has "layers"
    "manifest-served-as-oci",  # a Docker manifest served as an OCI manifest
    "manifest-schema-version",  # a schema 2 manifest whose schemaVersion is 1
    "config-duplicate-key",  # the config with "rootfs" twice (the first empty)
    "cookie-jar",  # every answer sets a cookie; blobs redirect to a witness on the same address
    "head-no-length",  # a blob HEAD answers 200 without Content-Length
    "head-wrong-length",  # a blob HEAD answers 200 with a size that is not the blob's
    "layer-sha512",  # a layer named by a sha512 digest (harborkit verifies sha256 only)
    "layer-uppercase",  # a layer digest in upper-case hex
    "header-digest-lie",  # a well-formed Docker-Content-Digest that is not the manifest's
    "blob-mismatch",  # the layer served with one byte changed (same size)
    "blob-gzip-if-asked",  # blobs gzipped (Content-Encoding) for a client that accepts gzip
    "size-conflict",  # the layer named twice, the second time with one byte more
    # '"' and 32,768 escaped quotes: a string-skipping regex took quadratic time on it
    "token-quadratic",
    "manifest-quadratic",
    "error-quadratic",
    "post-created",  # an upload's POST (no mount asked for) answered 201 "mounted"
    "realm-fragment",  # a realm with a #fragment; the token service wants the scope
    "challenge-negotiate",  # a 401 asking for Negotiate/NTLM only
)
QUADRATIC = b'"' + b'\\"' * 32768
TRICKLE_DELAY = 0.2
BOMB_MEMBERS = 200
TOKEN_BODIES = {
    "token-expires-huge": b'{"token": "%s", "expires_in": 1%s}' % (TOKEN.encode(), b"0" * 400),
    "token-conflict": json.dumps({"token": TOKEN, "access_token": TOKEN + "-other"}).encode(),
    "token-duplicate": b'{"token": "decoy", "token": "%s"}' % TOKEN.encode(),
    "token-nan": b'{"token": "%s", "expires_in": NaN}' % TOKEN.encode(),
    # not token68: sent as a header, a non-Latin-1 one was a UnicodeEncodeError traceback
    "token-not-latin1": json.dumps({"token": TOKEN + "\u4e2d\u6587"}).encode(),
    "token-space": json.dumps({"token": TOKEN + " x"}).encode(),
    "token-newline": json.dumps({"token": TOKEN + "\r\nX-Evil: 1"}).encode(),
}
NESTED_BODIES = {
    "token-nested": b"[" * 200_000,
    "token-nested-object": b'{"a":' * 50_000,
    "token-deep-valid": b"[" * 100_000 + b"]" * 100_000,
    "error-nested": b"[" * 200_000,
}


@dataclass(frozen=True)
class Seen:
    """One request a server received."""

    method: str
    path: str
    authorization: str | None
    cookie: str | None = None


@dataclass
class _Image:
    manifest: bytes
    config_digest: str
    layer_digests: tuple[str, ...]
    blobs: dict[str, bytes]
    index: bytes | None = None
    by_digest: dict[str, bytes] = field(default_factory=dict)  # manifests served by digest


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _image(mode: str) -> _Image:
    """The image as ``mode`` serves it."""
    if mode == "layer-bomb":
        member = gzip.compress(b"\0" * (1 << 20), compresslevel=9, mtime=0)
        base = make_image(
            REPOSITORY, TAG, seed=7, layer_sizes=(), base=((b"", member * BOMB_MEMBERS),)
        )
    elif mode == "layer-multi-member":
        raw, _ = make_layer({"data/multi.bin": random.Random(3).randbytes(300_000)})
        cuts = (0, 100_000, 250_000, len(raw))
        gz = b"".join(
            gzip.compress(raw[a:b], compresslevel=1, mtime=0) for a, b in zip(cuts, cuts[1:])
        )
        base = make_image(REPOSITORY, TAG, seed=7, layer_sizes=(), base=((raw, gz),))
    else:
        base = make_image(REPOSITORY, TAG, seed=7, layer_sizes=(60_000,))
    blobs = dict(base.blobs)
    manifest = json.loads(base.manifest)
    config = json.loads(blobs[base.config_digest])
    lies_in_config = {
        "config-not-json": b"{not json",
        "config-not-object": b"[1, 2, 3]",
        "rootfs-not-object": json.dumps({**config, "rootfs": "layers"}).encode(),
        "diff-id-not-digest": json.dumps(
            {**config, "rootfs": {"type": "layers", "diff_ids": [TRAVERSAL]}}
        ).encode(),
        "diff-id-wrong": json.dumps(
            {**config, "rootfs": {"type": "layers", "diff_ids": [_digest(b"other")]}}
        ).encode(),
        "diff-id-count": json.dumps(
            {**config, "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode(),
        "config-duplicate-key": b'{"rootfs": {}, ' + json.dumps(config).encode()[1:],
        "size-conflict": json.dumps(  # the layer twice, as the manifest names it twice
            {**config, "rootfs": {**config["rootfs"], "diff_ids": config["rootfs"]["diff_ids"] * 2}}
        ).encode(),
    }
    if mode in lies_in_config:
        raw = lies_in_config[mode]
        del blobs[base.config_digest]
        blobs[_digest(raw)] = raw
        manifest["config"].update(digest=_digest(raw), size=len(raw))
    if mode == "traversal-layer":
        manifest["layers"][0]["digest"] = TRAVERSAL
    if mode == "traversal-config":
        manifest["config"]["digest"] = TRAVERSAL
    if mode == "bad-size":
        manifest["layers"][0]["size"] = "60000"
    if mode == "config-too-big":
        manifest["config"]["size"] = 1 << 40
    if mode == "too-many-layers":
        manifest["layers"] = manifest["layers"] * 1001
    if mode in ("layer-size-huge", "layer-size-int64"):
        manifest["layers"][0]["size"] = 10**400 if mode == "layer-size-huge" else 1 << 63
    if mode == "layer-sha512":
        manifest["layers"][0]["digest"] = "sha512:" + hashlib.sha512(b"layer").hexdigest()
    if mode == "layer-uppercase":
        manifest["layers"][0]["digest"] = "sha256:" + manifest["layers"][0]["digest"][7:].upper()
    if mode == "size-conflict":
        manifest["layers"].append(
            {**manifest["layers"][0], "size": manifest["layers"][0]["size"] + 1}
        )
    if mode == "manifest-ambiguous":
        manifest["manifests"] = []
    if mode == "manifest-schema-version":
        manifest["schemaVersion"] = 1
    raw_manifest = json.dumps(manifest, indent=2).encode()
    if mode == "manifest-duplicate-key":  # (json keeps the last: the real layers)
        raw_manifest = b'{\n  "layers": [],' + raw_manifest[1:]
    if mode == "manifest-nan":
        raw_manifest = b'{\n  "annotation": NaN,' + raw_manifest[1:]
    if mode == "manifest-list":
        raw_manifest = b'["schemaVersion", 2]'
    img = _Image(
        raw_manifest,
        manifest["config"]["digest"],
        tuple(x["digest"] for x in manifest["layers"]),
        blobs,
    )
    img.by_digest[_digest(raw_manifest)] = raw_manifest
    if mode in ("traversal-index", "index-no-digest", "index-child-mismatch", "index-ambiguous"):
        entry: dict[str, Any] = {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "size": len(raw_manifest),
            "digest": _digest(raw_manifest),
            "platform": {"architecture": "amd64", "os": "linux"},
        }
        if mode == "traversal-index":
            entry["digest"] = TRAVERSAL
        if mode == "index-no-digest":
            del entry["digest"]
        if mode == "index-child-mismatch":  # other bytes under the digest the index names
            img.by_digest[_digest(raw_manifest)] = raw_manifest + b"\n"
        index: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [entry],
        }
        if mode == "index-ambiguous":
            index["layers"] = []
        img.index = json.dumps(index).encode()
    return img


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up on an endless body is the expected outcome


class HostileRegistry:
    """The lying registry of ``mode`` and its witness; ``auth`` is ``none``, ``basic`` or ``bearer``."""

    def __init__(
        self,
        mode: str,
        *,
        auth: str = "none",
        lifetime: float = 180.0,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        assert mode in MODES, mode
        self.mode, self.auth = mode, auth
        self.image = _image(mode)
        self.seen: list[Seen] = []
        self.witness_seen: list[Seen] = []
        rng = random.Random()
        a = rng.randrange(2, 250)
        b = a + 1 + rng.randrange(0, 3)
        if mode == "cookie-jar":  # cookies know no ports: the witness shares the address
            b = 1 if tls else a
        # with TLS (cert, key) the registry is on 127.0.0.1, the address its certificate names
        self.scheme = "https" if tls else "http"
        self._server = _Server((f"127.0.0.{1 if tls else a}", 0), self._handler(witness=False))
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._witness = _Server((f"127.0.0.{b}", 0), self._handler(witness=True))
        self._threads = [
            threading.Thread(target=s.serve_forever, daemon=True)
            for s in (self._server, self._witness)
        ]
        for t in self._threads:
            t.start()
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()

    @property
    def host(self) -> str:
        """``127.0.0.x:port`` of the registry."""
        addr, port = self._server.server_address[:2]
        return f"{addr!s}:{port}"

    @property
    def witness_host(self) -> str:
        """``127.0.0.y:port`` of the witness (another address and port)."""
        addr, port = self._witness.server_address[:2]
        return f"{addr!s}:{port}"

    def ambiguous_url(self, variant: str, path: str) -> str:
        """The URL ``variant`` of :data:`AMBIGUOUS_URLS` for ``path``."""
        wa, wp = self.witness_host.rsplit(":", 1)
        return AMBIGUOUS_URLS[variant].format(
            w=self.witness_host, wa=wa, wp=wp, wa_tail=wa[1:], r=self.host, p=path
        )

    def _variant(self, place: str) -> str | None:
        """The ambiguous URL variant this mode sends at ``place``, if any."""
        prefix = f"{place}-"
        if self.mode.startswith(prefix) and self.mode[len(prefix) :] in AMBIGUOUS_URLS:
            return self.mode[len(prefix) :]
        return None

    def stop(self) -> None:
        """Stop both servers (idempotent)."""
        self._timer.cancel()
        for s in (self._server, self._witness):
            s.shutdown()
            s.server_close()

    # ------------------------------------------------------------------ handler

    def _handler(self, *, witness: bool) -> type[BaseHTTPRequestHandler]:
        reg = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _record(self) -> None:
                seen = Seen(
                    self.command,
                    self.path,
                    self.headers.get("Authorization"),
                    self.headers.get("Cookie"),
                )
                (reg.witness_seen if witness else reg.seen).append(seen)
                if reg.mode == "cookie-jar":
                    self.hk_extra_headers = {
                        "Set-Cookie": f"hk_{witness}=secret-{id(self)}; Path=/"
                    }

            def do_GET(self) -> None:
                self._record()
                reg._witness_answer(self) if witness else reg._answer(self)

            do_HEAD = do_PUT = do_POST = do_PATCH = do_GET

        return Handler

    def _authorized(self, h: BaseHTTPRequestHandler) -> bool:
        got = h.headers.get("Authorization")
        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.mode == "challenge-negotiate":
            _send(h, 401, b"{}", {"WWW-Authenticate": "Negotiate, NTLM"})
            return False
        if self.auth == "basic" and got != basic:
            _send(h, 401, b"{}", {"WWW-Authenticate": 'Basic realm="hostile"'})
            return False
        if self.auth == "bearer" and got != f"Bearer {TOKEN}":
            realm = f"{self.scheme}://{self.host}/token"
            if self._variant("realm"):
                realm = self.ambiguous_url(self._variant("realm") or "", "/token")
                realm = realm.replace("\\", "\\\\").replace('"', '\\"')  # a quoted-string
            if self.mode == "realm-plain-http":
                realm = f"http://{self.witness_host}/token"
            if self.mode == "realm-fragment":
                realm += "?tenant=1#section"
            challenge = f'Bearer realm="{realm}",service="hostile"'
            _send(h, 401, b"{}", {"WWW-Authenticate": challenge})
            return False
        return True

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/token":
            return self._token(h)
        if not self._authorized(h):
            return None
        if path in ("/v2/", "/v2"):
            return _send(h, 200, b"{}")
        prefix = f"/v2/{REPOSITORY}/"
        if not path.startswith(prefix):
            return _send(h, 404, b'{"errors": [{"code": "NAME_UNKNOWN"}]}')
        rest = path[len(prefix) :]
        if rest.startswith("manifests/"):
            return self._manifest(h, rest.split("/", 1)[1])
        if rest.startswith("blobs/uploads"):
            return self._upload(h)
        if rest.startswith("blobs/"):
            return self._blob(h, rest.split("/", 1)[1])
        return _send(h, 404, b"{}")

    def _token(self, h: BaseHTTPRequestHandler) -> None:
        if self.mode == "token-endless":
            return _endless(h, 200)
        if self.mode == "realm-fragment" and not (
            "tenant=1" in h.path and "scope=repository" in h.path
        ):
            return _send(h, 400, b'{"errors": [{"code": "NO_SCOPE"}]}')
        if self.mode == "token-quadratic":
            return _send(h, 200, QUADRATIC, {"Content-Type": "application/json"})
        if self.mode in TOKEN_BODIES:
            return _send(h, 200, TOKEN_BODIES[self.mode], {"Content-Type": "application/json"})
        if self.mode in NESTED_BODIES and self.mode.startswith("token-"):
            return _send(h, 200, NESTED_BODIES[self.mode], {"Content-Type": "application/json"})
        expires: object = "soon" if self.mode == "token-expires-nan" else 300
        _send(h, 200, json.dumps({"token": TOKEN, "expires_in": expires}).encode())

    def _manifest(self, h: BaseHTTPRequestHandler, ref: str) -> None:
        img = self.image
        if h.command == "PUT":
            length = int(h.headers.get("Content-Length") or 0)
            data = h.rfile.read(length)
            return _send(h, 201, b"", {"Docker-Content-Digest": _digest(data)})
        if self.mode == "error-endless":
            return _endless(h, 500)
        if self.mode in ("manifest-quadratic", "error-quadratic"):
            status = 200 if self.mode == "manifest-quadratic" else 500
            return _send(h, status, QUADRATIC, {"Content-Type": "application/json"})
        if self.mode == "error-nested":
            return _send(h, 500, NESTED_BODIES[self.mode], {"Content-Type": "application/json"})
        if ref == TAG:
            body = img.index if img.index is not None else img.manifest
        elif ref in img.by_digest and self.mode != "push-forgets":
            body = img.by_digest[ref]
        else:
            return _send(h, 404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')
        media = json.loads(body).get("mediaType") if body.startswith(b"{") else None
        headers = {"Content-Type": media or "application/json"}
        if self.mode == "manifest-served-as-oci":
            headers["Content-Type"] = "application/vnd.oci.image.manifest.v1+json"
        headers["Docker-Content-Digest"] = (
            TRAVERSAL if self.mode == "traversal-header" else _digest(body)
        )
        if self.mode == "header-digest-lie":
            headers["Docker-Content-Digest"] = _digest(b"another manifest")
        if self.mode in ("trickle-headers", "trickle-manifest"):
            return _trickle(h, 200, body, headers, headers_too=self.mode == "trickle-headers")
        _send(h, 200, body, headers)

    def _blob(self, h: BaseHTTPRequestHandler, digest: str) -> None:
        data = self.image.blobs.get(digest)
        empty = ("push-one-fails", "trickle-upload-answer", "post-created")
        if data is None or self.mode.startswith("location-") or self.mode in empty:
            # a push target that starts empty
            return _send(h, 404, b'{"errors": [{"code": "BLOB_UNKNOWN"}]}')
        if h.command == "HEAD":
            if self.mode == "head-no-length":
                h.send_response(200)
                h.end_headers()
                return None
            size = 5 if self.mode == "head-wrong-length" else len(data)
            return _send(h, 200, b"", {"Content-Length": str(size)}, head=True)
        if self.mode == "blob-overflow" and digest in self.image.layer_digests:
            return _endless(h, 200, data)
        if self.mode == "blob-gzip-if-asked" and "gzip" in h.headers.get("Accept-Encoding", ""):
            return _send(h, 200, gzip.compress(data), {"Content-Encoding": "gzip"})
        if self.mode == "blob-mismatch" and digest in self.image.layer_digests:
            return _send(h, 200, data[:-1] + bytes([data[-1] ^ 1]))
        if self.mode == "trickle-blob" and digest in self.image.layer_digests:
            return _trickle(h, 200, data, {}, headers_too=False)
        if self.mode == "stall-blob" and digest in self.image.layer_digests:
            return _trickle(h, 200, data, {}, headers_too=False, stall_after=100)
        if self.mode in ("redirect-elsewhere", "cookie-jar"):
            location = f"http://{self.witness_host}/blobs/{digest}"
            return _send(h, 307, b"", {"Location": location})
        if self._variant("redirect"):
            location = self.ambiguous_url(self._variant("redirect") or "", f"/blobs/{digest}")
            return _send(h, 307, b"", {"Location": location})
        start = 0
        rng = h.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return _send(h, 416, b"")
            return _send(h, 206, data[start:])
        _send(h, 200, data)

    def _upload(self, h: BaseHTTPRequestHandler) -> None:
        if h.command == "POST":
            if self.mode == "location-elsewhere":
                location = f"http://{self.witness_host}/upload/1"
            elif self.mode == "post-created":
                return _send(h, 201, b"", {"Location": f"/v2/{REPOSITORY}/blobs/uploads/1"})
            elif self._variant("location"):
                location = self.ambiguous_url(self._variant("location") or "", "/upload/1")
            else:
                location = f"http://{self.host}/v2/{REPOSITORY}/blobs/uploads/1"
            return _send(h, 202, b"", {"Location": location})
        length = int(h.headers.get("Content-Length") or 0)
        h.rfile.read(length)
        query = h.path.split("?", 1)[1] if "?" in h.path else ""
        digest = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("digest", "")
        if self.mode == "trickle-upload-answer":
            served = {"Docker-Content-Digest": digest.replace("%3A", ":")}
            return _trickle(h, 201, b"", served, headers_too=True)
        if self.mode == "push-one-fails":
            if digest.replace("%3A", ":") == self.image.config_digest:
                time.sleep(60)  # until the client hangs up
                return None
            error = b'{"errors": [{"code": "BLOB_UPLOAD_INVALID", "message": "disk on fire"}]}'
            return _send(h, 500, error)
        _send(h, 201, b"", {"Docker-Content-Digest": digest.replace("%3A", ":")})

    def _witness_answer(self, h: BaseHTTPRequestHandler) -> None:
        """A redirect target serves the blob; anything else asks for credentials (a lure)."""
        if h.path.startswith("/blobs/"):
            data = self.image.blobs.get(h.path.split("/", 2)[2])
            if data is not None:
                return _send(h, 200, data)
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)
        _send(h, 401, b"{}", {"WWW-Authenticate": 'Basic realm="witness"'})


def _send(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    head: bool = False,
) -> None:
    h.send_response(status)
    headers = {**(headers or {}), **getattr(h, "hk_extra_headers", {})}
    headers.setdefault("Content-Length", str(len(body)))
    for k, v in headers.items():
        h.send_header(k, v)
    h.end_headers()
    if not head and h.command != "HEAD":
        h.wfile.write(body)


def _trickle(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    headers: dict[str, str],
    *,
    headers_too: bool,
    stall_after: int | None = None,
) -> None:
    """The answer a byte at a time (every TRICKLE_DELAY s): its body, or all of it;
    with ``stall_after``, that many body bytes and then silence."""
    head = [f"HTTP/1.1 {status} OK"]
    head += [f"{k}: {v}" for k, v in {**headers, "Content-Length": str(len(body))}.items()]
    raw_head = ("\r\n".join(head) + "\r\n\r\n").encode()
    h.close_connection = True
    try:
        if not headers_too:
            h.wfile.write(raw_head)
            raw_head = b""
        data = raw_head + body
        if stall_after is not None:
            h.wfile.write(data[:stall_after])
            time.sleep(60)
            return
        for i in range(len(data)):
            h.wfile.write(data[i : i + 1])
            time.sleep(TRICKLE_DELAY)
    except OSError:
        pass  # the client gave up: what the test wants


def _endless(h: BaseHTTPRequestHandler, status: int, start: bytes = b"") -> None:
    """A body that does not end (until the client hangs up or ENDLESS_CAP)."""
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Connection", "close")
    h.end_headers()
    block = b" " * (64 << 10)
    sent = 0
    try:
        h.wfile.write(start)
        while sent < ENDLESS_CAP:
            h.wfile.write(block)
            sent += len(block)
    except OSError:
        pass
    h.close_connection = True


@contextmanager
def hostile_registry(
    mode: str, *, auth: str = "none", tls: tuple[Path, Path] | None = None
) -> Iterator[HostileRegistry]:
    """A :class:`HostileRegistry` for the ``with`` block."""
    reg = HostileRegistry(mode, auth=auth, tls=tls)
    try:
        yield reg
    finally:
        reg.stop()


@contextmanager
def trickle_proxy(target: str) -> Iterator[str]:
    """``127.0.0.1:port`` in front of ``target`` (``addr:port``): what the client sends goes on
    at once, what it gets comes a byte every TRICKLE_DELAY s (a TLS handshake included)."""
    import socket

    addr, port = target.rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", 0))
    socks: list[socket.socket] = [listener]
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket, trickle: bool) -> None:
        try:
            while not stop.is_set() and (data := src.recv(65536)):
                for i in range(len(data)) if trickle else (None,):
                    dst.sendall(data if i is None else data[i : i + 1])
                    if trickle:
                        time.sleep(TRICKLE_DELAY)
        except OSError:
            pass

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection((addr, int(port)))
            except OSError:
                return
            socks.extend((client, upstream))
            for args in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=pump, args=args, daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
