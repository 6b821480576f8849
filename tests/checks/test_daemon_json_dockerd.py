"""docker.daemon_json judges registry entries exactly as dockerd does at start.

dockerd 20.10 (the guide's hosts, and this machine's docker.io) refuses to
start when daemon.json lists an ``insecure-registries`` or ``registry-mirrors``
entry it cannot read: the guide's own ``"x.x.x.x:port"`` placeholder is one.
The tables below are what a real dockerd answered for each entry alone
(``True``: it started); ``test_live_dockerd_agrees`` starts a private dockerd
again with a file the check judges, for a sample of them and for what
``fix`` writes, so the tables cannot drift from the real thing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harborkit.checks.daemon_json import DaemonJsonCheck
from harborkit.checks.dockerd_registry import insecure_entry_refused, mirror_refused
from harborkit.compat import zip_strict
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import run_check
from harborkit.host.local import SysrootHost
from harborkit.model.check import CheckContext, CheckOptions, Status
from tests.fix.helpers import hk
from tests.support.dockerd import dockerd_accepts_config, dockerd_accepts_configs

DJ = "/etc/docker/daemon.json"
YML = "/opt/harbor/harbor.yml"
HARBOR_HTTP = (
    Path(__file__).resolve().parents[1]
    / "fixtures/sysroots/centos7-compliant/opt/harbor/harbor.yml"
).read_text()
#: the guide's daemon.json, word for word (typographic quotes, placeholder)
GUIDE = '{\n  \u201cinsecure-registries": [\u201cx.x.x.x:port\u201d]\n}\n'

INSECURE = [
    ("x.x.x.x:port", False),
    ("192.168.3.60:8888", True),
    ("192.168.3.60:", True),
    ("[fd00::5]:5000", True),
    ("fd00::5", True),
    ("[fd00::5]", False),
    ("harbor.local:8888", True),
    ("http://192.168.3.60:8888", True),
    ("ftp://x", False),
    ("-bad", False),
    ("bad-", False),
    ("10.0.0.0/8", True),
    ("10.0.0.0/255.0.0.0", False),
    ("host:99999", False),
    ("host:-1", False),
    ("host:+80", False),
    ("a_b:80", False),
    ("a..b", False),
    ("a.b.", False),
    ("192.168.3.60:8888/", False),
    ("10.0.0.0/33", False),
    ("", False),
    (" 192.168.3.60:8888", False),
    ("192.168.3.60:8888 ", False),
    ("a:b:c", False),
    ("host:080", True),
    ("fe80::1%eth0", False),
    ("http://[fd00::5]:5000", True),
    ("HTTP://1.2.3.4:80", True),
    ("https://1.2.3.4:5000/", False),
    ("http://-x", False),
    ("1.2.3.4:0", True),
    ("fd00::/8", True),
    ("1.2.3.4/32", True),
    ("1.2.3.4/032", True),
    ("1.2.3.4/+8", False),
    ("01.2.3.4:80", True),
    ("[1.2.3.4]:80", True),
    ("harbor:", False),
    ("1.2.3.4:65536", False),
    ("1.2.3.4:00080", True),
    ("HARBOR.Local", True),
    ("x.x.x.x", True),
    ("harbor.local:port", False),
    ("192.168.3.60:８８", False),
    ("192.168.3.60：8888", False),
    ("::1", True),
    ("[::1]:", True),
    ("host:99999999999999999999", False),
    ("ex-ample.com", True),
    # an adversarial pass (dockerd 20.10.24 by hand, one start per entry): unicode
    # and IDN hosts, schemes, paths, zones, IPv4-mapped IPv6, CIDRs with host bits,
    # prefixes and ports with leading zeros or too many digits
    ("härbor.local:80", False),
    ("xn--hrbor-gra.local:80", True),
    ("例え.jp", False),
    ("HÄRBOR", False),
    ("Http://h:80", True),
    ("http://1.2.3.4:80/path", False),
    ("http://1.2.3.4/v2", False),
    ("[fe80::1%eth0]:5000", False),
    ("http://[fe80::1%25eth0]:5000", False),
    ("::ffff:1.2.3.4", True),
    ("[::ffff:1.2.3.4]:5000", True),
    ("::ffff:1.2.3.4/128", True),
    ("::ffff:1.2.3.4/96", True),
    ("10.0.0.1/8", True),
    ("fd00::5/8", True),
    ("10.0.0.0/99999999999999999999", False),
    ("10.0.0.0/-1", False),
    ("::/129", False),
    ("::/128", True),
    ("0.0.0.0/0", True),
    ("10.0.0.0/0008", True),
    ("http://", False),
    ("http://:80", False),
    (":80", False),
    ("1.2.3.4:80:80", False),
    ("localhost", True),
    ("LOCALHOST:5000", True),
    ("1.2.3", True),
    ("1.2.3.4.5", True),
    ("256.1.1.1:80", True),
    ("0x7f.0.0.1", True),
    ("1a.com", True),
    ("123:80", True),
    ("123", True),
    ("*.example.com", False),
    ("http://user@h:80", False),
    ("h:80?x", False),
    ("h#x", False),
    ("a\tb", False),
    ("x" * 64 + ".com", True),
    (".".join(["a" * 60] * 5), True),
    ("[::1]:80", True),
    ("hTtPs://h:443", True),
    ("HTTPS://h", True),
    ("http://h:80/", False),
    ("http:/h", False),
    ("1.2.3.4/8/8", False),
    ("01.02.03.04/8", False),
    ("1.2.3.4%eth0:80", False),
    ("fe80::1%eth0/64", False),
    ("::1.2.3.4", True),
    ("[::1.2.3.4]:80", True),
    ("1:2:3:4:5:6:7:8:9", False),
    ("fd00::5:80", True),
    ("h:", False),
    ("h:+", False),
    ("h:٣", False),
    ("h:0x50", False),
    ("::ffff:1.2.3.4/104", True),
    ("1.2.3.4/", False),
    ("/8", False),
    ("10.0.0.0/ 8", False),
    ("10.0.0.0/8 ", False),
    ("HTTP://[::1]", False),
    ("http://[::1]:80/", False),
    ("ab--cd.com", True),
    ("1.2.3.4.:80", False),
    ("h.-x", False),
    ("_h", False),
    ("http://http://h", False),
    ("10.0.0.0/" + "0" * 50 + "8", True),
    ("h:" + "0" * 50 + "80", True),
    ("h:" + "9" * 50, False),
    ("1.2.3.4:-0", True),
    ("h:-0", False),
    ("h:+0", False),
    ("10.0.0.0/08", True),
    ("::/0128", True),
    ("10.0.0.0/-0", False),
]
MIRRORS = [
    ("https://mirror.example:5000", True),
    ("http://1.2.3.4:5000/", True),
    ("mirror.example", False),
    ("https://m/x", False),
    ("https://u:p@m", False),
    ("https://m?x", False),
    ("ftp://m", False),
    ("https://m#f", False),
    ("x.x.x.x:port", False),
    ("https://x.x.x.x:port", False),
    ("https://", True),
    ("HTTPS://m", True),
    ("https://m:99999", True),
    ("https://m//", False),
    ("https://m:5000/?", True),
    ("https://m:", True),
    ("https://[fd00::5]:5000", True),
    ("https://[fd00::5", False),
    ("1.2.3.4:5000", False),
    ("https://m a", False),
    ("https://m/#", True),
    ("https://m?", True),
    ("https://m|x", False),
    ("https://u@m", False),
    ("https:m", True),
    # an adversarial pass (dockerd 20.10.24 by hand): IDN, zones and their escapes,
    # percent-escapes in hosts, opaque and path-only URLs with empty query or fragment
    ("https://münchen.de", True),
    ("https://xn--mnchen-3ya.de", True),
    ("https://[fe80::1%25eth0]:5000", True),
    ("https://[fe80::1%eth0]:5000", False),
    ("https://1.2.3.4:0", True),
    ("https:/m", False),
    ("https:///m", False),
    ("http://m:80/v2/", False),
    ("https://m:abc", False),
    ("https://m:-1", False),
    ("https://m:5000/", True),
    ("https://m/path/", False),
    ("HtTpS://m", True),
    ("https://[::ffff:1.2.3.4]", True),
    ("https://m:٣", False),
    ("https://m\\x", False),
    ("https://m^x", False),
    ("https://m{x}", False),
    ("https://m`", False),
    ("https://%41", False),
    ("https://m%zz", False),
    ("https://[::1]x", False),
    ("https://[::1]:", True),
    ("https://:5000", True),
    ("https://m?#", True),
    ("https://m/?#", True),
    ("https://m:5000:1", True),
    ("https://[1.2.3.4]", True),
    ("https://m.", True),
    ("https://-m", True),
    ("https://m m", False),
    ("https:", True),
    ("https:?x", False),
    ("https:#x", False),
    ("https:/", True),
    ("http+x://m", False),
    ("https://@m", False),
    ("https://m:0005", True),
    ("https://m%25x", True),
    ("https://%C3%A4", True),
    ("https://[fe80::1%25eth0]:5000", True),
    ("https://[fe80::1%25%41]", True),
    ("https://[fe80::1%25%C3]", False),
    ("https://[fe80::1%25%20]", True),
    ("https://[::1%25]", True),
    ("https://m%2", False),
    ("https:m?#", True),
    ("https:/?#", True),
    ("https:/?", True),
    ("https:/#", True),
    ("https:/x", False),
    ("https:/?x", False),
    ("https://m%2e", False),
    ("https://m%7e", False),
    ("https://[fe80::1%25e%zz]", False),
    ("https://m%E2%82%AC", True),
    ("https://[%41::1]", False),
    ("https://[fe80::1%25eth0%25]", True),
]
#: whole files (dockerd 20.10.24 by hand): entries that are not strings, null,
#: keys spelt otherwise (dockerd refuses every key it does not know; the singular
#: is its command-line option's name, which it accepts), duplicates
FILES = [
    ('{"insecure-registries": [5]}', False),
    ('{"insecure-registries": "1.2.3.4:80"}', False),
    ('{"insecure-registries": null}', True),
    ('{"insecure-registries": [null]}', False),
    ('{"registry-mirrors": [true]}', False),
    ('{"insecure-registries": ["x.x.x.x:port"], "insecure-registries": ["1.2.3.4:80"]}', True),
    ('{"insecure-registries": ["1.2.3.4:80"], "insecure-registries": ["x.x.x.x:port"]}', False),
    ('{"Insecure-Registries": ["x.x.x.x:port"]}', False),
    ('{"insecure-registries": ["1.2.3.4:80", "1.2.3.4:80"]}', True),
    ('{"insecure-registries": [{"a": 1}]}', False),
    ('{"registry-mirrors": "https://m"}', False),
    ('{"INSECURE-REGISTRIES": ["1.2.3.4:80"]}', False),
    ('{"insecure-registries": ["1.2.3.4:80"], "Insecure-Registries": ["x.x.x.x:port"]}', False),
    ('{"registry-mirrors": ["https://m", "https://m"]}', True),
    ('{"insecure_registries": ["1.2.3.4:80"]}', False),
    ('{"insecure-registry": ["1.2.3.4:80"]}', True),
    ('{" insecure-registries": ["1.2.3.4:80"]}', False),
    ('{"registry-mirror": ["https://m"]}', True),
    ('{"Registry-Mirrors": ["https://m"]}', False),
    ('{"registry-mirrors": null}', True),
    ('{"registry-mirrors": []}', True),
    # dockerd decodes the first JSON value and ignores whatever follows it
    ('{"debug": false}\n{}', True),
    ('{"debug": false} garbage ]]', True),
    ('{"insecure-registries": ["1.2.3.4:80"]}{"insecure-registries": ["x.x.x.x:port"]}', True),
    ('{"insecure-registries": ["x.x.x.x:port"]}\n{}', False),
    ("null", True),
    ("", False),
    ("  \n", False),
    ('\ufeff{"debug": false}', False),  # a byte order mark
    ('{"debug": false,}', False),
]
#: a repeated key: dockerd takes the last value; harborkit refuses the file as
#: ambiguous (parse_json), a deliberate stricter verdict (the fix keeps the last)
STRICTER = ['{"insecure-registries": ["x.x.x.x:port"], "insecure-registries": ["1.2.3.4:80"]}']
# also refused as unsound data though dockerd starts (by hand): a lone surrogate
# escape ('{"labels": ["a=\\ud800"]}') and a repeated key inside another object


@pytest.mark.parametrize(("entry", "starts"), INSECURE, ids=[repr(e) for e, _ in INSECURE])
def test_insecure_registry_entry_as_dockerd(entry: str, starts: bool) -> None:
    assert (insecure_entry_refused(entry) is None) is starts


@pytest.mark.parametrize(("entry", "starts"), MIRRORS, ids=[repr(e) for e, _ in MIRRORS])
def test_registry_mirror_as_dockerd(entry: str, starts: bool) -> None:
    assert (mirror_refused(entry) is None) is starts


def _entries_pass(out) -> bool:  # type: ignore[no-untyped-def]
    """No fail but for EnvironmentFile: the verdict "dockerd starts with this file"."""
    return not any(f.status is Status.FAIL for f in out.findings if f.subject != "EnvironmentFile")


@pytest.mark.parametrize(("text", "starts"), FILES, ids=[t for t, _ in FILES])
def test_whole_file_as_dockerd(tmp_path: Path, text: str, starts: bool) -> None:
    out = _judge(_root(tmp_path, {DJ: text}))
    assert _entries_pass(out) is (starts and text not in STRICTER), out.message


def test_more_after_the_json_object_is_a_warning_and_a_fix_keeps_what_dockerd_reads(
    tmp_path: Path,
) -> None:
    text = '{"insecure-registries": ["192.168.3.60:8888"]}\n{"debug": true}\n'
    root = _root(tmp_path, {DJ: text, YML: HARBOR_HTTP})
    out = _judge(root, harbor_config=YML)
    assert (out.status, [(f.status, f.message) for f in out.findings[:2]]) == (
        Status.WARN,
        [
            (Status.PASS, f"{DJ} starts with a JSON object, as dockerd reads it"),
            (
                Status.WARN,
                "line 2 column 1: more after the JSON object; dockerd reads the first value "
                "and ignores the rest (remove it)",
            ),
        ],
    )
    # Harbor missing from the value dockerd reads: the fix adds it to that value
    # (what followed it, which dockerd never read, is not carried over)
    text = '{"debug": false}\n{"insecure-registries": ["192.168.3.60:8888"]}\n'
    root = _root(tmp_path / "b", {DJ: text, YML: HARBOR_HTTP})
    r = hk(
        "fix",
        "--root",
        str(root),
        "--only",
        "docker.daemon_json",
        "--harbor-config",
        YML,
        "--apply",
    )
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert json.loads((root / DJ.lstrip("/")).read_text()) == {
        "debug": False,
        "insecure-registries": ["192.168.3.60:8888"],
    }


@pytest.mark.parametrize(
    ("entry", "starts"),
    [
        ("h:" + "9" * 5000, False),  # past Python's 4300-digit int() limit: no traceback
        ("h:" + "0" * 5000 + "80", True),
        ("1.2.3.4:-" + "0" * 5000, True),
        ("10.0.0.0/" + "0" * 5000 + "8", True),
        ("10.0.0.0/" + "0" * 5000 + "33", False),
        ("10.0.0.0/" + "9" * 5000, False),
    ],
    ids=[
        "port-9x5000",
        "port-0x5000-80",
        "port-minus-0x5000",
        "bits-0x5000-8",
        "bits-33",
        "bits-9x5000",
    ],
)
def test_numbers_of_any_length_as_go_reads_them(entry: str, starts: bool) -> None:
    # as the 50-digit entries of INSECURE, which dockerd answered
    assert (insecure_entry_refused(entry) is None) is starts


def test_a_prefix_with_leading_zeros_covers_harbor(tmp_path: Path) -> None:
    # dockerd reads 192.168.0.0/016 as /16: Harbor at 192.168.3.60 is covered
    text = json.dumps({"insecure-registries": ["192.168.0.0/016"]})
    out = _judge(_root(tmp_path, {DJ: text, YML: HARBOR_HTTP}), harbor_config=YML)
    assert out.status is Status.PASS, out.message


@pytest.mark.parametrize(
    "text",
    [
        '{"Insecure-Registries": ["x.x.x.x:port"]}',
        '{"insecure_registries": []}',
        '{"registry-mirrors": "https://m"}',
    ],
)
def test_fix_never_restarts_docker_with_a_key_dockerd_refuses(tmp_path: Path, text: str) -> None:
    root = _root(tmp_path, {DJ: text, YML: HARBOR_HTTP})
    r = hk("fix", "--root", str(root), "--only", "docker.daemon_json", "--harbor-config", YML)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    said = " ".join(r.stdout.split())
    assert "is refused by dockerd" in said and "correct it by hand" in said, said
    assert "systemctl restart docker" not in said, said


#: (entry, Harbor's host, port, covered): what a real dockerd 20.10.24 made of each
#: entry (its /info: InsecureRegistryCIDRs, IndexConfigs), by hand
COVERS = [
    ("::ffff:1.2.3.4/104", "1.9.9.9", 80, True),  # listed as 1.0.0.0/8
    ("::ffff:1.2.3.4/104", "2.0.0.1", 80, False),
    ("192.168.0.0/016", "192.168.3.60", 8888, True),  # listed as 192.168.0.0/16
    ("10.9.0.0/0000016", "10.9.1.1", 80, True),
    ("fd00::/8", "[fd00::5]", 5000, True),  # --harbor [fd00::5]:5000
    ("fd00::/8", "fd00::5", 5000, True),
    ("[fd00::5]:5000", "[fd00::5]", 5000, True),
    ("1.2.3.4:00080", "1.2.3.4", 80, False),  # kept as "1.2.3.4:00080": not Harbor's name
    ("Http://h2:80", "h2", 80, True),  # listed as h2:80
]


@pytest.mark.parametrize(("entry", "host", "port", "covered"), COVERS)
def test_covers_harbor_as_dockerd_reads_the_entry(
    entry: str, host: str, port: int, covered: bool
) -> None:
    from harborkit.checks.dockerd_registry import covers

    assert covers(entry, host, port) is covered


def _root(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "root"
    for rel, text in files.items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    root.mkdir(exist_ok=True)
    return root


def _judge(root: Path, **options: str):  # type: ignore[no-untyped-def]
    ctx = CheckContext(
        host=SysrootHost(root), profile=load_profile().data, options=CheckOptions(**options)
    )
    return run_check(DaemonJsonCheck, ctx)


def test_the_guides_placeholder_fails_with_its_line(tmp_path: Path) -> None:
    root = _root(
        tmp_path,
        {
            DJ: '{\n  "debug": false,\n  "insecure-registries": [\n    "x.x.x.x:port"\n  ]\n}\n',
            YML: HARBOR_HTTP,
        },
    )
    out = _judge(root, harbor_config=YML)
    assert out.status is Status.FAIL
    bad = [(f.status.value, f.subject, f.message, f.location) for f in out.findings][1:3]
    assert bad == [
        (
            "fail",
            "insecure-registries",
            '"x.x.x.x:port": dockerd refuses it (invalid host "x.x.x.x") and will not start '
            "with this file",
            f"{DJ}:4",
        ),
        (
            "fail",
            "insecure-registries",
            "does not list 192.168.3.60:8888, where Harbor serves plain HTTP (from "
            "/opt/harbor/harbor.yml)",
            DJ,
        ),
    ]


def test_a_refused_entry_never_covers_harbor(tmp_path: Path) -> None:
    # a trailing space: the address is Harbor's, but dockerd will not start
    text = json.dumps({"insecure-registries": ["192.168.3.60:8888 "]})
    out = _judge(_root(tmp_path, {DJ: text, YML: HARBOR_HTTP}), harbor_config=YML)
    assert out.status is Status.FAIL
    assert [f.status.value for f in out.findings[1:3]] == ["fail", "fail"]
    assert out.findings[1].message == (
        '"192.168.3.60:8888 ": dockerd refuses it (port "8888 " is not a number) and will not '
        "start with this file"
    )


def test_a_refused_mirror_fails(tmp_path: Path) -> None:
    text = json.dumps({"registry-mirrors": ["https://mirror.example/v2"]})
    out = _judge(_root(tmp_path, {DJ: text}))
    assert (out.status, out.message) == (
        Status.FAIL,
        'registry-mirrors: "https://mirror.example/v2": dockerd refuses it (path, query, or '
        "fragment at end of the URI) and will not start with this file",
    )


#: a sample of both tables, started for real (one dockerd per refused entry,
#: one for every accepted entry together)
LIVE_ACCEPTED = {
    "insecure-registries": [
        "192.168.3.60:8888",
        "[fd00::5]:5000",
        "fd00::5",
        "10.0.0.0/8",
        "http://harbor.local:8888",
        "192.168.3.60:",
        "::/0128",
    ],
    "registry-mirrors": [
        "https://mirror.example:5000",
        "http://1.2.3.4:5000/",
        "https:m",
        "https:/",
    ],
}
LIVE_REFUSED = [
    ("insecure-registries", "x.x.x.x:port"),
    ("insecure-registries", "[fd00::5]"),
    ("insecure-registries", "host:99999"),
    ("insecure-registries", "192.168.3.60:8888 "),
    ("insecure-registries", "-bad"),
    ("insecure-registries", "10.0.0.0/33"),
    ("registry-mirrors", "mirror.example"),
    ("registry-mirrors", "https://u:p@m"),
    ("registry-mirrors", "https://x.x.x.x:port"),
    ("registry-mirrors", "https://[fe80::1%eth0]:5000"),
]


def test_live_dockerd_agrees(tmp_path: Path) -> None:
    """The check passes a file exactly when a real dockerd starts with it."""
    cases = [LIVE_ACCEPTED] + [{key: [entry]} for key, entry in LIVE_REFUSED]
    roots = [_root(tmp_path / str(n), {DJ: json.dumps(data)}) for n, data in enumerate(cases)]
    # one private dockerd per file, all started side by side
    answers = dockerd_accepts_configs([root / DJ.lstrip("/") for root in roots])
    for data, root, (started, why) in zip_strict(cases, roots, answers):
        verdict = _judge(root)
        entries_pass = not any(
            f.status is Status.FAIL for f in verdict.findings if f.subject != "EnvironmentFile"
        )
        assert entries_pass is started, (data, verdict.message, why)
        if not started:
            assert "failed to start daemon" in why, why


@pytest.mark.parametrize("harbor", [True, False], ids=["harbor-yml", "no-harbor-yml"])
def test_fix_of_the_guides_file_starts_dockerd(tmp_path: Path, harbor: bool) -> None:
    """The guide's host as written, fixed and checked again: dockerd starts."""
    files = {DJ: GUIDE, "/etc/hostname": "server58\n"}
    if harbor:
        files[YML] = HARBOR_HTTP
    root = _root(tmp_path, files)
    options = ["--harbor-config", YML] if harbor else []
    r = hk("fix", "--root", str(root), "--only", "docker.daemon_json", *options, "--apply")
    assert r.returncode in (0, 1), r.stderr
    written = json.loads((root / DJ.lstrip("/")).read_text())
    if harbor:
        assert written == {"insecure-registries": ["192.168.3.60:8888"]}
        assert "which dockerd refuses" not in r.stdout  # replaced: nothing left to do by hand
    else:
        assert written == {"insecure-registries": []}
        assert (
            'lists insecure-registries "x.x.x.x:port", which dockerd refuses (invalid host '
            '"x.x.x.x"): the fix removes it; add Harbor\'s "<hostname>:<port>" to '
            "insecure-registries" in " ".join(r.stdout.split())
        )
    started, why = dockerd_accepts_config(root / DJ.lstrip("/"))
    assert started, why
    again = _judge(root, **({"harbor_config": YML} if harbor else {}))
    assert again.status is (Status.PASS if harbor else Status.SKIP), again.message


# --- Harbor's address on a node without harbor.yml: --harbor / harbor.address --


def _check(root: Path, *args: str) -> dict:  # type: ignore[type-arg]
    r = hk("check", "--root", str(root), "--only", "docker.daemon_json", "-f", "json", *args)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)["results"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("harbor", "entries", "status", "message"),
    [
        ("192.168.3.60:8888", ["192.168.3.60:8888"], "pass", "lists 192.168.3.60:8888"),
        (
            "http://192.168.3.60:8888/",
            ["10.0.0.0/8", "192.168.3.0/24"],
            "pass",
            "lists 192.168.3.60:8888",
        ),
        (
            "192.168.3.60:8888",
            ["192.168.3.60:80"],
            "fail",
            "does not list 192.168.3.60:8888, where Harbor serves plain HTTP (from --harbor)",
        ),
        ("harbor.lan", ["harbor.lan"], "pass", "lists harbor.lan:80"),
        ("https://harbor.lan", [], "pass", "Harbor serves HTTPS: no entry needed"),
        # a scheme in capitals is the same scheme (RFC 3986), as dockerd reads entries
        ("HTTPS://harbor.lan", [], "pass", "Harbor serves HTTPS: no entry needed"),
        ("Http://harbor.lan:8888", ["harbor.lan:8888"], "pass", "lists harbor.lan:8888"),
        # an IPv6 Harbor in brackets is inside the range dockerd treats as insecure
        ("[fd00::5]:5000", ["fd00::/8"], "pass", "lists [fd00::5]:5000"),
    ],
)
def test_harbor_address_judges_a_client_node(
    tmp_path: Path, harbor: str, entries: list[str], status: str, message: str
) -> None:
    root = _root(tmp_path, {DJ: json.dumps({"insecure-registries": entries})})
    got = _check(root, "--harbor", harbor)
    assert got["status"] == status
    assert [f["message"] for f in got["findings"] if f["subject"] == "insecure-registries"] == [
        message
    ]


def test_harbor_address_from_the_profile(tmp_path: Path) -> None:
    import yaml

    from harborkit.engine.profile import load_profile

    data = dict(load_profile().data)
    data["harbor"] = {**data["harbor"], "address": "192.168.3.60:8888"}
    prof = tmp_path / "site.yaml"
    prof.write_text(yaml.safe_dump(data))
    root = _root(tmp_path, {DJ: "{}"})
    got = _check(root, "--profile", str(prof))
    assert (got["status"], got["findings"][1]["message"]) == (
        "fail",
        "does not list 192.168.3.60:8888, where Harbor serves plain HTTP (from --harbor)",
    )
    # harbor.yml, when given, is Harbor's own word and wins
    root2 = _root(
        tmp_path / "b", {DJ: '{"insecure-registries": ["192.168.3.60:8888"]}', YML: HARBOR_HTTP}
    )
    assert _check(root2, "--profile", str(prof), "--harbor-config", YML)["status"] == "pass"


@pytest.mark.parametrize(
    "bad",
    ["x y", "ftp://h", "h:0", "h:65536", "h:port", "http://u@h", "h/path", "", "-h"]
    # names dockerd refuses as a registry (INSECURE): no docker client can reach them
    + ["a..b", "a.-b:80", "a-.b", "http://a..b:8888", "h\u00e4rbor.local"],
)
def test_a_bad_harbor_address_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    root = _root(tmp_path, {DJ: "{}"})
    r = hk("check", "--root", str(root), "--harbor", bad)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [
        f"harborkit: error: --harbor {bad!r}: not a Harbor address (http[s]://HOST[:PORT] or "
        "HOST[:PORT])"
    ]


def test_fix_with_harbor_replaces_the_guides_placeholder(tmp_path: Path) -> None:
    root = _root(tmp_path, {DJ: GUIDE})
    r = hk(
        "fix",
        "--root",
        str(root),
        "--only",
        "docker.daemon_json",
        "--harbor",
        "192.168.3.60:8888",
        "--apply",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((root / DJ.lstrip("/")).read_text()) == {
        "insecure-registries": ["192.168.3.60:8888"]
    }
    assert _check(root, "--harbor", "192.168.3.60:8888")["status"] == "pass"


def test_runtime_names_harbor_the_running_daemon_does_not_treat_as_insecure() -> None:
    from harborkit.checks.daemon_runtime import DaemonRuntime
    from tests.checks.test_daemon_json import snapshot_ctx

    for address, status, message in [
        (
            "192.168.3.60:8888",
            Status.PASS,
            "the running daemon treats 192.168.3.60:8888 as insecure",
        ),
        ("10.20.3.4:5000", Status.PASS, "the running daemon treats 10.20.3.4:5000 as insecure"),
        (
            "192.168.3.61:8888",
            Status.FAIL,
            "the running daemon does not treat Harbor's 192.168.3.61:8888 as insecure: docker "
            "login, push and pull to it fail (list it in daemon.json, restart docker)",
        ),
    ]:
        ctx = snapshot_ctx(json.dumps({"insecure-registries": ["192.168.3.60:8888", "harbor.lan"]}))
        ctx.profile = {**ctx.profile, "harbor": {**ctx.profile["harbor"], "address": address}}
        out = run_check(DaemonRuntime, ctx)
        harbor = [f for f in out.findings if f.subject == "Harbor"]
        assert [(f.status, f.message) for f in harbor] == [(status, message)]
