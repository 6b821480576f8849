"""The one way harborkit talks to a Docker daemon (checks and bundles alike).

* :func:`connect` opens an SDK client from the environment (``DOCKER_HOST``) and
  pings it; every short call it makes has :data:`CALL_TIMEOUT`.
* :func:`stream` makes a streaming call (pull, save, load) through the SDK's
  public session methods: the daemon must answer within :data:`CALL_TIMEOUT`,
  and a stream that moves no byte for :data:`STALL_TIMEOUT` seconds or runs past
  its deadline fails with :class:`DaemonTimeout` naming the address and the step.

The SDK is imported lazily (it costs ~100 ms). Timeouts can be lowered for slow
CI or tests through ``HARBORKIT_DOCKER_TIMEOUT``/``HARBORKIT_DOCKER_STALL``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from harborkit.errors import DaemonTimeout as DaemonTimeout
from harborkit.errors import DaemonUnreachable as DaemonUnreachable
from harborkit.errors import EnvironmentProblem, HarborkitError
from harborkit.netutil import env_seconds
from harborkit.watch import StreamWatch

if TYPE_CHECKING:  # pragma: no cover
    import docker
    import requests

DEFAULT_HOST = "unix:///var/run/docker.sock"


#: a short call (ping, inspect, tag, remove, version, info) must be answered within this
CALL_TIMEOUT = env_seconds("HARBORKIT_DOCKER_TIMEOUT", 60.0)
#: a streaming call fails when no byte moves for this long
STALL_TIMEOUT = env_seconds("HARBORKIT_DOCKER_STALL", 300.0)
#: a streaming call (pull, save, load of the whole Harbor image set) ends by this deadline
STREAM_DEADLINE = env_seconds("HARBORKIT_DOCKER_DEADLINE", 4 * 3600.0)


class DaemonRefused(Exception):
    """The daemon answered a streaming call with an error status (callers pick the exit code)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def daemon_address() -> str:
    """The daemon address the SDK will use (``DOCKER_HOST`` or the default socket)."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def short_reason(e: BaseException) -> str:
    """First line of an exception's text, without the SDK's long URL prefixes."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300]


def docker_error(e: BaseException) -> str:
    """The cause of a Docker SDK error in a few words of ours, the daemon's own
    explanation (or the library's first line) after it.

    The SDK wraps requests, which wraps urllib3, which wraps the OS error:
    ``('Connection aborted.', FileNotFoundError(2, ...))`` means no socket.
    """
    seen: set[int] = set()
    stack: list[BaseException] = [e]
    status: int | None = None
    explanation = ""
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, FileNotFoundError):
            return "no Docker socket there (is dockerd running?)"
        if isinstance(x, ConnectionRefusedError):
            return "connection refused (is dockerd running and listening there?)"
        if isinstance(x, PermissionError):
            return "permission denied on the socket (run as root or in the docker group)"
        if isinstance(x, (TimeoutError, socket.timeout)) or type(x).__name__ in (
            "ReadTimeout",
            "ConnectTimeout",
        ):
            return "no answer in time (the daemon is busy or hung)"
        code = getattr(getattr(x, "response", None), "status_code", None)
        if status is None and isinstance(code, int):
            status = code
            text = getattr(x, "explanation", None) or getattr(x.response, "text", "")  # type: ignore[attr-defined]
            explanation = (str(text or "").strip().splitlines() or [""])[0][:200]
        stack.extend(a for a in x.args if isinstance(a, BaseException))
        stack.extend(c for c in (x.__cause__, x.__context__) if c is not None)
        reason = getattr(x, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    if status is not None:
        return f"the daemon answered HTTP {status}" + (f": {explanation}" if explanation else "")
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    first = re.sub(r"\s*for url: \S+", "", first)
    return f"{type(e).__name__}: {first[:200]}"


def is_timeout(e: BaseException) -> bool:
    """True for the timeouts of sockets, urllib3 and requests (wrapped or not)."""
    seen = 0
    cur: BaseException | None = e
    while cur is not None and seen < 6:
        if isinstance(cur, (TimeoutError, socket.timeout)):
            return True
        if type(cur).__name__ in {
            "ReadTimeoutError",
            "ConnectTimeoutError",
            "ReadTimeout",
            "Timeout",
        }:
            return True
        cur = (
            cur.__cause__
            or cur.__context__
            or (cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None)
        )
        seen += 1
    return False


class CallDeadline(TimeoutError):
    """A call to the daemon got no complete answer within its deadline (a trickle)."""


def open_client(timeout: float | None = None) -> docker.DockerClient:
    """An SDK client from the environment, not yet pinged (the SDK's own errors propagate).

    Every call has an overall deadline, not only a timeout per socket read (which a
    daemon answering a byte every few seconds never trips): a short call must be
    answered whole within ``timeout`` (:data:`CALL_TIMEOUT`); a streaming call's
    request (a load sends its whole body) and answer within :data:`STREAM_DEADLINE`.
    Past it, the connection is shut down and :class:`CallDeadline` raised.
    """
    import docker
    from docker.constants import MINIMUM_DOCKER_API_VERSION

    seconds = timeout or CALL_TIMEOUT
    # the SDK asks the daemon's API version while it builds the client, before a call can
    # be watched: build it with a fixed version, watch it, then ask (as "auto" would)
    probe = docker.from_env(timeout=max(1, int(seconds)), version=MINIMUM_DOCKER_API_VERSION)
    _watch_calls(probe, seconds)
    try:
        version = str(probe.api.version(api_version=False)["ApiVersion"])
    except docker.errors.DockerException:
        raise
    except Exception as e:  # as the SDK's own probe words it: a DockerException
        raise docker.errors.DockerException(f"Error while fetching server API version: {e}") from e
    finally:
        probe.close()
    # a fixed version: building this client asks the daemon nothing more
    client = docker.from_env(timeout=max(1, int(seconds)), version=version)
    _watch_calls(client, seconds)
    return client


def _watch_calls(client: docker.DockerClient, seconds: float) -> None:
    from harborkit.transfer import watch_pools, watching

    api = client.api
    for adapter in api.adapters.values():
        watch_pools(adapter)
    send = api.send

    def timed_send(request: Any, **kwargs: Any) -> Any:
        limit = STREAM_DEADLINE if kwargs.get("stream") else seconds
        with watching(limit) as d:
            try:
                resp = send(request, **kwargs)
            except Exception as e:
                if d.expired:
                    raise CallDeadline(f"no complete answer within {limit:g} s") from e
                raise
            if d.expired:  # an answer cut off by the shutdown is no answer
                resp.close()
                raise CallDeadline(f"no complete answer within {limit:g} s")
            return resp

    api.send = timed_send


def connect(timeout: float | None = None) -> docker.DockerClient:
    """A pinged SDK client; :class:`DaemonUnreachable` naming the address if it does not answer."""
    address = daemon_address()
    try:
        client = open_client(timeout)
        client.ping()
    except Exception as e:  # the SDK raises DockerException, requests' and OS errors
        why = (
            f"no answer within {timeout or CALL_TIMEOUT:g} s" if is_timeout(e) else short_reason(e)
        )
        raise DaemonUnreachable(f"cannot reach the Docker daemon at {address}: {why}") from e
    return client


class _DockerHost(Protocol):
    def docker_client(self) -> Any: ...


def host_client(host: _DockerHost) -> Any:
    """A Docker SDK client for a host (``host.docker_client()``), or
    :class:`DaemonUnreachable` naming the address and the cause."""
    try:
        return host.docker_client()
    except call_errors() as e:
        raise DaemonUnreachable(
            f"cannot reach the Docker daemon at {daemon_address()}: {docker_error(e)}"
        ) from e


def insecure_registries(info: Any) -> tuple[set[str], list[str]]:
    """What a running dockerd treats as insecure, from its ``docker info``: the
    registries it names (index names) and the networks (CIDRs), as it reports them."""
    registry = (info.get("RegistryConfig") if isinstance(info, dict) else None) or {}
    configs = registry.get("IndexConfigs") if isinstance(registry, dict) else None
    index = {
        str(name)
        for name, conf in (configs.items() if isinstance(configs, dict) else ())
        if isinstance(conf, dict) and not conf.get("Secure", True)
    }
    cidrs = registry.get("InsecureRegistryCIDRs") if isinstance(registry, dict) else None
    return index, [str(c) for c in cidrs or []]


@contextlib.contextmanager
def session(timeout: float | None = None) -> Iterator[docker.DockerClient]:
    """:func:`connect`, closed afterwards."""
    client = connect(timeout)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close()


def _url(client: docker.DockerClient, path: str) -> str:
    api = client.api
    return f"{api.base_url}/v{api.api_version}{path}"


def stream(
    client: docker.DockerClient,
    method: str,
    path: str,
    *,
    what: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    data: Any = None,
) -> requests.Response:
    """A streaming request, answered within :data:`CALL_TIMEOUT`, stalling at most :data:`STALL_TIMEOUT`.

    ``what`` names the step for errors ("exporting the images"). A status >= 400
    raises :class:`DaemonRefused` with the daemon's message.
    """
    try:
        resp = client.api.request(
            method,
            _url(client, path),
            params=params,
            headers=headers,
            data=data,
            stream=True,
            timeout=(CALL_TIMEOUT, STALL_TIMEOUT),
        )
    except Exception as e:
        raise _transport_error(e, what) from e
    if resp.status_code >= 400:
        from harborkit.transfer import watching

        try:
            with watching(CALL_TIMEOUT) as d:  # the error body: bounded, and in time
                d.add(getattr(resp.raw, "connection", None))
                body = resp.raw.read(4096)
            message = str(json.loads(body).get("message") or body.decode("utf-8", "replace"))
        except Exception:  # not JSON, too deep, cut off, too slow: the status says enough
            message = resp.reason or f"HTTP {resp.status_code}"
        finally:
            resp.close()
        raise DaemonRefused(
            resp.status_code,
            message.strip().splitlines()[0] if message.strip() else f"HTTP {resp.status_code}",
        )
    return resp


@contextlib.contextmanager
def daemon_errors(what: str) -> Iterator[None]:
    """Short SDK calls inside: a timeout or a lost connection becomes one line naming ``what``.

    The SDK's API errors (``ImageNotFound``, refusals) pass through for the caller to map.
    """
    try:
        yield
    except Exception as e:
        import docker.errors

        if isinstance(e, (docker.errors.APIError, HarborkitError)):
            raise
        raise _transport_error(e, what, CALL_TIMEOUT) from e


def _transport_error(
    e: BaseException, what: str, waited: float | None = None
) -> EnvironmentProblem:
    address = daemon_address()
    deadline = _call_deadline(e)
    if deadline is not None:
        return DaemonTimeout(f"the Docker daemon at {address} gave {deadline} while {what}")
    if is_timeout(e):
        return DaemonTimeout(
            f"the Docker daemon at {address} sent nothing for {waited or STALL_TIMEOUT:g} s "
            f"while {what}"
        )
    return DaemonUnreachable(
        f"the Docker daemon at {address} failed while {what}: {short_reason(e)}"
    )


def _call_deadline(e: BaseException) -> str | None:
    """The text of a :class:`CallDeadline` in ``e``'s chain, if one is there."""
    cur: BaseException | None = e
    for _ in range(8):
        if cur is None:
            return None
        if isinstance(cur, CallDeadline):
            return str(cur)
        cur = cur.__cause__ or cur.__context__
    return None


class StreamReader:
    """``read(n)`` over a streaming response, with the stall timeout and a deadline."""

    def __init__(self, resp: requests.Response, what: str) -> None:
        self._raw = resp.raw
        self._what = what
        self._watch = StreamWatch(
            window=STALL_TIMEOUT,
            deadline=STREAM_DEADLINE,
            min_bytes=1,
            fail=lambda why: DaemonTimeout(
                f"the Docker daemon at {daemon_address()} {why} while {what}"
            ),
        )

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end).

        Read as each recv brings it (``read1``), the watch ticking on every piece: a
        daemon trickling a byte every few seconds meets the deadline, where one
        ``read(n)`` would wait for all ``n`` bytes, whatever their pace.
        """
        out = bytearray()
        while len(out) < n:
            self._watch.tick(0)
            try:
                piece = bytes(self._raw.read1(min(n - len(out), 1 << 16)))
            except Exception as e:
                raise _transport_error(e, self._what) from e
            if not piece:
                break
            self._watch.tick(len(piece))
            out += piece
        return bytes(out)


def json_events(resp: requests.Response, what: str) -> Iterator[dict[str, Any]]:
    """The JSON messages of a progress stream (pull, load), one per line."""
    reader = StreamReader(resp, what)
    buf = b""
    while True:
        chunk = reader.read(1 << 16)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.strip():
                yield _decode(line)
    if buf.strip():
        yield _decode(buf)


def _decode(line: bytes) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        return {"error": f"unreadable message from the daemon: {line[:200]!r}"}
    return event if isinstance(event, dict) else {"stream": str(event)}


def repo_and_tag(reference: str) -> tuple[str, str]:
    """``(repository, tag or digest)`` as the daemon's pull and tag endpoints take them.

    Parsed by the one image-reference parser (:func:`harborkit.registry.reference.parse_reference`):
    Docker Hub names lose the registry (and ``library/``), others keep ``host[:port]/``.
    """
    from harborkit.registry.reference import is_docker_hub, parse_reference

    ref = parse_reference(reference)
    if is_docker_hub(ref.registry):
        repo = ref.repository.removeprefix("library/")
    else:
        repo = f"{ref.registry}/{ref.repository}"
    return repo, ref.digest or ref.tag or "latest"


def pull(client: docker.DockerClient, reference: str) -> Iterator[dict[str, Any]]:
    """Pull ``reference`` (credentials from the Docker config file); the daemon's progress events."""
    import docker.auth

    repo, tag = repo_and_tag(reference)
    headers: dict[str, str] = {}
    header = docker.auth.get_config_header(client.api, docker.auth.resolve_repository_name(repo)[0])
    if header:
        headers["X-Registry-Auth"] = header
    resp = stream(
        client,
        "POST",
        "/images/create",
        what=f"pulling {reference}",
        params={"fromImage": repo, "tag": tag},
        headers=headers,
    )
    with resp:
        yield from json_events(resp, f"pulling {reference}")


# -- the daemon asked directly (checks of this machine) ------------------------
#
# The checks of a local audit need two answers of the daemon (``docker
# version`` and ``docker info``). Through the SDK that is ~0.1 s of imports
# (docker, requests, urllib3) and three connections; here it is two plain
# HTTP/1.0 requests on the unix socket, each whole within its deadline (a
# daemon answering a byte at a time does not outlast it) and bounded in size.

#: the largest answer read from the daemon for version/info
MAX_ANSWER = 4 * 1024 * 1024


class DaemonCallError(Exception):
    """A version/info request to the daemon failed (the cause is chained, or
    ``status_code``/``explanation`` say what the daemon answered)."""

    def __init__(self, message: str, status_code: int | None = None, text: str = "") -> None:
        super().__init__(message)
        self.explanation = text
        self.response = None if status_code is None else _Answered(status_code, text)


class DockerException(DaemonCallError):
    """A daemon answer that was not usable, worded as the SDK's own error (the
    answers of a snapshot: ``docker_error`` shows the class name)."""


class _Answered:
    def __init__(self, status_code: int, text: str) -> None:
        self.status_code = status_code
        self.text = text


def call_errors() -> tuple[type[BaseException], ...]:
    """What a daemon client's ``version()``/``info()`` raises: :class:`DaemonCallError`,
    and the SDK's ``DockerException`` when the SDK is loaded (else none can occur)."""
    import sys

    sdk = sys.modules.get("docker.errors")
    return (DaemonCallError,) if sdk is None else (DaemonCallError, sdk.DockerException)


def unix_socket() -> str | None:
    """The daemon's unix socket path when ``DOCKER_HOST`` names one (or is unset);
    None for tcp://, ssh:// ... (those go through the SDK)."""
    address = daemon_address()
    if not address.startswith("unix://"):
        return None
    path = address[len("unix://") :]
    return path or None


def get_json(socket_path: str, path: str, timeout: float) -> dict[str, Any]:
    """``GET path`` on the daemon's unix socket: the JSON object answered, whole
    within ``timeout`` seconds, or :class:`DaemonCallError`."""
    import time

    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode("ascii"))
        raw = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallDeadline(f"no complete answer within {timeout:g} s")
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
            if len(raw) > MAX_ANSWER:
                raise DaemonCallError(f"GET {path}: answer larger than {MAX_ANSWER} bytes")
    except OSError as e:  # no socket, refused, permission, timeout (a TimeoutError)
        raise DaemonCallError(f"GET {path}: {e}") from e
    finally:
        sock.close()
    return _answer(bytes(raw), path)


def _answer(raw: bytes, path: str) -> dict[str, Any]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise DaemonCallError(f"GET {path}: not an HTTP answer")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _unchunk(body, path)
    status = int(parts[1])
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if status >= 400:
        message = data.get("message") if isinstance(data, dict) else None
        explanation = str(message) if message else text.strip()
        raise DaemonCallError(f"GET {path}: HTTP {status}", status, explanation)
    if not isinstance(data, dict):
        raise DaemonCallError(f"GET {path}: the answer is not a JSON object")
    return data


def _unchunk(body: bytes, path: str) -> bytes:
    out = bytearray()
    while True:
        size_line, sep, rest = body.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise DaemonCallError(f"GET {path}: a bad chunk in the answer") from None
        if not sep or size < 0:
            raise DaemonCallError(f"GET {path}: a bad chunk in the answer")
        if size == 0:
            return bytes(out)
        out += rest[:size]
        body = rest[size + 2 :]
