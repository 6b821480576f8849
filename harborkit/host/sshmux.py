"""Stopping an OpenSSH ControlMaster by its control socket, without another ``ssh``.

``ssh -O exit`` starts a whole ``ssh`` client (its config read, ``Match exec``
commands run) only to send two small messages over the master's unix socket.
A fleet run stops one master per host, so it sends them itself: the hello of
the multiplexing protocol and ``MUX_C_TERMINATE`` (OpenSSH's PROTOCOL.mux,
version 4), the exact request ``ssh -O exit`` makes. The whole exchange ends
by one deadline (a master that hangs does not answer: the caller then kills it
by its socket path); every read is bounded.
"""

from __future__ import annotations

import socket
import struct
import time

MUX_MSG_HELLO = 0x00000001
MUX_C_TERMINATE = 0x10000005
MUX_S_OK = 0x80000001
MUX_VERSION = 4
#: the largest reply read (a hello with extensions, an error with its reason)
_MAX_PACKET = 1 << 16


class _NoAnswer(Exception):
    pass


def _packet(*words: int) -> bytes:
    body = b"".join(struct.pack(">I", w) for w in words)
    return struct.pack(">I", len(body)) + body


def _read_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _NoAnswer
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise _NoAnswer
        buf += chunk
    return bytes(buf)


def _read_packet(sock: socket.socket, deadline: float) -> bytes:
    (size,) = struct.unpack(">I", _read_exact(sock, 4, deadline))
    if not 4 <= size <= _MAX_PACKET:
        raise _NoAnswer
    return _read_exact(sock, size, deadline)


def terminate(path: str, timeout: float) -> bool:
    """Ask the ControlMaster listening on ``path`` to stop, as ``ssh -O exit``
    does; True when it said it will (``MUX_S_OK``), False when there is no
    master there, it refused, or it did not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(max(0.001, timeout))
            sock.connect(path)
            sock.sendall(_packet(MUX_MSG_HELLO, MUX_VERSION))
            hello = _read_packet(sock, deadline)
            if struct.unpack(">I", hello[:4])[0] != MUX_MSG_HELLO:
                return False
            sock.sendall(_packet(MUX_C_TERMINATE, 1))
            reply = _read_packet(sock, deadline)
            return struct.unpack(">I", reply[:4])[0] == MUX_S_OK
    except (OSError, _NoAnswer, struct.error):
        return False
