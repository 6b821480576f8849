"""Run Debian's ``docker-registry`` (distribution 2.8) on loopback for tests and benchmarks.

Four modes, each on ``127.0.0.1`` with a free port and its own storage dir:

* ``plain``: plain HTTP, no auth;
* ``htpasswd``: plain HTTP with basic auth (bcrypt entries made with ``bcrypt``);
* ``tls``: HTTPS with a certificate from a throw-away test CA (``cryptography``);
* ``token``: bearer tokens from an in-process token issuer on loopback that signs
  RS256 JWTs carrying the signing certificate in the ``x5c`` header; that
  certificate is the registry's ``rootcertbundle`` (distribution's
  ``registry/auth/token`` accepts a leaf that is itself a trusted root).

Also: images made in Python (gzip layer tars, config, schema 2 manifest), and the
path of a blob's data file in the storage tree (for corruption tests).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import gzip
import hashlib
import io
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
MODES = ("plain", "htpasswd", "tls", "token")
USER = "hkuser"
PASSWORD = "hk-secret-pw"
READER = "hkreader"  # token mode: may pull, may not push
SERVICE = "hk-test-registry"
ISSUER = "hk-test-issuer"


class RegistryStartError(RuntimeError):
    """The registry did not answer ``/v2/`` in time."""


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- crypto


@dataclass(frozen=True)
class Pki:
    """A test CA, a server certificate for 127.0.0.1 signed by it, and a token signer."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    signer_cert: Path
    signer_key_pem: bytes
    signer_der: bytes


def make_pki(directory: Path) -> Pki:
    """Write the CA, the server cert/key and the token signing cert into ``directory``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("harborkit test CA"))
        .issuer_name(name("harborkit test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(ca_key, hashes.SHA256())
    )
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    sig_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sig = (
        x509.CertificateBuilder()
        .subject_name(name("harborkit test token signer"))
        .issuer_name(name("harborkit test token signer"))
        .public_key(sig_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(sig_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(pem(ca))
    (directory / "server.pem").write_bytes(pem(srv))
    (directory / "server.key").write_bytes(
        srv_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (directory / "signer.pem").write_bytes(pem(sig))
    return Pki(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        signer_cert=directory / "signer.pem",
        signer_key_pem=sig_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        signer_der=sig.public_bytes(serialization.Encoding.DER),
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(pki: Pki, claims: dict[str, Any]) -> str:
    """An RS256 JWT with the signing certificate in ``x5c`` (distribution's convention)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_pem_private_key(pki.signer_key_pem, password=None)
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(pki.signer_der).decode()]}
    signing_input = (
        _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
    )
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    return signing_input + "." + _b64url(sig)


class TokenIssuer:
    """A loopback token service: basic auth in, a JWT granting the asked scope out."""

    def __init__(
        self, pki: Pki, users: dict[str, str], read_only: frozenset[str] = frozenset()
    ) -> None:
        self.pki = pki
        self.users = users
        self.read_only = read_only  # users granted "pull" only
        self.requests = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                issuer.requests += 1
                url = urlparse(self.path)
                if url.path != "/token":
                    self.send_error(404)
                    return
                user = issuer._user(self.headers.get("Authorization", ""))
                if user is None:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="hk-token"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                q = parse_qs(url.query)
                access = []
                for scope in q.get("scope", []):
                    for item in scope.split():
                        typ, _, rest = item.partition(":")
                        name, _, actions = rest.rpartition(":")
                        granted = actions.split(",")
                        if user in issuer.read_only:
                            granted = [a for a in granted if a == "pull"]
                        access.append({"type": typ, "name": name, "actions": granted})
                now = int(time.time())
                token = sign_jwt(
                    issuer.pki,
                    {
                        "iss": ISSUER,
                        "sub": user,
                        "aud": q.get("service", [SERVICE])[0],
                        "exp": now + 300,
                        "nbf": now - 10,
                        "iat": now,
                        "jti": secrets.token_hex(8),
                        "access": access,
                    },
                )
                body = json.dumps({"token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        """The token endpoint URL."""
        return f"http://127.0.0.1:{self.port}/token"

    def _user(self, header: str) -> str | None:
        if not header.startswith("Basic "):
            return None
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if self.users.get(user) == pw else None

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- registry


@dataclass
class Registry:
    """A ``docker-registry`` process on 127.0.0.1 (restartable on the same port and storage)."""

    mode: str
    root: Path
    port: int
    storage: Path
    pki: Pki | None = None
    issuer: TokenIssuer | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def insecure(self) -> bool:
        """True when the registry speaks plain HTTP."""
        return self.mode != "tls"

    @property
    def ca_file(self) -> Path | None:
        """The CA that signed the server certificate (TLS mode)."""
        return self.pki.ca_cert if self.pki and self.mode == "tls" else None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"{'https' if self.mode == 'tls' else 'http'}://{self.host}"

    @property
    def needs_auth(self) -> bool:
        """True for the htpasswd and token modes."""
        return self.mode in ("htpasswd", "token")

    def blob_data(self, digest: str) -> Path:
        """The storage file holding blob ``digest``."""
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def config(self) -> dict[str, Any]:
        """The registry's configuration for this mode."""
        cfg: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "secret": "hk-test-secret"},
        }
        if self.mode == "htpasswd":
            import bcrypt

            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
            (self.root / "htpasswd").write_text(f"{USER}:{hashed}\n")
            cfg["auth"] = {"htpasswd": {"realm": "hk-realm", "path": str(self.root / "htpasswd")}}
        elif self.mode == "tls":
            assert self.pki is not None
            cfg["http"]["tls"] = {
                "certificate": str(self.pki.server_cert),
                "key": str(self.pki.server_key),
            }
        elif self.mode == "token":
            assert self.pki is not None and self.issuer is not None
            cfg["auth"] = {
                "token": {
                    "realm": self.issuer.realm,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "rootcertbundle": str(self.pki.signer_cert),
                }
            }
        return cfg

    def start(self, timeout: float = 30) -> None:
        """Start (or restart) the process and wait for ``/v2/``."""
        import yaml

        if self.proc is not None and self.proc.poll() is None:
            return
        cfg_path = self.root / "config.yml"
        cfg_path.write_text(yaml.safe_dump(self.config()))
        log = open(self.root / "registry.log", "ab")  # noqa: SIM115 - owned by the process
        try:
            self.proc = subprocess.Popen(
                [REGISTRY_BIN, "serve", str(cfg_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.05)
        tail = (self.root / "registry.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RegistryStartError(f"docker-registry ({self.mode}) did not start:\n{tail}")

    def _answers(self) -> bool:
        import ssl

        ctx = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        try:
            urllib.request.urlopen(f"{self.url}/v2/", timeout=1, context=ctx)
            return True
        except urllib.error.HTTPError:
            return True  # 401 is an answer
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL the process (a registry dying mid-transfer)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def start_registry(mode: str = "plain", parent: Path | None = None) -> Iterator[Registry]:
    """Run a registry in ``mode`` for the ``with`` block; everything is removed afterwards."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    root = Path(tempfile.mkdtemp(prefix=f"hk-reg-{mode}-", dir=str(parent) if parent else None))
    issuer: TokenIssuer | None = None
    reg: Registry | None = None
    try:
        pki = make_pki(root / "pki") if mode in ("tls", "token") else None
        if mode == "token":
            assert pki is not None
            issuer = TokenIssuer(pki, {USER: PASSWORD, READER: PASSWORD}, frozenset({READER}))
        reg = Registry(mode, root, free_port(), root / "storage", pki, issuer)
        reg.storage.mkdir()
        reg.start()
        yield reg
    finally:
        if reg is not None:
            reg.stop()
        if issuer is not None:
            issuer.close()
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class TestImage:
    """An image made in Python: blobs by digest and the manifest's exact bytes."""

    __test__ = False  # not a pytest class

    repository: str
    tag: str
    manifest: bytes
    config_digest: str
    layer_digests: tuple[str, ...]
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        """The manifest digest."""
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


def make_layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(uncompressed tar, gzip of it) holding ``files``; deterministic."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in sorted(files.items()):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, compresslevel=1, mtime=0)


def make_image(
    repository: str,
    tag: str,
    *,
    seed: int,
    layer_sizes: tuple[int, ...] = (4096, 2048),
    base: tuple[tuple[bytes, bytes], ...] = (),
    oci: bool = False,
) -> TestImage:
    """An image with ``base`` layers (raw, gz) then random layers of ``layer_sizes`` bytes."""
    rng = random.Random(seed)
    layers = list(base)
    for n, size in enumerate(layer_sizes):
        layers.append(make_layer({f"data/{seed}-{n}.bin": rng.randbytes(size)}))
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/true"], "Labels": {"hk.seed": str(seed)}},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest() for raw, _ in layers],
            },
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        },
        sort_keys=True,
    ).encode()
    blobs = {"sha256:" + hashlib.sha256(config).hexdigest(): config}
    layer_entries = []
    for _, gz in layers:
        d = "sha256:" + hashlib.sha256(gz).hexdigest()
        blobs[d] = gz
        layer_entries.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"
                if oci
                else "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(gz),
                "digest": d,
            }
        )
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json"
            if oci
            else "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json"
                if oci
                else "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": config_digest,
            },
            "layers": layer_entries,
        },
        indent=3,  # deliberately not canonical: digests must survive byte for byte
    ).encode()
    return TestImage(
        repository,
        tag,
        manifest,
        config_digest,
        tuple(e["digest"] for e in layer_entries),
        blobs,
    )


def skopeo_digest(reg: Registry, image: str, *, creds: bool = True) -> str:
    """The manifest digest ``skopeo inspect`` reports for ``image`` on ``reg``."""
    argv = ["skopeo", "inspect", "--no-tags"]
    if reg.mode == "tls":
        argv += ["--cert-dir", str(reg.root / "skopeo-certs")]
        certs = reg.root / "skopeo-certs"
        certs.mkdir(exist_ok=True)
        assert reg.ca_file is not None
        shutil.copy(reg.ca_file, certs / "ca.crt")
    else:
        argv += ["--tls-verify=false"]
    if creds and reg.needs_auth:
        argv += ["--creds", f"{USER}:{PASSWORD}"]
    argv.append(f"docker://{reg.host}/{image}")
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "HOME": str(reg.root)},
    )
    return str(json.loads(out.stdout)["Digest"])
