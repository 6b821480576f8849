"""Checks of harbor.yml: the settings ``./prepare`` and ``install.sh`` read."""

from __future__ import annotations

from harborkit.checks import _harbor
from harborkit.host.interface import Host
from harborkit.model.check import (
    Check,
    CheckContext,
    Finding,
    NotAvailable,
    Outcome,
    Severity,
    Status,
)
from harborkit.yamlfile import dotted, schema_errors

SCHEMA = "harbor-v1.8.0.schema.json"

#: top-level keys of make/harbor.yml at v1.8.0
KNOWN_KEYS = frozenset(
    {
        "hostname",
        "http",
        "https",
        "external_url",
        "harbor_admin_password",
        "database",
        "data_volume",
        "storage_service",
        "clair",
        "jobservice",
        "chart",
        "log",
        "_version",
        "external_database",
        "external_redis",
        "uaa",
    }
)

DEFAULT_PASSWORDS = (
    (("harbor_admin_password",), "Harbor12345", "the shipped admin password"),
    (("database", "password"), "root123", "the shipped database password"),
)

_HOSTNAME_WHY = {
    "reg.mydomain.com": "unchanged from the shipped default: install.sh refuses to run",
    "localhost": "clients outside this host cannot reach Harbor at localhost",
    "127.0.0.1": "clients outside this host cannot reach Harbor at 127.0.0.1",
}


class HarborConfigCheck(Check):
    """harbor.yml is valid for Harbor v1.8.0.

    The file comes from ``--harbor-config FILE`` or ``--install-dir DIR``
    (``DIR/harbor.yml``); without either the check is skipped. It must parse as
    YAML and validate against ``schemas/harbor-v1.8.0.schema.json`` (the keys
    ``prepare`` needs: ``hostname``, ``data_volume``, ``harbor_admin_password``,
    ``jobservice.max_job_workers``, the four ``log`` keys, and ``certificate``
    plus ``private_key`` when ``https`` is set); each error names the file,
    line and key. ``hostname`` must differ from the profile's
    ``harbor.forbidden_hostnames`` (``reg.mydomain.com``: install.sh refuses;
    ``localhost``/``127.0.0.1``: unreachable for clients). With HTTPS on, the
    certificate and key files must exist on the host. ``log.level`` must be one
    of the profile's ``harbor.log_levels``. Warnings: the shipped passwords
    ``Harbor12345`` and ``root123`` left unchanged, keys unknown to v1.8.0
    (prepare ignores them, often a typo), a ``_version`` other than the
    profile's ``harbor.version``.
    """

    id = "harbor.config"
    title = "harbor.yml valid for Harbor v1.8.0"
    group = "harbor"
    severity = Severity.CRITICAL
    remediation = (
        "Edit harbor.yml: set hostname to this host's address, fix the keys named, "
        "point https.certificate/private_key at existing files (or remove https), and "
        "change harbor_admin_password and database.password from the shipped defaults"
    )

    def run(self, ctx: CheckContext) -> Outcome:
        settings = ctx.section("harbor")
        try:
            cfg = _harbor.load(ctx)
        except _harbor.HarborConfigError as e:
            return Outcome(
                Status.FAIL,
                e.message,
                (Finding(Status.FAIL, "harbor.yml", e.message, location=e.location),),
            )
        findings: list[Finding] = []
        reported: set[tuple[str | int, ...]] = set()
        for key, message in schema_errors(cfg.doc, SCHEMA):
            reported.add(key)
            findings.append(Finding(Status.FAIL, dotted(key), message, location=cfg.doc.where(key)))
        findings += self._unknown_keys(cfg)
        findings += self._version(cfg, str(settings.get("version", "1.8.0")))
        if ("hostname",) not in reported:
            findings += self._hostname(cfg, settings.get("forbidden_hostnames", []))
        findings += self._https(ctx, cfg, reported)
        if ("log", "level") not in reported:
            findings += self._log_level(cfg, settings.get("log_levels"))
        findings += self._passwords(cfg)
        return Outcome.from_findings(findings, ok=f"{cfg.path} is valid for Harbor v1.8.0")

    @staticmethod
    def _unknown_keys(cfg: _harbor.HarborConfig) -> list[Finding]:
        return [
            Finding(
                Status.WARN,
                str(k),
                "not a Harbor v1.8.0 setting: prepare ignores it (a typo?)",
                location=cfg.where(str(k)),
            )
            for k in cfg.data
            if str(k) not in KNOWN_KEYS
        ]

    @staticmethod
    def _version(cfg: _harbor.HarborConfig, want: str) -> list[Finding]:
        have = cfg.get("_version")
        if have is None or str(have) == want:
            return []
        return [
            Finding(
                Status.WARN,
                "_version",
                f"the file is for Harbor {have}, not {want}: start from the {want} harbor.yml",
                expected=want,
                actual=str(have),
                location=cfg.where("_version"),
            )
        ]

    @staticmethod
    def _hostname(cfg: _harbor.HarborConfig, forbidden: list[str]) -> list[Finding]:
        name = cfg.hostname
        if name is None:
            return []
        where = cfg.where("hostname")
        if name.lower() in {f.lower() for f in forbidden}:
            why = _HOSTNAME_WHY.get(name.lower(), "not allowed by the profile")
            return [
                Finding(
                    Status.FAIL,
                    "hostname",
                    f"{name}: {why}",
                    expected="this host's IP address or DNS name",
                    actual=name,
                    location=where,
                )
            ]
        return [Finding(Status.PASS, "hostname", name, actual=name, location=where)]

    @staticmethod
    def _https(
        ctx: CheckContext, cfg: _harbor.HarborConfig, reported: set[tuple[str | int, ...]]
    ) -> list[Finding]:
        https = cfg.https
        if https is None:
            return [
                Finding(
                    Status.PASS,
                    "https",
                    "off: Harbor serves plain HTTP (docker clients need it in "
                    "insecure-registries; Notary, --with-notary, needs HTTPS)",
                    location=cfg.where("http"),
                )
            ]
        out = []
        for item in ("certificate", "private_key"):
            key = ("https", item)
            if key in reported:
                continue
            path = https.get(item)
            where = cfg.where(*key)
            if not isinstance(path, str):
                continue
            # the Host answers False for what it cannot look at (an unreadable parent)
            if ctx.host.exists(path) and not ctx.host.is_dir(path):
                out.append(Finding(Status.PASS, dotted(key), f"{path} present", location=where))
            else:
                out.append(
                    Finding(
                        Status.FAIL,
                        dotted(key),
                        f"{path}: no such file (prepare fails with HTTPS on)",
                        location=where,
                    )
                )
        return out

    @staticmethod
    def _log_level(cfg: _harbor.HarborConfig, levels: list[str] | None) -> list[Finding]:
        level = cfg.get("log", "level")
        if level is None or not levels:
            return []
        if str(level) in levels:
            return []
        return [
            Finding(
                Status.FAIL,
                "log.level",
                f"{level!s} is not one of {', '.join(levels)}",
                expected="one of " + ", ".join(levels),
                actual=str(level),
                location=cfg.where("log", "level"),
            )
        ]

    @staticmethod
    def _passwords(cfg: _harbor.HarborConfig) -> list[Finding]:
        out = []
        for key, default, what in DEFAULT_PASSWORDS:
            if str(cfg.get(*key)) == default:
                out.append(
                    Finding(
                        Status.WARN,
                        ".".join(key),
                        f"still {what} ({default}): change it before the first install",
                        location=cfg.where(*key),
                    )
                )
        return out


_GIB = 1024**3
LOW_SPACE_BYTES = _GIB


class HarborStorage(Check):
    """Harbor's data and log folders are usable.

    ``data_volume`` and ``log.location`` from harbor.yml must each be a
    directory, or be creatable: the nearest existing parent is a directory that
    the installing user (root) can write to (live system only). On a live
    system the free space of each is reported, and under 1 GiB is a warning;
    whether ``data_volume`` meets Harbor's disk figures (40 GB minimum, 160 GB
    preferred) is judged by ``hardware.disk``. Skipped without a harbor.yml.
    """

    id = "harbor.storage"
    title = "Harbor data_volume and log location usable"
    group = "harbor"
    severity = Severity.HIGH
    remediation = (
        "Create the folders (mkdir -p) on a filesystem with free space, or point "
        "data_volume / log.location at one"
    )

    SETTINGS = (("data_volume",), ("log", "location"))

    def run(self, ctx: CheckContext) -> Outcome:
        try:
            cfg = _harbor.load(ctx)
        except _harbor.HarborConfigError as e:
            return Outcome(Status.SKIP, f"harbor.yml unusable: {e.message}")
        findings: list[Finding] = []
        for key in self.SETTINGS:
            subject = ".".join(key)
            path = cfg.path_setting(*key)
            if path is None:
                findings.append(
                    Finding(Status.SKIP, subject, "not set to an absolute path (see harbor.config)")
                )
                continue
            findings += self._usable(ctx, subject, path, cfg.where(*key))
        return Outcome.from_findings(findings, ok="data and log folders usable")

    @staticmethod
    def _usable(ctx: CheckContext, subject: str, path: str, where: str) -> list[Finding]:
        host = ctx.host
        out: list[Finding] = []
        if host.is_dir(path):
            out.append(Finding(Status.PASS, subject, f"{path} exists", actual=path, location=where))
        elif host.exists(path):
            return [
                Finding(
                    Status.FAIL,
                    subject,
                    f"{path} exists but is not a directory",
                    actual=path,
                    location=where,
                )
            ]
        else:
            parent = _nearest_existing(host, path)
            if not host.is_dir(parent):
                return [
                    Finding(
                        Status.FAIL,
                        subject,
                        f"{path} cannot be created: {parent} is not a directory",
                        location=where,
                    )
                ]
            try:
                writable = host.run(["test", "-w", parent]).ok
            except NotAvailable:
                writable = None
            if writable is False:
                return [
                    Finding(
                        Status.FAIL,
                        subject,
                        f"{path} cannot be created: {parent} is not writable",
                        location=where,
                    )
                ]
            note = "" if writable else " (writability not checked on a sysroot)"
            out.append(
                Finding(
                    Status.PASS,
                    subject,
                    f"{path} does not exist yet; creatable under {parent}{note}",
                    location=where,
                )
            )
        try:
            mount, free = host.disk_free(path)
        except NotAvailable as e:
            out.append(Finding(Status.SKIP, f"{subject} free space", e.reason))
            return out
        status = Status.WARN if free < LOW_SPACE_BYTES else Status.PASS
        text = f"{free / _GIB:.1f} GiB free on {mount}"
        out.append(
            Finding(
                status,
                f"{subject} free space",
                text + (": nearly full" if status is Status.WARN else ""),
                expected=">= 1 GiB",
                actual=text,
            )
        )
        return out


def _nearest_existing(host: Host, path: str) -> str:
    p = path
    while p != "/" and not host.exists(p):
        p = p.rsplit("/", 1)[0] or "/"
    return p


CHECKS: list[type[Check]] = [HarborConfigCheck, HarborStorage]
