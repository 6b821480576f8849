"""minisign-format keys and signatures: checked against the real ``minisign`` both ways."""

from __future__ import annotations

import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harborkit.bundle import sign
from harborkit.errors import ExitCode

MINISIGN = shutil.which("minisign")
pytestmark = pytest.mark.skipif(
    MINISIGN is None, reason="minisign is not installed (make test installs it)"
)

DATA = b"0" * 64 + b"  images/manifest.json\n"


def _minisign(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    assert MINISIGN is not None
    return subprocess.run(
        [MINISIGN, *args], capture_output=True, text=True, input=input, timeout=120
    )


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    p = tmp_path / "SHA256SUMS"
    p.write_bytes(DATA)
    return p


def test_our_signature_verifies_with_minisign(tmp_path: Path, data_file: Path) -> None:
    key = sign.generate()
    sign.write_key_pair(tmp_path / "k", key, None)
    (tmp_path / "SHA256SUMS.minisig").write_bytes(sign.sign(key, DATA, "SHA256SUMS"))
    r = _minisign("-Vm", str(data_file), "-p", str(tmp_path / "k.pub"))
    assert r.returncode == 0, r.stderr
    assert "Signature and comment signature verified" in r.stdout
    r = _minisign("-Vm", str(data_file), "-P", key.public.base64)
    assert r.returncode == 0, r.stderr


def test_minisign_signature_verifies_with_us(tmp_path: Path, data_file: Path) -> None:
    r = _minisign("-G", "-W", "-p", str(tmp_path / "m.pub"), "-s", str(tmp_path / "m.key"))
    assert r.returncode == 0, r.stderr
    r = _minisign("-S", "-s", str(tmp_path / "m.key"), "-m", str(data_file))
    assert r.returncode == 0, r.stderr
    pub = sign.load_public_key(tmp_path / "m.pub")
    got = sign.verify(pub, DATA, (tmp_path / "SHA256SUMS.minisig").read_bytes(), "sig")
    assert got.trusted_comment.endswith("file:SHA256SUMS\thashed")
    # and the unencrypted secret key minisign wrote signs here, verified by minisign
    key = sign.load_secret_key(tmp_path / "m.key")
    assert key.public == pub
    (tmp_path / "SHA256SUMS.minisig").write_bytes(sign.sign(key, DATA, "SHA256SUMS"))
    assert _minisign("-Vm", str(data_file), "-p", str(tmp_path / "m.pub")).returncode == 0


def test_password_key_made_by_minisign_signs_here(tmp_path: Path, data_file: Path) -> None:
    r = _minisign(
        "-G", "-p", str(tmp_path / "m.pub"), "-s", str(tmp_path / "m.key"), input="s3cret\ns3cret\n"
    )
    assert r.returncode == 0, r.stderr
    key = sign.load_secret_key(tmp_path / "m.key", "s3cret")
    (tmp_path / "SHA256SUMS.minisig").write_bytes(sign.sign(key, DATA, "SHA256SUMS"))
    r = _minisign("-Vm", str(data_file), "-p", str(tmp_path / "m.pub"))
    assert r.returncode == 0, r.stderr


def test_password_key_made_here_signs_with_minisign(tmp_path: Path, data_file: Path) -> None:
    key = sign.generate()
    (tmp_path / "h.key").write_text(sign.secret_key_to_text(key, "pw", limits=sign.INTERACTIVE))
    (tmp_path / "h.pub").write_text(key.public.to_text())
    r = _minisign("-S", "-s", str(tmp_path / "h.key"), "-m", str(data_file), input="pw\n")
    assert r.returncode == 0, r.stderr
    got = sign.verify(key.public, DATA, (tmp_path / "SHA256SUMS.minisig").read_bytes(), "sig")
    assert "file:SHA256SUMS" in got.trusted_comment
    assert sign.load_secret_key(tmp_path / "h.key", "pw") == key
    with pytest.raises(sign.KeyFileError) as exc:
        sign.load_secret_key(tmp_path / "h.key", "wrong")
    assert exc.value.message == f"wrong password for secret key {tmp_path / 'h.key'}"
    assert exc.value.exit_code == ExitCode.USAGE


def test_tampered_data_with_a_valid_looking_signature_is_refused() -> None:
    key = sign.generate()
    sig = sign.sign(key, DATA, "SHA256SUMS")
    tampered = DATA.replace(b"0" * 64, b"1" * 64)
    with pytest.raises(sign.SignatureError) as exc:
        sign.verify(key.public, tampered, sig, "b.tar: SHA256SUMS.minisig")
    assert exc.value.exit_code == ExitCode.SIGNATURE
    assert exc.value.message == (
        "b.tar: SHA256SUMS.minisig does not match the signed data: it was altered after signing"
    )


def test_signature_by_another_key_is_refused() -> None:
    signer, other = sign.generate(), sign.generate()
    sig = sign.sign(signer, DATA, "SHA256SUMS")
    with pytest.raises(sign.SignatureError) as exc:
        sign.verify(other.public, DATA, sig, "sig")
    assert exc.value.message == (
        f"sig is signed by key {signer.public.id_hex}, not by the given key {other.public.id_hex}"
    )


def test_altered_trusted_comment_is_refused() -> None:
    key = sign.generate()
    lines = sign.sign(key, DATA, "SHA256SUMS").decode().splitlines()
    lines[2] = "trusted comment: timestamp:0\tfile:other"
    with pytest.raises(sign.SignatureError) as exc:
        sign.verify(key.public, DATA, ("\n".join(lines) + "\n").encode(), "sig")
    assert exc.value.message == "sig: the trusted comment was altered after signing"


def test_malformed_files_get_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.pub").write_text("hello\nworld\n")
    with pytest.raises(sign.KeyFileError) as exc:
        sign.load_public_key(tmp_path / "bad.pub")
    assert (
        exc.value.message
        == f"{tmp_path / 'bad.pub'} is not a minisign public key: the key line is not base64"
    )
    (tmp_path / "one.pub").write_text("hello\n")
    with pytest.raises(sign.KeyFileError) as exc:
        sign.load_public_key(tmp_path / "one.pub")
    assert (
        exc.value.message
        == f"{tmp_path / 'one.pub'} is not a minisign public key (expected a comment line and a key)"
    )
    with pytest.raises(sign.SignatureError) as sexc:
        sign.verify(sign.generate().public, DATA, b"not a signature\n", "sig")
    assert sexc.value.message == (
        "sig is not a minisign signature (its first line does not start with 'untrusted comment: ')"
    )


def test_scrypt_parameters_match_libsodium() -> None:
    # minisign -G stores these limits; libsodium turns them into N=2^20, r=8, p=1
    assert sign._scrypt_params(*sign.SENSITIVE) == (1 << 20, 8, 1)
    assert sign._scrypt_params(*sign.INTERACTIVE) == (1 << 14, 8, 1)


def test_keygen_with_a_password_from_the_environment(tmp_path: Path, data_file: Path) -> None:
    """`bundle keygen` encrypts with minisign's own scrypt limits: minisign -S opens the key."""
    import os
    import sys

    env = dict(os.environ, HARBORKIT_KEY_PASSWORD="correct horse")
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "bundle", "keygen", "-o", str(tmp_path / "k")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"secret key {tmp_path / 'k'} (password-protected)"
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    r = _minisign("-S", "-s", str(tmp_path / "k"), "-m", str(data_file), input="correct horse\n")
    assert r.returncode == 0, r.stderr
    assert _minisign("-Vm", str(data_file), "-p", str(tmp_path / "k.pub")).returncode == 0
    # without the password and without a terminal: one line, exit 2
    env.pop("HARBORKIT_KEY_PASSWORD")
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "bundle", "keygen", "-o", str(tmp_path / "k2")],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert r.returncode == ExitCode.USAGE
    assert r.stderr.strip() == (
        f"harborkit: error: secret key {tmp_path / 'k2'} needs a password: "
        "set HARBORKIT_KEY_PASSWORD or run on a terminal"
    )


# ------------------------------------------------------------------ byte for byte as minisign -V (issue 19, class 3)


@pytest.fixture(scope="module")
def mkey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unencrypted key pair made by minisign itself: ``k.key`` and ``k.pub``."""
    d = tmp_path_factory.mktemp("mkey")
    r = _minisign("-G", "-W", "-p", str(d / "k.pub"), "-s", str(d / "k.key"))
    assert r.returncode == 0, r.stderr
    return d


def _verdicts(d: Path, sig: bytes, pub: bytes | None = None) -> tuple[bool, bool]:
    """(minisign -V accepts, harborkit accepts) the signature file ``sig`` over DATA."""
    (d / "SHA256SUMS").write_bytes(DATA)
    (d / "v.minisig").write_bytes(sig)
    pub_path = d / "v.pub"
    pub_path.write_bytes(pub if pub is not None else (d / "k.pub").read_bytes())
    r = _minisign("-Vm", str(d / "SHA256SUMS"), "-x", str(d / "v.minisig"), "-p", str(pub_path))
    try:
        sign.verify(sign.load_public_key(pub_path), DATA, sig, "sig")
        ours = True
    except (sign.SignatureError, sign.KeyFileError):
        ours = False
    return r.returncode == 0, ours


# comments minisign -S -t signs as given: separators Python's splitlines/strip would eat
MINISIGN_COMMENTS = {
    "trailing-space": "timestamp:1 file:SHA256SUMS ",
    "trailing-tab": "timestamp:1\tfile:SHA256SUMS\t",
    "form-feed": "release\x0cnotes",
    "vertical-tab": "release\x0bnotes",
    "file-separators": "a\x1cb\x1dc\x1ed",
    "unicode-separators": "a\u2028b\u0085c",
    "leading-space": "  padded",
}


@pytest.mark.parametrize("name", sorted(MINISIGN_COMMENTS))
def test_minisign_trusted_comments_verify_here(mkey: Path, tmp_path: Path, name: str) -> None:
    comment = MINISIGN_COMMENTS[name]
    (tmp_path / "SHA256SUMS").write_bytes(DATA)
    r = _minisign(
        "-S", "-s", str(mkey / "k.key"), "-m", str(tmp_path / "SHA256SUMS"), "-t", comment
    )
    assert r.returncode == 0, r.stderr
    sig = (tmp_path / "SHA256SUMS.minisig").read_bytes()
    (tmp_path / "k.pub").write_bytes((mkey / "k.pub").read_bytes())
    assert _verdicts(tmp_path, sig) == (True, True)
    got = sign.verify(sign.load_public_key(mkey / "k.pub"), DATA, sig, "sig")
    assert got.trusted_comment == comment


def _edit_line(sig: bytes, index: int, edit: Callable[[bytes], bytes]) -> bytes:
    lines = sig.split(b"\n")
    lines[index] = edit(lines[index])
    return b"\n".join(lines)


# edits of a signature harborkit made: minisign's verdict on each is the expected one
SIG_EDITS: dict[str, tuple[Callable[[bytes], bytes], bool]] = {
    "comment+space": (lambda s: _edit_line(s, 2, lambda x: x + b" "), False),
    "comment+tab": (lambda s: _edit_line(s, 2, lambda x: x + b"\t"), False),
    "comment+formfeed": (lambda s: _edit_line(s, 2, lambda x: x + b"\x0c"), False),
    "comment-space-after-prefix": (
        lambda s: _edit_line(s, 2, lambda x: x.replace(b": ", b":  ", 1)),
        False,
    ),
    "comment+nul+junk": (lambda s: _edit_line(s, 2, lambda x: x + b"\0junk"), False),
    "comment+cr+junk": (lambda s: _edit_line(s, 2, lambda x: x + b"\rjunk"), True),
    "crlf-lines": (lambda s: s.replace(b"\n", b"\r\n"), True),
    "no-final-newline": (lambda s: s.rstrip(b"\n"), True),
    "lines-after": (lambda s: s + b"anything\nelse\n", True),
    "sig-line+space": (lambda s: _edit_line(s, 1, lambda x: x + b" "), False),
    "global-line+space": (lambda s: _edit_line(s, 3, lambda x: x + b" "), False),
    "bom-first-line": (lambda s: b"\xef\xbb\xbf" + s, False),
    "untrusted-edited": (lambda s: _edit_line(s, 0, lambda x: x + b" (edited)"), True),
    "untrusted-too-long": (lambda s: _edit_line(s, 0, lambda x: x + b"x" * 1100), False),
    "comment-too-long": (lambda s: _edit_line(s, 2, lambda x: x + b"x" * 8200), False),
    "comment-line-missing": (lambda s: b"\n".join(s.split(b"\n")[:2]) + b"\n", False),
}


@pytest.mark.parametrize("name", sorted(SIG_EDITS))
def test_edited_signatures_judged_as_minisign_judges_them(
    mkey: Path, tmp_path: Path, name: str
) -> None:
    edit, accepted = SIG_EDITS[name]
    key = sign.load_secret_key(mkey / "k.key")
    sig = edit(sign.sign(key, DATA, "SHA256SUMS"))
    assert _verdicts(mkey, sig) == (accepted, accepted)


PUB_EDITS: dict[str, tuple[Callable[[bytes], bytes], bool]] = {
    "bom": (lambda p: b"\xef\xbb\xbf" + p, True),
    "crlf": (lambda p: p.replace(b"\n", b"\r\n"), True),
    "no-final-newline": (lambda p: p.rstrip(b"\n"), True),
    "any-first-line": (lambda p: b"my key\n" + p.split(b"\n", 1)[1], True),
    "key-line+space": (lambda p: _edit_line(p, 1, lambda x: x + b" "), False),
    "key-line-only": (lambda p: p.split(b"\n")[1] + b"\n", False),
    "blank-line-first": (lambda p: b"\n" + p, False),
}


@pytest.mark.parametrize("name", sorted(PUB_EDITS))
def test_public_key_files_judged_as_minisign_judges_them(
    mkey: Path, tmp_path: Path, name: str
) -> None:
    edit, accepted = PUB_EDITS[name]
    key = sign.load_secret_key(mkey / "k.key")
    sig = sign.sign(key, DATA, "SHA256SUMS")
    assert _verdicts(mkey, sig, edit((mkey / "k.pub").read_bytes())) == (accepted, accepted)


# ------------------------------------------------------------------ scrypt limits in a secret key (class 6)


def _forged_secret_key(path: Path, ops: int, mem: int) -> None:
    import base64
    import os
    import struct

    body = b"EdScB2" + os.urandom(32) + struct.pack("<QQ", ops, mem) + os.urandom(104)
    path.write_text(f"untrusted comment: forged\n{base64.b64encode(body).decode()}\n")


@pytest.mark.parametrize(
    ("ops", "mem"),
    [(2**63, 2**63), (2**64 - 1, 16 << 20), (524288, 2**63), (sign.SENSITIVE[0] + 1, 1 << 20)],
    ids=["both-2^63", "ops-max", "mem-2^63", "ops-just-over"],
)
def test_scrypt_limits_beyond_minisigns_are_refused(tmp_path: Path, ops: int, mem: int) -> None:
    key = tmp_path / "forged.key"
    _forged_secret_key(key, ops, mem)
    with pytest.raises(sign.KeyFileError) as exc:
        sign.load_secret_key(key, "pw")
    assert exc.value.message == (
        f"{key}: scrypt limits opslimit={ops} memlimit={mem} exceed minisign's own "
        f"({sign.SENSITIVE[0]}, {sign.SENSITIVE[1]}); not deriving a key with them"
    )
    import os
    import sys

    env = dict(os.environ, HARBORKIT_KEY_PASSWORD="pw")
    r = subprocess.run(
        [sys.executable, "-m", "harborkit", "bundle", "build", "--no-pull", "--sign", str(key),
         "-o", str(tmp_path / "b.tar")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert r.stderr.strip() == f"harborkit: error: {exc.value.message}"
