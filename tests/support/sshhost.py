"""Real ``sshd`` test hosts: containers of a debootstrap'ed Debian root on loopback.

The image is built once from ``debootstrap --variant=minbase
--include=openssh-server,python3,sudo bookworm`` (python3 only so that Ansible
can target the hosts; harborkit's collector never uses it), saved as a tar under
``/var/cache/harborkit-tests`` keyed by a hash of the recipe, and imported with
``docker import`` into a private dockerd. Each host is a container run with
``--network host --hostname NAME`` whose sshd listens on its own free loopback
address. ``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf`` are written
after start (docker bind-mounts them); name lookups use files only, so nothing
leaves the machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("HARBORKIT_TEST_CACHE", "/var/cache/harborkit-tests"))
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
PACKAGES = ("openssh-server", "python3", "sudo")
ADMIN = "admin"  # sudo without a password
CLERK = "clerk"  # sudo with a password it does not have
CLERK_PASSWORD = "clerk-pw-never-typed"

#: commands run in the chroot after debootstrap; part of the cache key
SETUP = (
    "rm -f /etc/ssh/ssh_host_*",
    "mkdir -p /run/sshd",
    # containers lack CAP_AUDIT_CONTROL: pam_loginuid would refuse every login
    "sed -i 's/^session\\s\\+required\\s\\+pam_loginuid.so/session optional pam_loginuid.so/' /etc/pam.d/sshd",
    "sed -i 's/^hosts:.*/hosts: files/' /etc/nsswitch.conf",
    f"useradd -m -s /bin/sh {ADMIN}",
    f"useradd -m -s /bin/sh {CLERK}",
    f"echo '{CLERK}:{CLERK_PASSWORD}' | chpasswd",
    f"echo '{ADMIN} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{ADMIN}",
    f"echo '{CLERK} ALL=(ALL) ALL' > /etc/sudoers.d/{CLERK}",
    "chmod 0440 /etc/sudoers.d/*",
    "apt-get clean",
    "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/*",
)


def recipe_key() -> str:
    """A short hash of everything that goes into the image."""
    return root_key(SUITE, PACKAGES, SETUP)


def root_key(suite: str, packages: Sequence[str], setup: Sequence[str]) -> str:
    """A short hash of a debootstrap recipe (mirror, suite, packages, setup commands)."""
    text = "\n".join([MIRROR, suite, ",".join(packages), *setup, "v1"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def image_tar() -> Path:
    """The image's root filesystem as a tar, built once and cached on disk."""
    return cached_root_tar("sshhost", SUITE, PACKAGES, SETUP)


def cached_root_tar(name: str, suite: str, packages: Sequence[str], setup: Sequence[str]) -> Path:
    """A ``debootstrap --variant=minbase`` root of ``suite`` with ``packages``, then
    ``setup`` run in it, as a tar under CACHE: built once (under a lock: another
    test run may be building it), keyed by the recipe."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tar = CACHE / f"{name}-{root_key(suite, packages, setup)}.tar"
    if tar.exists():
        return tar
    with open(CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be building it
        if tar.exists():
            return tar
        root = Path(tempfile.mkdtemp(prefix="hk-debootstrap-", dir=str(CACHE)))
        try:
            subprocess.run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    "--include=" + ",".join(packages),
                    suite,
                    str(root),
                    MIRROR,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for cmd in setup:
                subprocess.run(["chroot", str(root), "/bin/sh", "-c", cmd], check=True)
            part = tar.with_suffix(".part")
            subprocess.run(
                ["tar", "--numeric-owner", "-C", str(root), "-cf", str(part), "."], check=True
            )
            part.rename(tar)
        finally:
            _rmtree(root)
    return tar


def _rmtree(root: Path) -> None:
    for sub in ("proc", "sys", "dev/pts"):
        subprocess.run(["umount", "-l", str(root / sub)], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def import_image(docker_env: dict[str, str]) -> str:
    """``docker import`` the cached root into the daemon of ``docker_env``; the tag."""
    tag = f"hk-sshhost:{recipe_key()}"
    have = subprocess.run(
        ["docker", "image", "inspect", tag], env=docker_env, capture_output=True, check=False
    )
    if have.returncode != 0:
        subprocess.run(
            ["docker", "import", str(image_tar()), tag],
            env=docker_env,
            check=True,
            capture_output=True,
        )
    return tag


def free_loopback(port: int = 22) -> str:
    """A random 127.x.y.z on which ``port`` can be bound (nobody listens there)."""
    rng = random.SystemRandom()
    for _ in range(200):
        addr = f"127.{rng.randint(100, 250)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        with socket.socket() as s:
            try:
                s.bind((addr, port))
            except OSError:
                continue
        return addr
    raise RuntimeError("no free loopback address found")


@dataclass
class SshHost:
    """One running test host."""

    name: str
    address: str
    port: int
    container: str
    docker_env: dict[str, str]
    host_key: str = ""  # "ssh-ed25519 AAAA..." as known_hosts wants it
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.address if self.port == 22 else f"{self.address}:{self.port}"

    def exec(
        self, script: str, *, input: bytes | None = None, check: bool = True, raw: bool = False
    ) -> Any:
        """Run ``sh -c script`` as root in the container; its stdout (bytes with ``raw``)."""
        r = subprocess.run(
            ["docker", "exec", "-i", self.container, "/bin/sh", "-c", script],
            env=self.docker_env,
            input=input,
            capture_output=True,
            check=False,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"{self.name}: {script!r} failed: {r.stderr.decode()}")
        return r.stdout if raw else r.stdout.decode()

    def put_tree(self, src: Path) -> None:
        """Copy the files below ``src`` (a fixture sysroot) into the container's /,
        except proc/, sys/ and the files docker bind-mounts (hosts, hostname)."""
        tar = subprocess.run(
            [
                "tar",
                "-C",
                str(src),
                "--exclude=./proc",
                "--exclude=./sys",
                "--exclude=./etc/hosts",
                "--exclude=./etc/hostname",
                "-cf",
                "-",
                ".",
            ],
            capture_output=True,
            check=True,
        ).stdout
        self.exec("tar -xf - -C / --no-same-owner --keep-directory-symlink", input=tar)
        hosts = src / "etc" / "hosts"
        if hosts.exists():
            self.write("/etc/hosts", hosts.read_text())

    def write(self, path: str, text: str) -> None:
        self.exec(f"cat > '{path}'", input=text.encode())

    def stop(self) -> None:
        subprocess.run(
            ["docker", "rm", "-f", self.container],
            env=self.docker_env,
            capture_output=True,
            check=False,
        )


def start_host(
    image: str,
    docker_env: dict[str, str],
    name: str,
    authorized_key: str,
    *,
    hosts_lines: Sequence[str] = (),
    volumes: Sequence[str] = (),
) -> SshHost:
    """Run one sshd container on a free loopback address; wait until it answers.
    ``volumes``: ``docker run -v`` specs (the parity test binds in the checkout)."""
    address = free_loopback()
    cname = f"hk-ssh-{name}-{os.getpid()}-{address.replace('.', '-')}"
    setup = (
        "ssh-keygen -A >/dev/null && "
        "for u in root admin clerk; do h=$(eval echo ~$u); mkdir -p $h/.ssh; "
        'printf "%s\\n" "$HK_KEY" > $h/.ssh/authorized_keys; chown -R $u $h/.ssh; '
        "chmod 700 $h/.ssh; chmod 600 $h/.ssh/authorized_keys; done && "
        f"exec /usr/sbin/sshd -D -e -o ListenAddress={address} -o MaxStartups=100"
    )
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            cname,
            "--network",
            "host",
            "--hostname",
            name,
            "-e",
            f"HK_KEY={authorized_key}",
            *[arg for v in volumes for arg in ("-v", v)],
            image,
            "/bin/sh",
            "-c",
            setup,
        ],
        env=docker_env,
        check=True,
        capture_output=True,
    )
    host = SshHost(name, address, 22, cname, docker_env)
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as s:
            s.settimeout(1)
            try:
                s.connect((address, 22))
                banner = s.recv(64)
                if banner.startswith(b"SSH-"):
                    break
            except OSError:
                pass
        if time.monotonic() > deadline:
            logs = subprocess.run(
                ["docker", "logs", cname], env=docker_env, capture_output=True, check=False
            )
            host.stop()
            raise RuntimeError(f"sshd in {name} did not start: {logs.stderr.decode()[-1000:]}")
        time.sleep(0.1)
    host.host_key = " ".join(host.exec("cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2])
    lines = ["127.0.0.1 localhost", *hosts_lines]
    host.write("/etc/hosts", "\n".join(lines) + "\n")
    host.write("/etc/hostname", name + "\n")
    host.write("/etc/resolv.conf", "# no name servers: files only\n")
    return host


@dataclass
class Client:
    """The admin side: a key pair and a known_hosts file in a private folder."""

    home: Path
    key: Path
    known_hosts: Path
    config: Path

    @property
    def public_key(self) -> str:
        return self.key.with_suffix(".pub").read_text().strip()

    def trust(self, hosts: Sequence[SshHost]) -> None:
        with open(self.known_hosts, "a") as f:
            for h in hosts:
                f.write(f"{h.address} {h.host_key}\n")

    def write_config(self, extra: str = "") -> None:
        """An ssh_config that uses this client's key and known_hosts only."""
        self.config.write_text(
            "Host *\n"
            f"  IdentityFile {self.key}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.known_hosts}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  User root\n"
            "  LogLevel ERROR\n" + extra
        )


@contextlib.contextmanager
def make_client() -> Iterator[Client]:
    home = Path(tempfile.mkdtemp(prefix="hk-sshc-"))
    try:
        key = home / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
            check=True,
            capture_output=True,
        )
        known = home / "known_hosts"
        known.touch()
        client = Client(home, key, known, home / "ssh_config")
        client.write_config()
        yield client
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":  # build the cached image ahead of a test run
    print(image_tar())
