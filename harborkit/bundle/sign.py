"""Bundle signatures in minisign's format (Ed25519), checkable with ``minisign -V``.

Why minisign: Debian and RHEL (EPEL) ship ``minisign``; its key and signature
files are small text files a person can paste; it is plain Ed25519 with no
keyring or trust database to set up on an air-gapped host (unlike GnuPG), and
unlike ``ssh-keygen -Y`` its public key is one line with a key id that names the
key in messages. We write the current default, prehashed signatures (``ED``:
Ed25519 over BLAKE2b-512 of the file), with the trusted comment and its global
signature, so ``minisign -Vm SHA256SUMS -p KEY.pub`` checks what we wrote and we
check what ``minisign -S`` wrote. Secret keys may be password-protected exactly
as minisign does it: the key bytes XORed with scrypt (libsodium's
``crypto_pwhash_scryptsalsa208sha256`` parameters) and a BLAKE2b-256 checksum.

Primitives come from ``cryptography`` (Ed25519, scrypt) and ``hashlib``
(BLAKE2b); this module only lays out the bytes.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import secrets
import struct
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harborkit.bundle.errors import BundleError
from harborkit.compat import zip_strict
from harborkit.errors import ExitCode, InputError
from harborkit.fsutil import atomic_write

#: environment variable holding the secret key's password
PASSWORD_ENV = "HARBORKIT_KEY_PASSWORD"
#: the signature member, right after ``SHA256SUMS`` (minisign's default name for its signature)
SIGNATURE_NAME = "SHA256SUMS.minisig"

_ALG = b"Ed"  # key algorithm, and legacy (not prehashed) signatures
_ALG_HASHED = b"ED"  # prehashed signatures: Ed25519 over BLAKE2b-512
_KDF = b"Sc"  # scrypt
_KDF_NONE = b"\0\0"  # unencrypted secret key (minisign -W)
_CHK = b"B2"  # BLAKE2b-256 checksum of the secret key
_COMMENT = "untrusted comment: "
_TRUSTED = "trusted comment: "
#: libsodium's crypto_pwhash_scryptsalsa208sha256_{OPS,MEM}LIMIT_SENSITIVE: what minisign -G uses
SENSITIVE = (33554432, 1073741824)
#: ..._INTERACTIVE: 16 MiB, for throwaway keys (tests)
INTERACTIVE = (524288, 16777216)
_SECRET_LEN = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32
_PUBLIC_LEN = 2 + 8 + 32
_SIG_LEN = 2 + 8 + 64
#: minisign's buffers (minisign.h, base64.h): fgets reads at most size-1 bytes of a line
_COMMENT_MAX = 1024
_TRUSTED_MAX = 8192
_SIG_LINE_MAX = (_SIG_LEN + 2) // 3 * 4 + 1 + 2
_GLOBAL_LINE_MAX = (64 + 2) // 3 * 4 + 1 + 2
_PUBLIC_LINE_MAX = (_PUBLIC_LEN + 2) // 3 * 4 + 1 + 2
#: a signature file is at most its four lines (a few KiB); anything bigger is not read
MAX_SIGNATURE_BYTES = 64 << 10
#: a key file: a comment line and a base64 line (minisign reads no more than this)
MAX_KEY_FILE_BYTES = 64 << 10
#: the largest scrypt limits accepted in a secret key: minisign -G's own (1 GiB)
MAX_KDF = SENSITIVE


class SignatureError(BundleError):
    """A bundle is not signed, signed by another key, or its signature does not match (exit 13)."""

    exit_code = ExitCode.SIGNATURE


class KeyFileError(InputError):
    """A key file is unreadable, malformed, or its password is wrong (exit 2)."""


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key with minisign's 8-byte key id."""

    key_id: bytes
    raw: bytes

    @property
    def id_hex(self) -> str:
        """The key id as minisign prints it (little-endian, upper-case hex)."""
        return f"{struct.unpack('<Q', self.key_id)[0]:016X}"

    def to_text(self) -> str:
        """The ``.pub`` file minisign writes."""
        b64 = base64.b64encode(_ALG + self.key_id + self.raw).decode()
        return f"{_COMMENT}minisign public key {self.id_hex}\n{b64}\n"

    @property
    def base64(self) -> str:
        """The one-line form ``minisign -P`` takes."""
        return base64.b64encode(_ALG + self.key_id + self.raw).decode()


@dataclass(frozen=True)
class SecretKey:
    """An Ed25519 secret key (its 32-byte seed) with its key id."""

    key_id: bytes
    seed: bytes

    @property
    def public(self) -> PublicKey:
        """The matching public key."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        pk = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return PublicKey(self.key_id, pk.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign_raw(self, message: bytes) -> bytes:
        """Ed25519 signature of ``message``."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


@dataclass(frozen=True)
class Verified:
    """A signature that checked out."""

    key: PublicKey
    trusted_comment: str


# --------------------------------------------------------------------------- keys


def generate() -> SecretKey:
    """A new random key pair."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    seed = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return SecretKey(secrets.token_bytes(8), seed)


def _scrypt_params(opslimit: int, memlimit: int) -> tuple[int, int, int]:
    """(N, r, p) from libsodium's opslimit/memlimit, as ``pickparams`` computes them."""
    opslimit = max(opslimit, 32768)
    r = 8
    if opslimit < memlimit // 32:
        p = 1
        max_n = opslimit // (r * 4)
        n_log2 = 1
        while n_log2 < 63 and (1 << n_log2) <= max_n // 2:
            n_log2 += 1
    else:
        max_n = memlimit // (r * 128)
        n_log2 = 1
        while n_log2 < 63 and (1 << n_log2) <= max_n // 2:
            n_log2 += 1
        max_rp = min((opslimit // 4) // (1 << n_log2), 0x3FFFFFFF)
        p = max_rp // r
    return 1 << n_log2, r, max(p, 1)


def _kdf_stream(password: str, salt: bytes, opslimit: int, memlimit: int, length: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    n, r, p = _scrypt_params(opslimit, memlimit)
    return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(password.encode())


def _checksum(key_id: bytes, sk64: bytes) -> bytes:
    return hashlib.blake2b(_ALG + key_id + sk64, digest_size=32).digest()


def secret_key_to_text(
    key: SecretKey, password: str | None, *, limits: tuple[int, int] = SENSITIVE
) -> str:
    """The secret key file minisign writes (encrypted unless ``password`` is None)."""
    sk64 = key.seed + key.public.raw
    if password is None:
        body = (
            _ALG
            + _KDF_NONE
            + _CHK
            + bytes(32)
            + bytes(16)
            + key.key_id
            + sk64
            + bytes(32)  # minisign -W leaves the checksum zero
        )
        return f"{_COMMENT}minisign secret key (not encrypted)\n{base64.b64encode(body).decode()}\n"
    salt = secrets.token_bytes(32)
    ops, mem = limits
    plain = key.key_id + sk64 + _checksum(key.key_id, sk64)
    stream = _kdf_stream(password, salt, ops, mem, len(plain))
    enc = bytes(a ^ b for a, b in zip_strict(plain, stream))
    body = _ALG + _KDF + _CHK + salt + struct.pack("<QQ", ops, mem) + enc
    return f"{_COMMENT}minisign encrypted secret key\n{base64.b64encode(body).decode()}\n"


def _fgets(data: bytes, pos: int, size: int) -> tuple[bytes | None, int]:
    """C ``fgets(buf, size, fp)`` over ``data`` from ``pos``: the bytes read (or ``None`` at
    end of file) and the next position."""
    if pos >= len(data):
        return None, pos
    nl = data.find(b"\n", pos, pos + size - 1)
    end = nl + 1 if nl >= 0 else min(len(data), pos + size - 1)
    return data[pos:end], end


def _trim(line: bytes) -> tuple[bytes, bool]:
    """minisign 0.11's ``trim()`` of a C string: cut at the first NUL, CR or LF; whether
    a LF was there (minisign's "line too long" check)."""
    text = line.split(b"\0", 1)[0]
    had_newline = b"\n" in text
    for stop in (b"\r", b"\n"):
        text = text.split(stop, 1)[0]
    return text, had_newline


def _b64(text: bytes, length: int) -> bytes | None:
    """minisign's strict ``b64_to_bin``: exactly ``length`` bytes, or ``None``."""
    if not text or len(text) % 4:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return raw if len(raw) == length else None


def read_regular_file(path: Path, limit: int, what: str, error: type[InputError]) -> bytes:
    """At most ``limit`` bytes of ``path``, which must be a regular file.

    A FIFO, a device or a folder is refused without blocking (the file is opened
    with ``O_NONBLOCK`` and checked with ``fstat`` before any read); a file
    larger than ``limit`` is refused without being read.
    """
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} {path} is not a regular file")
        if st.st_size > limit:
            raise error(f"{what} {path} has {st.st_size} bytes, more than {limit} allowed")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(1 << 16, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise error(f"{what} {path} has more than {limit} bytes")
        return b"".join(chunks)
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from e
    finally:
        os.close(fd)


def _key_line(text: str, where: str, what: str) -> bytes:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) == 1 and not lines[0].startswith(_COMMENT):
        b64 = lines[0]
    elif len(lines) >= 2 and lines[0].startswith(_COMMENT):
        b64 = lines[1]
    else:
        raise KeyFileError(f"{where} is not a minisign {what} (expected a comment line and a key)")
    try:
        return base64.b64decode(b64, validate=True)
    except ValueError as e:
        raise KeyFileError(f"{where} is not a minisign {what}: the key line is not base64") from e


def parse_public_key(text: str, where: str) -> PublicKey:
    """A public key from the bare base64 line (what ``minisign -P`` takes)."""
    raw = _b64(text.encode(), _PUBLIC_LEN)
    if raw is None or raw[:2] != _ALG:
        raise KeyFileError(f"{where} is not a minisign public key (wrong length or algorithm)")
    return PublicKey(raw[2:10], raw[10:])


def parse_public_key_file(data: bytes, where: str) -> PublicKey:
    """A public key from a ``.pub`` file's bytes, read exactly as ``minisign -p`` reads it.

    The first line is a comment minisign does not look at (a UTF-8 BOM or any
    other text there is accepted, as minisign accepts it); the second line, up
    to a CR or LF, is the base64 key.
    """
    first, pos = _fgets(data, 0, _COMMENT_MAX)
    line, _ = _fgets(data, pos, _PUBLIC_LINE_MAX)
    if first is None or line is None:
        raise KeyFileError(
            f"{where} is not a minisign public key (expected a comment line and a key)"
        )
    raw = _b64(_trim(line)[0], _PUBLIC_LEN)
    if raw is None:
        raise KeyFileError(f"{where} is not a minisign public key: the key line is not base64")
    if raw[:2] != _ALG:
        raise KeyFileError(f"{where} is not a minisign public key (wrong length or algorithm)")
    return PublicKey(raw[2:10], raw[10:])


def load_public_key(spec: str | Path) -> PublicKey:
    """A public key from a file, or the base64 line itself (as ``minisign -P`` takes it)."""
    path = Path(spec)
    if isinstance(spec, str) and not path.exists() and len(spec) == 56 and "/" not in spec[:3]:
        return parse_public_key(spec, "the public key given")
    data = read_regular_file(path, MAX_KEY_FILE_BYTES, "public key", KeyFileError)
    if b"secret key" in data.split(b"\n", 1)[0]:
        raise KeyFileError(f"{path} is a secret key; give the public key (.pub) to verify")
    return parse_public_key_file(data, str(path))


def read_password(path: Path, *, confirm: bool = False) -> str:
    """The password from ``HARBORKIT_KEY_PASSWORD``, else a prompt on the terminal."""
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise KeyFileError(
            f"secret key {path} needs a password: set {PASSWORD_ENV} or run on a terminal"
        )
    pw = getpass.getpass(f"Password for {path}: ")
    if confirm and getpass.getpass("Password again: ") != pw:
        raise KeyFileError("the two passwords differ")
    return pw


def load_secret_key(path: Path, password: str | None = None) -> SecretKey:
    """Read a minisign secret key; an encrypted one is decrypted with ``password``.

    Without ``password`` it is read with :func:`read_password`.
    """
    data = read_regular_file(path, MAX_KEY_FILE_BYTES, "secret key", KeyFileError)
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        raise KeyFileError(f"cannot read secret key {path}: not text") from e
    raw = _key_line(text, str(path), "secret key")
    if len(raw) != _SECRET_LEN or raw[:2] != _ALG or raw[4:6] != _CHK:
        raise KeyFileError(f"{path} is not a minisign secret key (wrong length or algorithm)")
    kdf, salt = raw[2:4], raw[6:38]
    ops, mem = struct.unpack("<QQ", raw[38:54])
    enc = raw[54:]
    if kdf == _KDF_NONE:
        plain = enc
    elif kdf == _KDF:
        if ops > MAX_KDF[0] or mem > MAX_KDF[1]:
            raise KeyFileError(
                f"{path}: scrypt limits opslimit={ops} memlimit={mem} exceed minisign's own "
                f"({MAX_KDF[0]}, {MAX_KDF[1]}); not deriving a key with them"
            )
        pw = password if password is not None else read_password(path)
        try:
            stream = _kdf_stream(pw, salt, ops, mem, len(enc))
        except (ValueError, MemoryError, OverflowError) as e:
            raise KeyFileError(f"{path}: cannot derive its key with scrypt: {e}") from e
        plain = bytes(a ^ b for a, b in zip_strict(enc, stream))
        if _checksum(plain[:8], plain[8:72]) != plain[72:]:
            raise KeyFileError(f"wrong password for secret key {path}")
    else:
        raise KeyFileError(f"{path}: unsupported key derivation {kdf!r}")
    key = SecretKey(plain[:8], plain[8:40])
    if key.public.raw != plain[40:72]:
        raise KeyFileError(f"{path} is damaged: its public half does not match")
    return key


def write_key_pair(
    path: Path, key: SecretKey, password: str | None, *, force: bool = False
) -> tuple[Path, Path]:
    """Write ``path`` (secret, mode 0600) and ``path.pub``; refuse to overwrite unless ``force``."""
    from harborkit.bundle.errors import OutputError

    pub = path.with_name(path.name + ".pub")
    if not force:
        for p in (path, pub):
            if p.exists():
                raise KeyFileError(f"{p} already exists; not overwriting it (--force replaces it)")
    secret_text = secret_key_to_text(key, password)
    try:
        for target, text, mode in ((path, secret_text, 0o600), (pub, key.public.to_text(), 0o644)):
            atomic_write(target, text.encode(), mode=mode)
    except OSError as e:
        raise OutputError(f"cannot write key {path}: {e.strerror or e}") from e
    return path, pub


# --------------------------------------------------------------------------- signatures


def sign(key: SecretKey, data: bytes, file_name: str, trusted_comment: str | None = None) -> bytes:
    """A prehashed minisign signature file for ``data`` (named ``file_name`` in the comment)."""
    digest = hashlib.blake2b(data, digest_size=64).digest()
    sig = key.sign_raw(digest)
    trusted = trusted_comment or f"timestamp:{int(time.time())}\tfile:{file_name}\thashed"
    global_sig = key.sign_raw(sig + trusted.encode())
    return (
        f"{_COMMENT}signature from harborkit secret key {key.public.id_hex}\n"
        f"{base64.b64encode(_ALG_HASHED + key.key_id + sig).decode()}\n"
        f"{_TRUSTED}{trusted}\n"
        f"{base64.b64encode(global_sig).decode()}\n"
    ).encode()


def signature_key_id(sig_file: bytes, where: str) -> str:
    """The key id a signature file names, as minisign prints it (for messages)."""
    return f"{struct.unpack('<Q', _parse_signature(sig_file, where)[1])[0]:016X}"


def _parse_signature(sig_file: bytes, where: str) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """(algorithm, key id, signature, trusted comment, global signature), read exactly as
    ``minisign -V`` (0.11) reads a signature file: four ``fgets`` lines of bounded
    length, each cut at its first NUL, CR or LF; the trusted comment is every
    byte after ``trusted comment: `` up to there (spaces, tabs, form feeds
    included), which is what the global signature covers."""
    bad = f"{where} is not a minisign signature"
    if len(sig_file) > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"{bad} (it has {len(sig_file)} bytes; a signature has a few hundred)")
    line, pos = _fgets(sig_file, 0, _COMMENT_MAX)
    comment, newline = _trim(line or b"")
    if line is None or not newline:
        raise SignatureError(f"{bad} (its first line is missing or too long)")
    if not comment.startswith(_COMMENT.encode()):
        raise SignatureError(f"{bad} (its first line does not start with {_COMMENT!r})")
    line, pos = _fgets(sig_file, pos, _SIG_LINE_MAX)
    sig_line, newline = _trim(line or b"")
    if line is None or not newline:
        raise SignatureError(f"{bad} (its signature line is missing or too long)")
    line, pos = _fgets(sig_file, pos, _TRUSTED_MAX)
    if line is None:
        raise SignatureError(f"{bad} (no trusted comment)")
    if not line.split(b"\0", 1)[0].startswith(_TRUSTED.encode()):
        raise SignatureError(f"{bad} (its third line does not start with {_TRUSTED!r})")
    trusted, newline = _trim(line[len(_TRUSTED) :])
    if not newline:
        raise SignatureError(f"{bad} (its trusted comment is too long)")
    line, pos = _fgets(sig_file, pos, _GLOBAL_LINE_MAX)
    if line is None:
        raise SignatureError(f"{bad} (no global signature line)")
    raw = _b64(sig_line, _SIG_LEN)
    global_sig = _b64(_trim(line)[0], 64)
    if raw is None or global_sig is None:
        raise SignatureError(f"{bad} (bad base64)")
    if raw[:2] not in (_ALG, _ALG_HASHED):
        raise SignatureError(f"{bad} (unsupported signature algorithm)")
    return raw[:2], raw[2:10], raw[10:], trusted, global_sig


def _check_key(key: PublicKey, key_id: bytes, where: str) -> None:
    if key_id != key.key_id:
        other = f"{struct.unpack('<Q', key_id)[0]:016X}"
        raise SignatureError(f"{where} is signed by key {other}, not by the given key {key.id_hex}")


def verify(key: PublicKey, data: bytes, sig_file: bytes, where: str) -> Verified:
    """Check ``sig_file`` over ``data`` with ``key``; :class:`SignatureError` names what is wrong."""
    return verify_stream(key, [data], sig_file, where)


def verify_stream(
    key: PublicKey, chunks: Iterable[bytes], sig_file: bytes, where: str, *, legacy_limit: int = 0
) -> Verified:
    """:func:`verify` over data given in ``chunks`` (read as they are hashed).

    A prehashed (``ED``) signature needs only the BLAKE2b-512 of the data, so
    any size is checked in constant memory; a legacy (``Ed``) one signs the
    data itself, which is then joined only up to ``legacy_limit`` bytes (when
    ``legacy_limit`` is not 0) and refused beyond.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    alg, key_id, sig, trusted, global_sig = _parse_signature(sig_file, where)
    _check_key(key, key_id, where)
    altered = f"{where} does not match the signed data: it was altered after signing"
    if alg == _ALG_HASHED:
        h = hashlib.blake2b(digest_size=64)
        for chunk in chunks:
            h.update(chunk)
        message = h.digest()
    else:
        parts: list[bytes] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if legacy_limit and size > legacy_limit:
                raise SignatureError(altered)
            parts.append(chunk)
        message = b"".join(parts)
    pk = Ed25519PublicKey.from_public_bytes(key.raw)
    try:
        pk.verify(sig, message)
    except InvalidSignature as e:
        raise SignatureError(altered) from e
    try:
        pk.verify(global_sig, sig + trusted)
    except InvalidSignature as e:
        raise SignatureError(f"{where}: the trusted comment was altered after signing") from e
    return Verified(key, trusted.decode("utf-8", "replace"))
