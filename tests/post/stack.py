"""A Harbor-shaped stack for the post-install checks, on a private dockerd.

Debian's real ``docker-compose`` (1.29) starts v1.8.0's services, container
names, ports and network (``harbor_harbor``) from images built here with
``docker import``: one small rootfs holding busybox (most services: ``httpd``
stand-ins with healthchecks), Debian's real ``nginx`` (``proxy``) and Debian's
real ``docker-registry`` (``registry``, token auth). The token service the
registry trusts is a test server that signs real RS256 JWTs; it listens on a
unix socket that is mounted into the proxy container, which serves it at
``/service/token`` on Harbor's own origin. The daemon runs in its own network
namespace, so what the stack publishes (on every address, as Harbor does)
is reachable only in there.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import socketserver
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.support.dockerd import DOCKERD, Daemon, _remove_tree, ping
from tests.support.registry import Pki, free_port, make_pki, sign_jwt

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"
SERVICE = "harbor-registry"
ISSUER = "harbor-token-issuer"
ADMIN_DEFAULT = "Harbor12345"
VERSION = "v1.8.0-3d5c5ae5"
IMAGE_TAG = "v1.8.0"

#: service -> (container_name, image, port inside, published ports)
SERVICES: dict[str, tuple[str, str, int, list[str]]] = {
    "log": ("harbor-log", "goharbor/harbor-log", 10514, ["127.0.0.1:1514:10514"]),
    "registry": ("registry", "goharbor/registry-photon", 5000, []),
    "registryctl": ("registryctl", "goharbor/harbor-registryctl", 8080, []),
    "postgresql": ("harbor-db", "goharbor/harbor-db", 5432, []),
    "core": ("harbor-core", "goharbor/harbor-core", 8080, []),
    "portal": ("harbor-portal", "goharbor/harbor-portal", 8080, []),
    "jobservice": ("harbor-jobservice", "goharbor/harbor-jobservice", 8080, []),
    "redis": ("redis", "goharbor/redis-photon", 6379, []),
    "proxy": ("nginx", "goharbor/nginx-photon", 8080, []),
}


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@dataclass
class TokenService:
    """Basic auth in, a JWT granting the asked scope out (the registry verifies it)."""

    pki: Pki
    socket_path: Path
    users: dict[str, str] = field(default_factory=dict)
    requests: int = 0

    def start(self) -> None:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def address_string(self) -> str:
                return "unix"

            def do_GET(self) -> None:
                service.requests += 1
                self._answer()

            def _answer(self) -> None:
                import base64

                url = urlparse(self.path)
                header = self.headers.get("Authorization", "")
                user = None
                if header.startswith("Basic "):
                    name, _, pw = base64.b64decode(header[6:]).decode().partition(":")
                    user = name if service.users.get(name) == pw else None
                if user is None:
                    body = b'{"errors":[{"code":"UNAUTHORIZED"}]}'
                    self.send_response(401)
                else:
                    access = []
                    for scope in parse_qs(url.query).get("scope", []):
                        for item in scope.split():
                            typ, _, rest = item.partition(":")
                            name, _, actions = rest.rpartition(":")
                            access.append(
                                {"type": typ, "name": name, "actions": actions.split(",")}
                            )
                    now = int(time.time())
                    claims = {
                        "iss": ISSUER,
                        "sub": user,
                        "aud": SERVICE,
                        "exp": now + 300,
                        "nbf": now - 10,
                        "iat": now,
                        "jti": secrets.token_hex(8),
                        "access": access,
                    }
                    body = json.dumps(
                        {"token": sign_jwt(service.pki, claims), "expires_in": 300}
                    ).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.socket_path.unlink(missing_ok=True)
        self.server = _UnixHTTPServer(str(self.socket_path), Handler)
        os.chmod(self.socket_path, 0o666)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rootfs() -> bytes:
    """busybox + nginx + docker-registry and the libraries they load, as a tar."""
    buf = io.BytesIO()
    added: set[str] = set()

    def add_file(src: str, arc: str | None = None) -> None:
        arc = (arc or src).lstrip("/")
        if arc not in added:
            added.add(arc)
            t.add(os.path.realpath(src), arcname=arc, recursive=False)

    def add_dir(arc: str, mode: int = 0o755) -> None:
        if arc not in added:
            added.add(arc)
            ti = tarfile.TarInfo(arc)
            ti.type, ti.mode = tarfile.DIRTYPE, mode
            t.addfile(ti)

    def add_text(arc: str, text: str) -> None:
        data = text.encode()
        ti = tarfile.TarInfo(arc)
        ti.size, ti.mode = len(data), 0o644
        t.addfile(ti, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w") as t:
        for d in (
            "bin",
            "etc",
            "tmp",
            "run",
            "www",
            "www/api",
            "storage",
            "var",
            "var/lib",
            "var/lib/nginx",
            "var/log",
            "var/log/nginx",
            "lib",
            "lib64",
            "usr",
            "usr/sbin",
            "lib/x86_64-linux-gnu",
            "etc/registry",
            "etc/nginx",
            "run/hktoken",
        ):
            add_dir(d, 0o1777 if d == "tmp" else 0o755)
        add_file("/bin/busybox", "bin/busybox")
        applets = subprocess.run(
            ["/bin/busybox", "--list"], capture_output=True, text=True, check=True
        )
        for name in applets.stdout.split():
            if name != "busybox" and f"bin/{name}" not in added:
                added.add(f"bin/{name}")
                ti = tarfile.TarInfo(f"bin/{name}")
                ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
                t.addfile(ti)
        for binary in ("/usr/sbin/nginx", "/usr/bin/docker-registry"):
            add_file(binary, "usr/sbin/" + os.path.basename(binary))
            out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
            for line in out.splitlines():
                parts = line.split()
                lib = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
                if lib.startswith("/"):
                    add_file(lib, lib)
        add_text(
            "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        )
        add_text("etc/group", "root:x:0:\nnogroup:x:65534:\n")
        add_text("etc/nsswitch.conf", "hosts: files dns\n")
        add_text("www/index.html", "ok\n")
        add_text("www/api/ping", "Pong\n")
    return buf.getvalue()


def _nginx_conf() -> str:
    return """user root root;
daemon off;
worker_processes 1;
error_log stderr error;
pid /tmp/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_max_body_size 0;
  client_body_temp_path /tmp/body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  server {
    listen 8080;
    location /v2/ {
      proxy_pass http://registry:5000/v2/;
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_request_buffering off;
    }
    location = /healthz { return 200 "ok"; }
    location /service/token { proxy_pass http://unix:/run/hktoken/token.sock:/service/token; }
    location /api/ { proxy_pass http://harbor-core:8080/api/; }
    location / { proxy_pass http://harbor-portal:8080/; }
  }
}
"""


def compose_file(http_port: int) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for name, (container, image, port, ports) in SERVICES.items():
        spec: dict[str, Any] = {
            "image": f"{image}:{IMAGE_TAG}",
            "container_name": container,
            "restart": "always",
            "networks": ["harbor"],
        }
        if name == "proxy":
            spec["command"] = ["nginx", "-c", "/etc/nginx/nginx.conf"]
            spec["volumes"] = ["./common/config/nginx:/etc/nginx:z", "./token:/run/hktoken:z"]
            spec["ports"] = [f"{http_port}:8080"]  # all addresses, in the stack's netns only
            spec["depends_on"] = ["registry", "core", "portal", "log"]
        elif name == "registry":
            spec["command"] = ["docker-registry", "serve", "/etc/registry/config.yml"]
            spec["volumes"] = ["./common/config/registry:/etc/registry:z"]
        else:
            www = "./common/config/core:/www/api:z" if name == "core" else None
            spec["command"] = [
                "sh",
                "-c",
                f"echo {name} listening on {port}; exec httpd -f -p {port} -h /www",
            ]
            if www:
                spec["volumes"] = [www]
        if ports:
            spec["ports"] = ports
        probe = {
            "proxy": "http://127.0.0.1:8080/healthz",
            "core": "http://127.0.0.1:8080/api/ping",
        }.get(name, f"http://127.0.0.1:{port}/")
        spec["healthcheck"] = {
            "test": ["CMD-SHELL", f"wget -q -O /dev/null {probe} || exit 1"],
            "interval": "1s",
            "timeout": "3s",
            "retries": 3,
            "start_period": "1s",
        }
        services[name] = spec
    return {
        "version": "2.3",
        "services": services,
        "networks": {"harbor": {"external": False}},
    }


@dataclass
class HarborStack:
    daemon: Daemon
    base: Path  # holds harbor/ (the install dir) and the token socket
    http_port: int
    tokens: TokenService
    pki: Pki

    @property
    def install_dir(self) -> Path:
        return self.base / "harbor"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        env = self.daemon.env()
        env.pop("HARBORKIT_HARBOR_PASSWORD", None)
        return env

    def docker(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", *argv],
            env=self.env(),
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def compose(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [COMPOSE, *argv],
            cwd=self.install_dir,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )

    def wait_healthy(self, timeout: float = 90) -> None:
        names = [c for c, *_ in SERVICES.values()]
        end = time.monotonic() + timeout
        last = ""
        while time.monotonic() < end:
            r = self.docker(
                "inspect",
                "--format",
                "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                *names,
                check=False,
            )
            last = r.stdout + r.stderr
            if r.returncode == 0 and all(
                line.endswith(" running healthy") for line in r.stdout.strip().splitlines()
            ):
                return
            time.sleep(0.5)
        raise RuntimeError(f"stack not healthy: {last}")

    def restore(self) -> None:
        """Back to all-healthy after a case changed something."""
        self.tokens.users["admin"] = ADMIN_DEFAULT
        self.compose("up", "-d", "--remove-orphans")
        self.wait_healthy()


@contextlib.contextmanager
def netns_dockerd(base: Path, timeout: float = 60) -> Iterator[Daemon]:
    """A private dockerd in its own network namespace: its bridges, its
    ``0.0.0.0`` and its published ports exist only in there (reach them with
    :func:`in_netns`); its socket is a file, so the Docker CLI works from here."""
    root = base / "d"
    root.mkdir()
    sock = root / "d.sock"
    argv = [
        "unshare",
        "--net",
        "--",
        "sh",
        "-c",
        'ip link set lo up && exec "$@"',
        "sh",
        DOCKERD,
        "--ip6tables=false",
        "--iptables=false",
        "--bridge=none",
        "--data-root",
        str(root / "data"),
        "--exec-root",
        str(root / "exec"),
        "--pidfile",
        str(root / "d.pid"),
        "-H",
        f"unix://{sock}",
        "--storage-driver",
        "overlay2",
    ]
    with open(root / "dockerd.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None and not ping(sock):
            time.sleep(0.1)
        if not ping(sock):
            raise RuntimeError((root / "dockerd.log").read_text()[-2000:])
        yield Daemon(root=root, socket_path=sock, pid=proc.pid, storage_driver="overlay2")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        _remove_tree(root)


def in_netns(daemon: Daemon, argv: list[str]) -> list[str]:
    """``argv`` run in the daemon's network namespace."""
    return ["nsenter", f"--net=/proc/{daemon.pid}/ns/net", "--", *argv]


def build(daemon: Daemon, base: Path) -> HarborStack:
    env = daemon.env()
    tar = rootfs()
    r = subprocess.run(
        ["docker", "import", "-", "hk/harbor-base:1"],
        input=tar,
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )
    del r
    for _container, image, _port, _ports in SERVICES.values():
        subprocess.run(
            ["docker", "tag", "hk/harbor-base:1", f"{image}:{IMAGE_TAG}"],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    inst = base / "harbor"
    for sub in ("common/config/nginx", "common/config/registry", "common/config/core", "token"):
        (inst / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    pki = make_pki(base / "pki")
    shutil.copy(pki.signer_cert, inst / "common/config/registry/root.crt")
    (inst / "common/config/nginx/nginx.conf").write_text(_nginx_conf())
    (inst / "common/config/core/systeminfo").write_text(
        json.dumps({"harbor_version": VERSION, "auth_mode": "db_auth"})
    )
    (inst / "common/config/core/ping").write_text("Pong\n")
    registry_cfg = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": "/storage"}, "delete": {"enabled": True}},
        "http": {"addr": ":5000", "secret": "hk-test-secret"},
        "auth": {
            "token": {
                "realm": f"http://127.0.0.1:{port}/service/token",
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": "/etc/registry/root.crt",
            }
        },
    }
    (inst / "common/config/registry/config.yml").write_text(json.dumps(registry_cfg))
    (inst / "docker-compose.yml").write_text(json.dumps(compose_file(port), indent=1))
    (inst / "harbor.yml").write_text(
        f"hostname: 127.0.0.1\nhttp:\n  port: {port}\nharbor_admin_password: {ADMIN_DEFAULT}\n"
        "database:\n  password: root123\ndata_volume: /data\n"
    )
    tokens = TokenService(pki, inst / "token" / "token.sock", {"admin": ADMIN_DEFAULT})
    tokens.start()
    stack = HarborStack(daemon, base, port, tokens, pki)
    stack.compose("up", "-d")
    stack.wait_healthy()
    return stack


def tear_down(stack: HarborStack) -> None:
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        stack.compose("down", "-t", "1")
    stack.tokens.close()
