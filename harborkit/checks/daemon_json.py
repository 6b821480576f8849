"""Checks of /etc/docker/daemon.json: the insecure-registries entry for a plain-HTTP Harbor."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harborkit.checks import _harbor
from harborkit.checks.docker import DaemonUnreachable, docker_address, docker_error
from harborkit.dockerapi import host_client
from harborkit.host.interface import Host
from harborkit.model.check import Check, CheckContext, Finding, Outcome, Severity, SkipCheck, Status
from harborkit.yamlfile import JsonRefused, parse_json

if TYPE_CHECKING:
    from harborkit.model.change import Change

DEFAULT_PATH = "/etc/docker/daemon.json"
#: the drop-in that clears daemon.json from docker.service's EnvironmentFile= list
ENVFILE_DROPIN = "/etc/systemd/system/docker.service.d/90-harbor-environmentfile.conf"
TYPOGRAPHIC_QUOTES = "\u201c\u201d\u2018\u2019"

#: insecure ranges every dockerd has without being told
DOCKER_DEFAULT_CIDRS = frozenset({"127.0.0.0/8", "::1/128"})
#: findings whose skip means Harbor's entry was not judged
_JUDGED_SUBJECTS = ("daemon.json", "insecure-registries")


@dataclass(frozen=True)
class DaemonJson:
    """daemon.json as read: absent, broken (``error``) or parsed (``data``)."""

    path: str
    exists: bool
    data: Any = None
    error: Finding | None = None
    #: findings about a file dockerd still starts with (more after its JSON value)
    notes: tuple[Finding, ...] = ()

    @property
    def insecure_registries(self) -> list[str] | None:
        """The list when the file parsed and holds a list of strings, else None."""
        if not isinstance(self.data, dict):
            return None
        value = self.data.get("insecure-registries")
        if value is None:  # absent or null: dockerd starts with none
            return []
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None


def daemon_json_path(ctx: CheckContext) -> str:
    return str((ctx.profile.get("daemon_json") or {}).get("path", DEFAULT_PATH))


def read_daemon_json(ctx: CheckContext) -> DaemonJson:
    path = daemon_json_path(ctx)
    return ctx.memo(f"daemon.json:{path}", lambda: _read(ctx.host, path))


def _read(host: Host, path: str) -> DaemonJson:
    try:
        text = host.read_text(path)
    except FileNotFoundError:
        return DaemonJson(path, exists=False)
    except OSError as e:
        return DaemonJson(
            path, True, error=Finding(Status.FAIL, "daemon.json", f"cannot read: {e.strerror}")
        )
    try:
        data = parse_json(text)
    except JsonRefused as e:
        return DaemonJson(
            path,
            True,
            error=Finding(
                Status.FAIL,
                "daemon.json",
                f"line {e.lineno} column {e.colno}: {e.msg}",
                location=f"{path}:{e.lineno}:{e.colno}",
            ),
        )
    except json.JSONDecodeError as e:
        first = _first_value(text, e)
        if first is None:
            message, location = json_problem(text, e, path)
            return DaemonJson(
                path, True, error=Finding(Status.FAIL, "daemon.json", message, location=location)
            )
        data = first
        notes = (
            Finding(
                Status.WARN,
                "daemon.json",
                f"line {e.lineno} column {e.colno}: more after the JSON object; dockerd "
                "reads the first value and ignores the rest (remove it)",
                location=f"{path}:{e.lineno}:{e.colno}",
            ),
        )
        if isinstance(data, dict):
            return DaemonJson(path, True, data, notes=notes)
    if data is None:  # "null": dockerd starts as with an empty file of settings
        data = {}
    if not isinstance(data, dict):
        return DaemonJson(
            path,
            True,
            data,
            Finding(
                Status.FAIL,
                "daemon.json",
                f"must be a JSON object, not {type(data).__name__}",
                location=f"{path}:1",
            ),
        )
    return DaemonJson(path, True, data)


def _first_value(text: str, e: json.JSONDecodeError) -> Any:
    """The first JSON value of ``text`` when what breaks it is more text after
    that value (dockerd decodes one value and ignores the rest), else None."""
    if e.msg != "Extra data":
        return None
    try:
        return parse_json(text[: e.pos])
    except (json.JSONDecodeError, JsonRefused):
        return None


def _same_json(old: bytes, data: Any) -> bool:
    """``old`` is exactly one JSON value equal to ``data`` (nothing after it)."""
    try:
        return bool(json.loads(old) == data)
    except ValueError:
        return False


def json_problem(text: str, e: json.JSONDecodeError, path: str) -> tuple[str, str]:
    """The message and ``file:line:col`` of a JSON syntax error; typographic quotes named."""
    bad = text[e.pos : e.pos + 1]
    tail = "; dockerd will not start with this file"
    if bad and bad in TYPOGRAPHIC_QUOTES:
        count = sum(text.count(q) for q in TYPOGRAPHIC_QUOTES)
        more = f" ({count} typographic quotes in the file)" if count > 1 else ""
        message = (
            f"line {e.lineno} column {e.colno}: typographic quote {bad} (U+{ord(bad):04X}) "
            f'where JSON needs a plain "{more}{tail}'
        )
    else:
        message = f"line {e.lineno} column {e.colno}: {e.msg}{tail}"
    return message, f"{path}:{e.lineno}:{e.colno}"


def _strip_scheme(entry: str) -> str:
    entry = entry.strip()
    if "://" in entry:
        entry = entry.split("://", 1)[1]
    return entry.rstrip("/")


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in entry:
        return None
    address, _, bits = entry.partition("/")
    bits = _no_leading_zeros(bits)  # Go reads "/0008" as /8
    if len(bits) > 3:
        return None
    try:
        net = ipaddress.ip_network(f"{address}/{bits}", strict=False)
    except ValueError:
        return None
    mapped = getattr(net.network_address, "ipv4_mapped", None)
    if mapped is not None and net.prefixlen >= 96:
        # Go keeps an IPv4-mapped network as IPv4: dockerd lists ::ffff:1.2.3.4/104 as 1.0.0.0/8
        return ipaddress.ip_network(f"{mapped}/{net.prefixlen - 96}")
    return net


def _no_leading_zeros(digits: str) -> str:
    """ASCII digits without their leading zeros ("0" stays): Go's number
    parsers take any number of them, and Python's int() refuses past 4300
    digits."""
    return digits.lstrip("0") or ("0" if digits else "")


def _registry_host(entry: str) -> str:
    """The host of a ``host[:port]`` entry: an IPv6 address in brackets
    (``[fd00::5]:5000``) or bare (``fd00::5``), a name or an IPv4 address."""
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    return entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry


def covers(entry: str, hostname: str, port: int) -> bool:
    """True when an insecure-registries entry makes docker talk HTTP to hostname:port."""
    e = _strip_scheme(entry)
    if e == f"{hostname}:{port}" or (port == 80 and e == hostname):
        return True
    net = _network(e)
    if net is None:
        return False
    try:  # an IPv6 Harbor given in brackets ([fd00::5]:5000) is that address
        return ipaddress.ip_address(hostname.removeprefix("[").removesuffix("]")) in net
    except ValueError:
        return False


# dockerd's own checks of its registry options at start (moby registry/config.go,
# as in the docker.io 20.10 that the guide's hosts run): an entry it refuses stops
# the daemon ("failed to start daemon: insecure registry x.x.x.x:port is not
# valid: invalid host "x.x.x.x""). tests/checks/test_daemon_json_dockerd.py holds
# every rule against a real dockerd started with the same file.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST_PORT = re.compile(rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?")
_CIDR = re.compile(r"[0-9A-Fa-f:.]+/[0-9]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def _go_ip(text: str) -> bool:
    """Go's ``net.ParseIP``: a dotted IPv4 (no leading zeros) or an IPv6 address, no zone."""
    if "%" in text or not text.isascii():
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _go_split_host_port(text: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort``: (host, port), or None where Go returns an error."""
    i = text.rfind(":")
    if i < 0:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or end + 1 != i or "[" in text[1:end] or "]" in text[end + 1 :]:
            return None
        return text[1:end], text[i + 1 :]
    host = text[:i]
    if ":" in host or "[" in host or "]" in host or "]" in text[i + 1 :]:
        return None
    return host, text[i + 1 :]


def insecure_entry_refused(entry: str) -> str | None:
    """Why dockerd refuses this ``insecure-registries`` entry at start, or None."""
    if entry.startswith("-") or entry.endswith("-"):
        return "cannot begin or end with a hyphen"
    lower = entry.lower()
    if lower.startswith("http://"):
        entry = entry[7:]
    elif lower.startswith("https://"):
        entry = entry[8:]
    elif "://" in entry:
        return "should not contain '://'"
    if _CIDR.fullmatch(entry):
        address, bits = entry.split("/", 1)
        if _go_ip(address):
            limit = 32 if ":" not in address else 128
            bits = _no_leading_zeros(bits)
            if len(bits) <= 3 and int(bits) <= limit:
                return None
    split = _go_split_host_port(entry)
    host, port = split if split is not None else (entry, "")
    if not _HOST_PORT.fullmatch(entry) and not _go_ip(host):
        return f'invalid host "{host}"'
    if port:
        if not re.fullmatch(r"[+-]?[0-9]+", port):
            return f'port "{port}" is not a number'
        sign, digits = (port[0], port[1:]) if port[0] in "+-" else ("", port)
        digits = _no_leading_zeros(digits)
        if len(digits) > 5 or not 0 <= int(sign + digits) <= 65535:
            return f'invalid port "{port}"'
    return None


#: the ASCII bytes Go's url package lets stand unescaped in a host or an IPv6 zone
_HOST_BYTES = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!$&'()*+,;=:[]<>\"-_.~"
)
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _go_unescape_ok(text: str, *, zone: bool = False) -> bool:
    """Go's ``unescape`` in host (or zone) mode accepts ``text``: every ``%``
    starts two hex digits; in a host only a non-ASCII byte or ``%25`` may be
    escaped, in a zone only a byte that could stand unescaped (or a space);
    other ASCII bytes must be host bytes."""
    b = text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x25:  # %
            if i + 2 >= len(b) or b[i + 1] not in _HEX or b[i + 2] not in _HEX:
                return False
            triple = b[i : i + 3]
            value = int(triple[1:], 16)
            if not zone and value < 0x80 and triple != b"%25":
                return False
            if zone and triple != b"%25" and value != 0x20 and value not in _HOST_BYTES:
                return False
            i += 3
            continue
        if c < 0x80 and c not in _HOST_BYTES:
            return False
        i += 1
    return True


def _go_host_ok(host: str) -> str | None:
    """Go's ``parseHost`` (url.Parse): why it refuses ``host[:port]``, or None."""
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0:
            return "not a valid URI (missing ']' in host)"
        port = host[close + 1 :]
        inner = host[:close]
        zone = inner.find("%25")
        if zone >= 0:
            ok = (
                _go_unescape_ok(inner[:zone])
                and _go_unescape_ok(inner[zone:], zone=True)
                and _go_unescape_ok(host[close:])
            )
        else:
            ok = _go_unescape_ok(host)
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
        ok = _go_unescape_ok(host)
    if port and not (port.startswith(":") and (port == ":" or _ASCII_DIGITS.fullmatch(port[1:]))):
        return f'invalid port "{port}"'
    if not ok:
        return "not a valid URI (a character or escape not allowed in a host name)"
    return None


def mirror_refused(entry: str) -> str | None:
    """Why dockerd refuses this ``registry-mirrors`` entry at start (Go's
    ``url.Parse``, then http or https with nothing after the host), or None."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in entry):
        return "not a valid URI"
    main, _, fragment = entry.partition("#")  # Go splits the fragment off first
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", main)
    if m is None or m.group(1).lower() not in ("http", "https"):
        return "not an http:// or https:// URL"
    rest, _, query = main[m.end() :].partition("?")
    if query or fragment:
        return "path, query, or fragment at end of the URI"
    if not rest.startswith("/"):
        return None  # Go reads "https:host" as an opaque URL: no host, no path, accepted
    if not rest.startswith("//"):
        return None if rest == "/" else "path, query, or fragment at end of the URI"
    authority, slash, path = rest[2:].partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    why = _go_host_ok(hostport)
    if why is not None:
        return why
    if slash and path:
        return "path, query, or fragment at end of the URI"
    if at:
        return "username/password not allowed in URI"
    return None


#: the registry keys of daemon.json, as dockerd spells them
_REGISTRY_KEYS = ("insecure-registries", "registry-mirrors")


def _meant_key(key: str) -> str | None:
    """The registry key ``key`` misspells (another case, ``_`` for ``-``,
    spaces around it), or None. dockerd knows keys exactly as it spells them
    and refuses to start on any other ("the following directives don't match
    any configuration option"); the singular (``insecure-registry``) is the
    name of its command-line option, which it accepts."""
    if key in _REGISTRY_KEYS:
        return None
    near = key.strip().lower().replace("_", "-")
    return near if near in _REGISTRY_KEYS else None


def refused_keys(data: Any) -> list[tuple[str, str]]:
    """(key, why) for every registry key dockerd refuses to start with: a
    misspelt one, and ``registry-mirrors`` that is not a list of strings
    (``insecure-registries`` of the wrong shape is judged with Harbor's entry)."""
    out: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        return out
    for key in data:
        meant = _meant_key(str(key))
        if meant is not None:
            out.append((key, f'no such key: dockerd reads "{meant}", spelt exactly so'))
    mirrors = data.get("registry-mirrors")
    if mirrors is not None and not (
        isinstance(mirrors, list) and all(isinstance(v, str) for v in mirrors)
    ):
        out.append(("registry-mirrors", f"{json.dumps(mirrors)} is not a list of strings"))
    return out


def refused_entries(data: Any) -> list[tuple[str, str, str]]:
    """(key, entry, why) for every registry entry dockerd would refuse at start."""
    out: list[tuple[str, str, str]] = []
    if not isinstance(data, dict):
        return out
    for key, judge in (
        ("insecure-registries", insecure_entry_refused),
        ("registry-mirrors", mirror_refused),
    ):
        values = data.get(key)
        if not isinstance(values, list):
            continue
        for value in values:
            if isinstance(value, str):
                why = judge(value)
                if why is not None:
                    out.append((key, value, why))
    return out


def _entry_line(text: str, entry: str) -> int | None:
    quoted = json.dumps(entry)
    for number, line in enumerate(text.splitlines(), 1):
        if quoted in line or quoted[1:-1] in line:
            return number
    return None


class DaemonJsonCheck(Check):
    """/etc/docker/daemon.json is valid and lists Harbor as an insecure registry.

    The file (profile ``daemon_json.path``) must be valid JSON: the guide's
    sample uses typographic quotes (“ ”), which stop dockerd from starting; the
    first one is reported with its line and column. It must be a JSON object.
    When harbor.yml has no ``https`` section Harbor serves plain HTTP, and
    docker pushes and pulls only if ``insecure-registries`` holds
    ``<hostname>:<http.port>`` (or a CIDR holding the address); a missing file
    then fails. Without a harbor.yml that part is skipped. A docker.service or
    drop-in with ``EnvironmentFile=-/etc/docker/daemon.json`` (the guide's
    step 1) is a warning: daemon.json is not an environment file, and dockerd
    reads it by itself.
    """

    id = "docker.daemon_json"
    title = "daemon.json valid, Harbor in insecure-registries"
    group = "docker"
    severity = Severity.HIGH
    remediation = (
        "Write /etc/docker/daemon.json as valid JSON with plain quotes, listing Harbor's "
        '"<hostname>:<port>" in "insecure-registries" when Harbor serves HTTP, then '
        "systemctl restart docker"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        dj = read_daemon_json(ctx)
        cfg, why_no_cfg = _harbor.address_of(ctx)
        findings: list[Finding] = []
        if dj.error is not None:
            findings.append(dj.error)
        elif not dj.exists:
            findings.append(self._absent(dj.path, cfg, why_no_cfg))
        else:
            valid = (
                "starts with a JSON object, as dockerd reads it" if dj.notes else "is valid JSON"
            )
            findings.append(
                Finding(Status.PASS, "daemon.json", f"{dj.path} {valid}", location=dj.path)
            )
            findings += dj.notes
            findings += self._refused(ctx.host, dj)
            findings.append(self._registries(dj, cfg, why_no_cfg))
        findings += environment_file_lines(ctx.host, dj.path)
        outcome = Outcome.from_findings(findings, ok=findings[0].message)
        unjudged = [
            f for f in findings if f.status is Status.SKIP and f.subject in _JUDGED_SUBJECTS
        ]
        if outcome.status is Status.PASS and unjudged:
            # "unknown" is never a pass: the title promises Harbor's entry
            first = findings[0].message if findings[0].status is Status.PASS else ""
            lead = f"{first}; " if first else ""
            return Outcome(
                Status.SKIP,
                f"{lead}insecure-registries not judged: {unjudged[0].message.removeprefix('cannot judge: ')}",
                tuple(findings),
            )
        return outcome

    @staticmethod
    def _refused(host: Host, dj: DaemonJson) -> list[Finding]:
        """A fail for every registry entry dockerd refuses at start."""
        try:
            text = host.read_text(dj.path)
        except OSError:
            text = ""
        out = [
            Finding(
                Status.FAIL,
                key,
                f"{json.dumps(key, ensure_ascii=False)}: dockerd refuses it ({why}) and will not "
                "start with this file",
                location=f"{dj.path}:{line}" if (line := _entry_line(text, key)) else dj.path,
            )
            for key, why in refused_keys(dj.data)
        ]
        for key, entry, why in refused_entries(dj.data):
            line = _entry_line(text, entry)
            out.append(
                Finding(
                    Status.FAIL,
                    key,
                    f"{json.dumps(entry, ensure_ascii=False)}: dockerd refuses it ({why}) "
                    "and will not start with this file",
                    actual=entry,
                    location=f"{dj.path}:{line}" if line else dj.path,
                )
            )
        return out

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        from harborkit.model.change import FileChange

        json_bad = any(
            f.status is Status.FAIL and f.subject != "EnvironmentFile" for f in outcome.findings
        )
        changes = plan_daemon_json(ctx, self.id) if json_bad else []
        changes += plan_environment_file(ctx, self.id)
        files = [c for c in changes if isinstance(c, FileChange)]
        if files:
            reload = any(c.path.startswith("/etc/systemd/") for c in files)
            changes += docker_restart(self.id, reload=reload)
        return changes

    @staticmethod
    def _absent(
        path: str, cfg: _harbor.HarborConfig | _harbor.HarborAddress | None, why: str
    ) -> Finding:
        if cfg is None:
            return Finding(
                Status.SKIP,
                "daemon.json",
                f"{path} absent; whether Harbor needs an insecure-registries entry is "
                f"unknown ({why})",
            )
        if cfg.https is not None:
            return Finding(
                Status.PASS, "daemon.json", f"{path} absent: not needed, Harbor serves HTTPS"
            )
        return Finding(
            Status.FAIL,
            "daemon.json",
            f"{path} missing: Harbor serves plain HTTP at {cfg.registry_address}, which "
            "docker must list in insecure-registries",
            expected=f'{{"insecure-registries": ["{cfg.registry_address}"]}}',
        )

    @staticmethod
    def _registries(
        dj: DaemonJson, cfg: _harbor.HarborConfig | _harbor.HarborAddress | None, why: str
    ) -> Finding:
        entries = dj.insecure_registries
        if entries is None:
            return Finding(
                Status.FAIL,
                "insecure-registries",
                "must be a list of strings",
                actual=json.dumps(dj.data.get("insecure-registries")),
                location=dj.path,
            )
        shown = ", ".join(entries) or "(none)"
        if cfg is None:
            return Finding(Status.SKIP, "insecure-registries", f"cannot judge: {why}", actual=shown)
        if cfg.https is not None:
            return Finding(
                Status.PASS,
                "insecure-registries",
                "Harbor serves HTTPS: no entry needed",
                actual=shown,
            )
        if cfg.hostname is None:
            return Finding(Status.SKIP, "insecure-registries", "harbor.yml has no hostname")
        address = f"{cfg.hostname}:{cfg.http_port}"
        usable = [e for e in entries if insecure_entry_refused(e) is None]
        if any(covers(e, cfg.hostname, cfg.http_port) for e in usable):
            return Finding(
                Status.PASS,
                "insecure-registries",
                f"lists {address}",
                expected=address,
                actual=shown,
            )
        return Finding(
            Status.FAIL,
            "insecure-registries",
            f"does not list {address}, where Harbor serves plain HTTP (from {cfg.path})",
            expected=address,
            actual=shown,
            location=dj.path,
        )


def _unit_files(host: Host) -> list[str]:
    """docker.service and its drop-ins in systemd's order: the unit file
    (/etc hides /usr/lib), then drop-ins sorted by name (a name in /etc hides
    the same name in /run and /usr/lib)."""
    main = None
    for d in (
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
    ):
        if host.glob(f"{d}/docker.service"):
            main = f"{d}/docker.service"
            break
    dropins: dict[str, str] = {}
    for d in (
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
    ):
        for p in host.glob(f"{d}/docker.service.d/*.conf"):
            dropins.setdefault(p.rsplit("/", 1)[-1], p)
    return ([main] if main else []) + [dropins[n] for n in sorted(dropins)]


@dataclass(frozen=True)
class EnvFileLine:
    unit: str
    line: int
    text: str
    target: str  # "" for a reset line


def environment_files(host: Host) -> list[EnvFileLine]:
    """The ``EnvironmentFile=`` lines in effect: an empty assignment in a
    later file (or line) clears the ones before it, as systemd does."""
    effective: list[EnvFileLine] = []
    for unit in _unit_files(host):
        try:
            text = host.read_text(unit)
        except OSError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            m = re.match(r"^\s*EnvironmentFile\s*=\s*(.*?)\s*$", line)
            if not m:
                continue
            if not m.group(1):
                effective = []
                continue
            effective.append(EnvFileLine(unit, n, line.strip(), m.group(1).lstrip("-").strip()))
    return effective


def _loads_daemon_json(e: EnvFileLine, path: str) -> bool:
    return e.target == path or e.target.endswith("/daemon.json")


def environment_file_lines(host: Host, path: str) -> list[Finding]:
    """A WARN for each docker unit line in effect that loads daemon.json as an EnvironmentFile."""
    found = []
    for e in environment_files(host):
        if _loads_daemon_json(e, path):
            found.append(
                Finding(
                    Status.WARN,
                    "EnvironmentFile",
                    f"{e.unit} loads {e.target}: daemon.json is not an environment file "
                    "(dockerd reads it by itself); remove the line",
                    actual=e.text,
                    location=f"{e.unit}:{e.line}",
                )
            )
    return found


def plan_environment_file(ctx: CheckContext, check_id: str) -> list[Change]:
    """Neutralise ``EnvironmentFile=`` lines that load daemon.json: a line in a
    drop-in under /etc is commented out there; a line in a vendor unit (never
    edited) is cleared by a drop-in that resets the list and names the other
    environment files again."""
    from harborkit.model.change import edit_lines, file_change, read_bytes

    path = daemon_json_path(ctx)
    lines = environment_files(ctx.host)
    bad = [e for e in lines if _loads_daemon_json(e, path)]
    if not bad:
        return []
    changes: list[Change] = []
    edits: dict[str, dict[int, str | None]] = {}
    vendor = False
    for e in bad:
        if e.unit.startswith("/etc/systemd/system/docker.service.d/") and e.unit != ENVFILE_DROPIN:
            edits.setdefault(e.unit, {})[e.line] = (
                f"# {e.text}  # harborkit: daemon.json is not an environment file"
            )
        else:
            vendor = True
    for unit, ed in edits.items():
        text = (read_bytes(ctx.host, unit) or b"").decode("utf-8", "surrogateescape")
        c = file_change(
            check_id, ctx.host, unit, edit_lines(text, ed), "dockerd reads daemon.json by itself"
        )
        if c is not None:
            changes.append(c)
    if vendor:
        keep = [e.text for e in lines if not _loads_daemon_json(e, path)]
        body = "\n".join(
            [
                "# written by harborkit fix: daemon.json is not an environment file",
                "[Service]",
                "EnvironmentFile=",
                *keep,
            ]
        )
        c = file_change(
            check_id,
            ctx.host,
            ENVFILE_DROPIN,
            body + "\n",
            f"clears the EnvironmentFile= list of {bad[0].unit} without editing it",
            owned=True,
        )
        if c is not None:
            changes.append(c)
    return changes


def repaired_json(ctx: CheckContext) -> tuple[dict[str, Any] | None, str]:
    """daemon.json as it should be: parsed (typographic quotes made plain),
    without the registry entries dockerd refuses (the guide's ``x.x.x.x:port``),
    with Harbor's address merged into insecure-registries when Harbor serves
    HTTP. (None, why) when the file cannot be repaired safely."""
    data, why, _ = _repair(ctx)
    return data, why


def _drop_refused(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Remove, in place, every registry entry dockerd refuses; return them."""
    dropped = refused_entries(data)
    for key in {key for key, _, _ in dropped}:
        gone = {entry for k, entry, _ in dropped if k == key}
        data[key] = [v for v in data[key] if v not in gone]
    return dropped


def _repair(ctx: CheckContext) -> tuple[dict[str, Any] | None, str, list[tuple[str, str, str]]]:
    dj = read_daemon_json(ctx)
    if not dj.exists:
        data: Any = {}
    elif dj.data is not None:
        data = dj.data
    else:
        try:
            text = ctx.host.read_text(dj.path)
        except OSError as e:
            return None, f"{dj.path}: cannot read: {e.strerror}", []
        plain = re.sub("[\u201c\u201d]", '"', re.sub("[\u2018\u2019]", "'", text))
        try:
            data = parse_json(plain, duplicates=True)
        except json.JSONDecodeError as e:  # JsonRefused too: NaN, a number out of range
            where = f"line {e.lineno} column {e.colno}: {e.msg}"
            return (
                None,
                f"{dj.path} is not JSON even with plain quotes ({where}): "
                "rewrite it by hand, keeping the keys it should have",
                [],
            )
    if not isinstance(data, dict):
        return (
            None,
            f"{dj.path} holds a JSON {type(data).__name__}, not an object: rewrite it by hand",
            [],
        )
    data = dict(data)
    dropped = _drop_refused(data)
    cfg, _ = _harbor.address_of(ctx)
    if cfg is not None and cfg.https is None and cfg.hostname is not None:
        entries = data.get("insecure-registries")
        if entries is None:  # absent or null
            entries = []
        if isinstance(entries, str):
            entries = [entries]
        if not isinstance(entries, list) or not all(isinstance(v, str) for v in entries):
            return (
                None,
                f"{dj.path}: insecure-registries is {json.dumps(entries)}, not a list of "
                "strings: rewrite it by hand",
                dropped,
            )
        if not any(covers(e, cfg.hostname, cfg.http_port) for e in entries):
            entries = [*entries, f"{cfg.hostname}:{cfg.http_port}"]
        data["insecure-registries"] = entries
    return data, "", dropped


def plan_daemon_json(ctx: CheckContext, check_id: str) -> list[Change]:
    """daemon.json rewritten as valid JSON keeping every other key, then a restart of docker."""
    from harborkit.model.change import ManualStep, file_change, read_bytes

    dj = read_daemon_json(ctx)
    data, why, dropped = _repair(ctx)
    if data is None:
        return [ManualStep((check_id,), why)]
    bad_keys = refused_keys(data)
    if bad_keys:  # never restart docker with a file it refuses
        key, reason = bad_keys[0]
        shown = json.dumps(key, ensure_ascii=False)
        return [
            ManualStep(
                (check_id,),
                f"{dj.path}: key {shown} is refused by dockerd ({reason}): correct it by hand",
            )
        ]
    still = refused_entries(data)
    if still:  # never restart docker with a file it refuses
        key, entry, reason = still[0]
        return [
            ManualStep(
                (check_id,),
                f"{dj.path}: {key} entry {json.dumps(entry)} is refused by dockerd ({reason}): correct it by hand",
            )
        ]
    changes: list[Change] = []
    cfg, _ = _harbor.address_of(ctx)
    harbor_known = cfg is not None and cfg.hostname is not None
    for key, entry, reason in dropped:
        shown = json.dumps(entry, ensure_ascii=False)
        if key == "insecure-registries" and harbor_known:
            continue  # replaced by Harbor's own address (or Harbor serves HTTPS)
        if key == "insecure-registries":
            todo = (
                'add Harbor\'s "<hostname>:<port>" to insecure-registries (harborkit does '
                "not know it here: give --install-dir or --harbor-config)"
            )
        else:
            todo = "add a valid mirror (http[s]://host[:port]) if this host needs one"
        changes.append(
            ManualStep(
                (check_id,),
                f"{dj.path} lists {key} {shown}, which dockerd refuses ({reason}): "
                f"the fix removes it; {todo}",
            )
        )
    if dj.exists or data:
        old = read_bytes(ctx.host, dj.path)
        if old is not None and dj.data is not None and _same_json(old, data):
            pass  # same content: keep the file's own formatting
        else:
            new = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
            c = file_change(
                check_id, ctx.host, dj.path, new, "valid JSON, every other key kept", whole=True
            )
            if c is not None:
                changes.append(c)
    return changes


def docker_restart(check_id: str, *, reload: bool) -> list[Change]:
    from harborkit.model.change import Command

    out: list[Change] = []
    if reload:
        out.append(
            Command(
                (check_id,),
                ("systemctl", "daemon-reload"),
                "read the changed docker.service drop-ins",
            )
        )
    out.append(
        Command(
            (check_id,),
            ("systemctl", "restart", "docker"),
            "dockerd reads daemon.json and its unit only at start",
            restarts_docker=True,
        )
    )
    return out


class DaemonRuntime(Check):
    """The running daemon uses daemon.json's insecure-registries.

    ``docker info`` (through the SDK: ``RegistryConfig.IndexConfigs`` and
    ``InsecureRegistryCIDRs``) must show every entry of the file's
    ``insecure-registries``: an entry the daemon lacks means the file was
    edited but docker not restarted (fail). An entry already covered by one of
    the daemon's insecure CIDRs (127.0.0.0/8 is always one) passes. Insecure
    registries the daemon has but the file lacks (a dockerd flag, or a file
    changed since start) are a warning. Needs a reachable daemon.
    """

    id = "docker.daemon_runtime"
    title = "Running daemon agrees with daemon.json"
    group = "docker"
    severity = Severity.HIGH
    remediation = "systemctl restart docker (after fixing daemon.json)"
    requires = ("docker.daemon",)

    def plan(self, ctx: CheckContext, outcome: Outcome) -> Sequence[Change]:
        if not any(f.status is Status.FAIL for f in outcome.findings):
            return ()
        return docker_restart(self.id, reload=False)

    def run(self, ctx: CheckContext) -> Outcome:
        ctx.require_live("the running Docker daemon")
        dj = read_daemon_json(ctx)
        if dj.error is not None:
            raise SkipCheck(f"{dj.path} is not usable (see docker.daemon_json)")
        entries = dj.insecure_registries if dj.exists else []
        if entries is None:
            raise SkipCheck(f"{dj.path}: insecure-registries is not a list of strings")
        try:
            client = host_client(ctx.host)
        except DaemonUnreachable as e:
            return Outcome(Status.FAIL, str(e))
        import docker

        try:
            info = client.info()
        except docker.errors.DockerException as e:
            return Outcome(
                Status.FAIL, f"docker info failed at {docker_address()}: {docker_error(e)}"
            )
        finally:
            client.close()
        registry = info.get("RegistryConfig") or {}
        index = {
            name
            for name, conf in (registry.get("IndexConfigs") or {}).items()
            if conf and not conf.get("Secure", True)
        }
        cidrs = [str(c) for c in registry.get("InsecureRegistryCIDRs") or []]
        findings = [self._entry(e, index, cidrs) for e in entries]
        findings += self._extra(entries, index, cidrs)
        harbor, _ = _harbor.address_of(ctx)
        if harbor is not None and harbor.https is None and harbor.hostname is not None:
            findings.append(self._harbor(harbor.hostname, harbor.http_port, index, cidrs))
        live = sorted(index) + [c for c in cidrs if c not in DOCKER_DEFAULT_CIDRS]
        return Outcome.from_findings(
            findings,
            ok=f"running daemon's insecure registries: {', '.join(live) or '(defaults only)'}",
        )

    @staticmethod
    def _entry(entry: str, index: set[str], cidrs: list[str]) -> Finding:
        e = _strip_scheme(entry)
        net = _network(e)
        ok = any(_network(c) == net for c in cidrs) if net is not None else e in index
        if ok:
            return Finding(Status.PASS, entry, "in effect", actual=entry)
        host = _registry_host(e) if net is None else ""
        for c in cidrs:
            cn = _network(c)
            try:
                if cn is not None and host and ipaddress.ip_address(host) in cn:
                    return Finding(
                        Status.PASS, entry, f"in effect through the daemon's insecure range {c}"
                    )
            except ValueError:
                break
        return Finding(
            Status.FAIL,
            entry,
            f"daemon.json lists {entry} but the running daemon does not: restart docker",
            expected="insecure in docker info",
            actual="not listed",
        )

    @staticmethod
    def _harbor(hostname: str, port: int, index: set[str], cidrs: list[str]) -> Finding:
        """Whether the running daemon talks plain HTTP to Harbor (push and pull work)."""
        address = f"{hostname}:{port}"
        if any(covers(e, hostname, port) for e in (*index, *cidrs)):
            return Finding(
                Status.PASS, "Harbor", f"the running daemon treats {address} as insecure"
            )
        return Finding(
            Status.FAIL,
            "Harbor",
            f"the running daemon does not treat Harbor's {address} as insecure: docker "
            "login, push and pull to it fail (list it in daemon.json, restart docker)",
            expected=address,
            actual=", ".join(sorted(index)) or "(defaults only)",
        )

    @staticmethod
    def _extra(entries: list[str], index: set[str], cidrs: list[str]) -> list[Finding]:
        listed = {_strip_scheme(e) for e in entries}
        nets = [n for n in (_network(e) for e in listed) if n is not None]
        out = []
        for name in sorted(index):
            if name not in listed:
                out.append(
                    Finding(
                        Status.WARN,
                        name,
                        f"the running daemon treats {name} as insecure but daemon.json does "
                        "not list it (a dockerd flag, or the file changed since docker started)",
                    )
                )
        for c in cidrs:
            if c in DOCKER_DEFAULT_CIDRS or _network(c) in nets:
                continue
            out.append(
                Finding(
                    Status.WARN,
                    c,
                    f"the running daemon treats {c} as insecure but daemon.json does not "
                    "list it (a dockerd flag, or the file changed since docker started)",
                )
            )
        return out


CHECKS: list[type[Check]] = [DaemonJsonCheck, DaemonRuntime]
