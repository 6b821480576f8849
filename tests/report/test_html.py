"""The HTML report, opened in a real headless Chromium.

The page must work offline: a loopback HTTP server counts every request the
browser makes while it renders a report full of markup planted in messages,
paths, host names and remediation text; the count must stay 0, and the DOM
must hold that markup as text. A control page that does reference the server
proves the counter would see a fetch. The screenshot and the page are kept
under ``.work/artifacts/report-html/`` (listed at the end of the pytest run).

The HTML page, fragment for fragment: the matrix cells (status class,
link, hover text), each host's section (verdict, counts, findings, fixes,
waivers, notes) and the escaping of hostile text. The browser test
(test_html.py) proves the page loads nothing; this one pins what it says."""

from __future__ import annotations

import http.server
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harborkit.engine.cluster import ClusterReport, Unreachable, run_cluster
from harborkit.engine.plugins import LoadedCheck, discover
from harborkit.engine.profile import load_profile
from harborkit.engine.runner import Selection
from harborkit.host import SysrootHost
from harborkit.model.check import (
    Check,
    CheckContext,
    CheckOptions,
    Finding,
    Outcome,
    Severity,
    Status,
)
from harborkit.model.result import CheckResult, WaiverUse
from harborkit.report import OutputFormat, renderer
from harborkit.report.html import _CSS, CSP, _finding, _findings, _t, render_html
from tests.cluster.hosts import copy_fixture
from tests.report.fleet import A1, B2, FLEET, REFUSED, host, info

REPO = Path(__file__).resolve().parents[2]


ARTIFACTS = REPO / ".work" / "artifacts" / "report-html"


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Counter(http.server.ThreadingHTTPServer):
    paths: list[str]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def counter() -> Iterator[Counter]:
    server = Counter(("127.0.0.1", 0), _Handler)
    server.paths = []
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


def chromium(page: Path, work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed (make test installs it: Makefile DEBS)"
    return subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            f"--user-data-dir={work / 'chromium-profile'}",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=work,
    )


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.text_parts).strip()

    def iter(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        def match(n: Node) -> bool:
            return all(
                (v in n.attrs.get(k.rstrip("_"), "").split())
                if k == "class_"
                else n.attrs.get(k) == v
                for k, v in attrs.items()
            )

        return [n for n in self.iter() if n.tag == tag and match(n)]

    def find(self, tag: str, **attrs: str) -> Node:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag} {attrs}>"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for n in self.stack[1:]:
            n.text_parts.append(data)


def dom(serialised: str) -> Node:
    b = _Builder()
    b.feed(serialised)
    b.close()
    return b.root


@pytest.fixture(scope="module")
def hostile(counter: Counter) -> dict[str, str]:
    """Markup that would fetch from the counter if the page let it through."""
    base = f"http://127.0.0.1:{counter.server_address[1]}"
    return {
        "message": f'<img src="{base}/message.png"> <script>fetch("{base}/script")</script>',
        "location": f'/etc/motd:3"><img src="{base}/location.png">',
        "remediation": f'<a href="{base}/fix">fix</a> & <style>@import "{base}/x.css";</style>',
        "hostname": f'evil"><img src={base}/host.png>',
        "reason": f"<b>down</b> <iframe src={base}/frame></iframe>\x1b[31m",
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, hostile: dict[str, str]) -> ClusterReport:
    tmp = tmp_path_factory.mktemp("html")
    roots = [
        copy_fixture(tmp, "guide-as-written"),
        copy_fixture(tmp, "centos7-compliant", "server59"),
        copy_fixture(tmp, "debian12"),
    ]
    (roots[2] / "etc/hostname").write_text(hostile["hostname"] + "\n")

    class Planted(Check):
        """A plugin whose output carries markup."""

        id = "site.planted"
        title = "planted <b>title</b>"
        group = "site"
        severity = Severity.LOW
        remediation = hostile["remediation"]

        def run(self, ctx: CheckContext) -> Outcome:
            f = Finding(Status.FAIL, "motd", hostile["message"], location=hostile["location"])
            return Outcome(Status.FAIL, hostile["message"], (f,))

    loaded, _ = discover()
    prof = load_profile()
    only = ("selinux", "limits.pam", "docker.daemon_json", "network", "time", "cluster", "site")
    return run_cluster(
        [
            SysrootHost(roots[0]),
            SysrootHost(roots[1]),
            Unreachable("server60", hostile["reason"]),
            SysrootHost(roots[2]),
        ],
        [*loaded, LoadedCheck(Planted, "site-plugin")],
        prof,
        selection=Selection(prof.select, prof.skip, only=only),
        options=CheckOptions(install_dir="/opt/harbor"),
    )


@dataclass(frozen=True)
class Rendered:
    page: Path
    dom: Node
    screenshot: Path


@pytest.fixture(scope="module")
def rendered(
    cluster: ClusterReport, counter: Counter, tmp_path_factory: pytest.TempPathFactory
) -> Rendered:
    work = tmp_path_factory.mktemp("chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = ARTIFACTS / "cluster-report.html"
    page.write_text(renderer(OutputFormat.html)(cluster, strict=False), encoding="utf-8")
    shot = ARTIFACTS / "cluster-report.png"
    shot.unlink(missing_ok=True)
    r = chromium(page, work, f"--screenshot={shot}", "--window-size=1280,2400")
    assert r.returncode == 0, r.stderr[-2000:]
    r = chromium(page, work, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    (ARTIFACTS / "cluster-report.dom.html").write_text(r.stdout, encoding="utf-8")
    return Rendered(page, dom(r.stdout), shot)


def test_the_page_fetches_nothing_and_the_counter_would_see_a_fetch(
    rendered: Rendered, counter: Counter, tmp_path: Path
) -> None:
    assert counter.paths == []
    control = tmp_path / "control.html"
    port = counter.server_address[1]
    control.write_text(
        f'<!DOCTYPE html><html><body><img src="http://127.0.0.1:{port}/control.png"></body></html>'
    )
    r = chromium(control, tmp_path, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    assert counter.paths == ["/control.png"]


def test_nothing_active_in_the_dom_and_planted_markup_is_text(
    rendered: Rendered, hostile: dict[str, str]
) -> None:
    doc = rendered.dom
    for tag in ("script", "img", "iframe", "link", "object", "embed", "a", "b", "base", "form"):
        found = doc.find_all(tag)
        if tag == "a":  # only the page's own anchors
            assert all(n.attrs["href"].startswith("#") for n in found)
        else:
            assert found == [], tag
    assert len(doc.find_all("style")) == 1
    (csp,) = [
        m for m in doc.find_all("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp.attrs["content"] == CSP
    assert "default-src 'none'" in CSP and "script-src 'none'" in CSP

    planted = doc.find("section", id="host-0").find("tr", **{"data-check": "site.planted"})
    assert planted.find("div", class_="message").text == hostile["message"]
    assert planted.find("code", class_="loc").text == hostile["location"]
    assert planted.find("div", class_="fix").text == "fix: " + hostile["remediation"]
    assert "planted <b>title</b>" in planted.text
    down = doc.find("section", id="host-2")
    assert down.find("p", class_="unreachable").text == (
        "not audited: " + hostile["reason"].replace("\x1b", "\\x1b")
    )
    assert doc.find("section", id="host-3").attrs["data-host"] == hostile["hostname"]


def test_matrix_links_every_cell_to_the_hosts_result(
    rendered: Rendered, cluster: ClusterReport, hostile: dict[str, str]
) -> None:
    doc = rendered.dom
    matrix = doc.find("table", class_="matrix")
    head = [th.text for th in matrix.find("thead", **{}).find_all("th")]
    assert head == ["check", "server58", "server59", "server60", hostile["hostname"]]
    rows = {tr.attrs["data-check"]: tr for tr in matrix.find_all("tr") if "data-check" in tr.attrs}
    assert list(rows)[:2] == ["network.hostname", "network.nodes"]
    assert [td.text for td in rows["selinux.mode"].find_all("td")] == ["FAIL", "PASS", "–", "PASS"]
    assert [td.text for td in rows["host.reachable"].find_all("td")] == ["–", "–", "ERROR", "–"]
    assert [td.text for td in rows["cluster.ntp"].find_all("td")] == ["PASS", "PASS", "–", "FAIL"]
    assert rows["cluster.ntp"].attrs.get("class") == "cross"
    # hovering a cell says what it stands for
    ntp_cells = rows["cluster.ntp"].find_all("td")
    assert ntp_cells[1].attrs["title"] == "ntpd uses the master 192.168.3.58"
    assert rows["selinux.mode"].find_all("td")[0].attrs["title"] == (
        "disabled in config, enforcing until reboot"
    )
    assert "title" not in rows["selinux.mode"].find_all("td")[2].attrs  # not run there
    verdicts = matrix.find("tr", class_="verdicts")
    assert [td.text for td in verdicts.find_all("td")] == [
        "FAILED",
        "FAILED",  # the planted check fails everywhere
        "UNREACHABLE",
        "FAILED",
    ]

    ids = {n.attrs["id"]: n for n in doc.iter() if "id" in n.attrs}
    for check_id in ("selinux.mode", "limits.pam", "cluster.ntp", "site.planted"):
        for td in rows[check_id].find_all("td"):
            for a in td.find_all("a"):
                target = ids[a.attrs["href"][1:]]
                assert target.attrs["data-check"] == check_id
    # the selinux cell of server58 leads to server58's section
    (a,) = rows["selinux.mode"].find_all("td")[0].find_all("a")
    section = doc.find("section", id="host-0")
    assert a.attrs["href"][1:] in {n.attrs.get("id") for n in section.iter()}


def test_findings_locations_and_remediation_per_host(rendered: Rendered) -> None:
    doc = rendered.dom
    assert doc.find("p", id="verdict").text.startswith("FAILED: 4 hosts, 1 unreachable, ")
    s58 = doc.find("section", id="host-0")
    assert s58.find("h2").text == "server58 FAILED"
    selinux = s58.find("tr", **{"data-check": "selinux.mode"})
    assert (
        selinux.find("div", class_="message").text == "disabled in config, enforcing until reboot"
    )
    assert [c.text for c in selinux.find_all("code", class_="loc")] == [
        "/sys/fs/selinux/enforce",
        "/etc/selinux/config:6",
    ]
    # the config already says disabled: the hint is the runtime's, not the config's
    assert selinux.find("div", class_="fix").text == (
        "fix: run: setenforce 0\n"
        "reboot to make SELINUX=disabled take effect (the running kernel is enforcing)"
    )
    limits = s58.find("tr", **{"data-check": "limits.pam"})
    locs = [c.text for c in limits.find_all("code", class_="loc")]
    assert "/etc/security/limits.conf:17" in locs and "/etc/profile:31" in locs
    daemon = s58.find("tr", **{"data-check": "docker.daemon_json"})
    assert "/etc/docker/daemon.json:2:3" in [c.text for c in daemon.find_all("code", class_="loc")]
    cross = doc.find("section", id="cluster")
    names = cross.find("tr", **{"data-check": "cluster.ntp"})
    assert [c.text for c in names.find_all("code", class_="loc")][:1] == [
        "/etc/systemd/timesyncd.conf"
    ]


def test_screenshot_is_a_png_of_the_window(rendered: Rendered) -> None:
    data = rendered.screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2400)
    assert len(data) > 50_000  # a rendered page, not a blank one


def test_a_fix_hint_keeps_its_tabs_in_the_browser(tmp_path: Path) -> None:
    """The /etc/hosts hint in a <pre>: the browser's DOM holds the tabs the fix
    writes (a copy from the page pastes them), and the page's style keeps them."""
    from harborkit.engine.profile import with_nodes
    from harborkit.engine.runner import run_checks
    from harborkit.model.check import CheckContext as Ctx

    root = copy_fixture(tmp_path, "debian12")
    loaded, _ = discover()
    prof = with_nodes(load_profile(None), ["server59=192.168.3.59", "harbor01=192.168.3.61"])
    ctx = Ctx(SysrootHost(root), prof.data, CheckOptions(None, "/opt/harbor"))
    rep = run_checks(
        loaded, ctx, profile_name="t", profile_path="t", selection=Selection(only=("network",))
    )
    page = tmp_path / "hint.html"
    page.write_text(renderer(OutputFormat.html)(rep, strict=False), encoding="utf-8")
    r = chromium(page, tmp_path, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    # network.hostname plans the same /etc/hosts change: the hint is under it,
    # network.nodes names it
    nodes = dom(r.stdout).find("tr", **{"data-check": "network.nodes"})
    assert nodes.find("div", class_="fix").text == (
        "fix: the same change as network.hostname above (/etc/hosts)"
    )
    row = dom(r.stdout).find("tr", **{"data-check": "network.hostname"})
    pre = row.find("pre", class_="hint")
    assert "".join(pre.text_parts) == (
        "in /etc/hosts, line 2: change '127.0.1.1\tharbor01.example.lan\tharbor01' to "
        "'127.0.1.1\tharbor01.example.lan'; line 10: change '192.168.3.60 server59' to "
        "'# 192.168.3.60 server59  # harborkit: server59 moved below'; add at the end:\n"
        "    192.168.3.59\tserver59\n"
        "    192.168.3.61\tharbor01\n"
        "  (the addresses of the profile's nodes)"
    )
    assert row.find("div", class_="fix").text.startswith("fix: in /etc/hosts, line 2: ")
    style = dom(r.stdout).find("style").text
    assert ".fix pre { margin: 2px 0 0; white-space: pre-wrap; tab-size: 8;" in style


HEAD = (
    "<!DOCTYPE html>\n"
    '<html lang="en"><head><meta charset="utf-8">\n'
    f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
    '<meta name="referrer" content="no-referrer">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
)


RESULTS_HEAD = (
    '<table class="results"><thead><tr><th>status</th><th>check</th><th>severity</th>'
    "<th>result</th></tr></thead><tbody>"
)


NONE = '<span class="badge st-none">–</span>'


def _body(page: str) -> str:
    head, body = page.split(f"<style>{_CSS}</style></head>\n", 1)
    assert head.startswith(HEAD)
    return body


def test_one_host_page_exactly() -> None:
    page = render_html(A1)
    assert page.startswith(HEAD + "<title>harborkit check: a1</title>\n<style>")
    assert _body(page) == (
        "<body>\n<header>\n"
        "<h1>harborkit check: a1</h1>\n"
        '<p id="verdict" class="verdict st-fail">FAILED: 2 checks on a1: 1 pass, 1 fail</p>\n'
        '<p class="meta">profile prof (p.yaml), started 2026-11-26T00:00:00Z, harborkit 0.1.0</p>\n'
        "</header>\n<main>\n"
        '<section class="host" id="host-0" data-host="a1">\n'
        # one host: its section open; what needs attention first, the rest folded
        '<details class="host-details" open><summary>\n'
        '<h2>a1 <span class="verdict st-fail">FAILED</span></h2>\n'
        '<p class="meta">sysroot, 2 checks: 1 pass, 1 fail; '
        "started 2026-11-26T00:00:00Z, 1.50 s</p></summary>\n"
        f"{RESULTS_HEAD}\n"
        '<tr id="h0-c1" class="result st-fail" data-check="chk.two">'
        '<td class="status"><span class="badge st-fail">FAIL</span></td>'
        '<td><code class="check-id">chk.two</code><br>Two</td><td class="severity">critical</td>'
        '<td class="msg"><div class="message">two bad</div><ul class="findings">'
        '<li class="finding st-fail"><span class="st-fail">fail</span> <strong>k</strong>: bad '
        '(expected <code>&gt;= 5</code>, found <code>3</code>) <code class="loc">/etc/two:4</code>'
        '</li></ul><div class="fix"><strong>fix:</strong> <pre class="hint">fix it</pre></div></td></tr>\n'
        "</tbody></table>\n"
        '<details class="quiet"><summary>1 passing check</summary>\n'
        f"{RESULTS_HEAD}\n"
        '<tr id="h0-c0" class="result st-pass" data-check="chk.one">'
        '<td class="status"><span class="badge st-pass">PASS</span></td>'
        '<td><code class="check-id">chk.one</code><br>One</td><td class="severity">high</td>'
        '<td class="msg"><div class="message">one ok</div></td></tr>\n'
        "</tbody></table></details>\n</details></section>\n</main>\n</body></html>\n"
    )


def test_one_host_verdict_follows_strict() -> None:
    assert '<p id="verdict" class="verdict st-pass">OK: 2 checks on b2: 1 skip, 1 warn</p>' in (
        render_html(B2)
    )
    strict = render_html(B2, strict=True)
    assert '<p id="verdict" class="verdict st-fail">FAILED: 2 checks on b2: 1 skip, 1 warn</p>' in (
        strict
    )
    assert '<h2>b2 <span class="verdict st-fail">FAILED</span></h2>' in strict
    assert '<p class="meta">live host, 2 checks: 1 skip, 1 warn; ' in strict
    assert '<p class="note">note: b2 note</p>\n</details></section>' in strict


HOSTILE = host(
    "<h\"x'>\x1b",
    (
        CheckResult(
            info("w.a", "T<1>", rem="a & b\nc"),
            Status.WAIVED,
            "was <b>",
            (Finding(Status.PASS, "s1", "ok"), Finding(Status.SKIP, "s2", "n/a", None, "0")),
            0.0,
            WaiverUse('ok\'d "by" ops', "2027-01-31", False, "w.yaml:2"),
            Status.FAIL,
        ),
        CheckResult(
            info("w.b", "T2"),
            Status.WAIVED,
            "was",
            (),
            0.0,
            WaiverUse("forever", None, False, "w.yaml:3"),
            Status.WARN,
        ),
        CheckResult(
            info("w.c", "T3"),
            Status.PASS,
            "fine",
            (),
            0.0,
            WaiverUse("old", "2026-01-01", True, "w.yaml:4"),
        ),
        CheckResult(info("w.d", "T4", rem=""), Status.FAIL, "bad", (), 0.0),
    ),
    live=True,
    duration=0.125,
)


H = "&lt;h&quot;x&#x27;&gt;\\x1b"  # the host name, escaped and made visible


def test_hostile_text_waivers_and_fixes() -> None:
    page = render_html(HOSTILE)
    assert page.startswith(HEAD + f"<title>harborkit check: {H}</title>\n")
    assert _body(page) == (
        "<body>\n<header>\n"
        f"<h1>harborkit check: {H}</h1>\n"
        f'<p id="verdict" class="verdict st-fail">FAILED: 4 checks on {H}: '
        "1 pass, 2 waived, 1 fail</p>\n"
        '<p class="meta">profile prof (p.yaml), started 2026-11-26T00:00:00Z, harborkit 0.1.0</p>\n'
        "</header>\n<main>\n"
        f'<section class="host" id="host-0" data-host="{H}">\n'
        '<details class="host-details" open><summary>\n'
        f'<h2>{H} <span class="verdict st-fail">FAILED</span></h2>\n'
        '<p class="meta">live host, 4 checks: 1 pass, 2 waived, 1 fail; '
        "started 2026-11-26T00:00:00Z, 0.12 s</p></summary>\n"
        f"{RESULTS_HEAD}\n"
        # waived until a date: the reason and the date; passing findings folded;
        # a waived check keeps its fix (one step a line)
        '<tr id="h0-c0" class="result st-waived" data-check="w.a">'
        '<td class="status"><span class="badge st-waived">WAIVED</span></td>'
        '<td><code class="check-id">w.a</code><br>T&lt;1&gt;</td><td class="severity">high</td>'
        '<td class="msg"><div class="message">was &lt;b&gt; <span class="st-waived">'
        "[waived: ok&#x27;d &quot;by&quot; ops (until 2027-01-31)]</span></div>"
        "<details><summary>2 passing or not-judged findings</summary>"
        '<ul class="findings"><li class="finding st-pass"><span class="st-pass">pass</span> '
        '<strong>s1</strong>: ok</li><li class="finding st-skip"><span class="st-skip">skip</span>'
        " <strong>s2</strong>: n/a (found <code>0</code>)</li></ul></details>"
        '<div class="fix"><strong>fix:</strong> <pre class="hint">a &amp; b\nc</pre></div></td></tr>\n'
        # waived for good: no date
        '<tr id="h0-c1" class="result st-waived" data-check="w.b">'
        '<td class="status"><span class="badge st-waived">WAIVED</span></td>'
        '<td><code class="check-id">w.b</code><br>T2</td><td class="severity">high</td>'
        '<td class="msg"><div class="message">was <span class="st-waived">[waived: forever]'
        '</span></div><div class="fix"><strong>fix:</strong> <pre class="hint">fix it</pre></div></td></tr>\n'
        # a failure without remediation: no fix paragraph
        '<tr id="h0-c3" class="result st-fail" data-check="w.d">'
        '<td class="status"><span class="badge st-fail">FAIL</span></td>'
        '<td><code class="check-id">w.d</code><br>T4</td><td class="severity">high</td>'
        '<td class="msg"><div class="message">bad</div></td></tr>\n'
        "</tbody></table>\n"
        '<details class="quiet"><summary>1 passing check</summary>\n'
        f"{RESULTS_HEAD}\n"
        # an expired waiver is shown on a passing check, with no fix
        '<tr id="h0-c2" class="result st-pass" data-check="w.c">'
        '<td class="status"><span class="badge st-pass">PASS</span></td>'
        '<td><code class="check-id">w.c</code><br>T3</td><td class="severity">high</td>'
        '<td class="msg"><div class="message">fine <span class="st-warn">'
        "[waiver expired 2026-01-01]</span></div></td></tr>\n"
        "</tbody></table></details>\n</details></section>\n</main>\n</body></html>\n"
    )


def test_a_waiver_not_applied_and_not_expired_says_nothing() -> None:
    r = CheckResult(
        info("c", "C"), Status.FAIL, "no", (), 0.0, WaiverUse("later", "2027-01-01", False, "w:1")
    )
    page = render_html(host("h", (r,)))
    assert '<div class="message">no</div><div class="fix">' in page


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<a href='x'>&", "&lt;a href=&#x27;x&#x27;&gt;&amp;"),
        ('"q"', "&quot;q&quot;"),
        ("bidi\u202eevil\u2066", "bidi\\u202eevil\\u2066"),
        ("bell\x07 nul\x00 line\nkept", "bell\\x07 nul\\x00 line\nkept"),
        (3, "3"),
    ],
)
def test_text_is_escaped_and_controls_made_visible(text: object, shown: str) -> None:
    assert _t(text) == shown


def test_finding_parts() -> None:
    assert _finding(Finding(Status.WARN, "s<", "m>", "e&", None, "/etc/f:1")) == (
        '<li class="finding st-warn"><span class="st-warn">warn</span> <strong>s&lt;</strong>: '
        'm&gt; (expected <code>e&amp;</code>) <code class="loc">/etc/f:1</code></li>'
    )
    # an empty expected value is still a value
    assert _finding(Finding(Status.ERROR, "s", "m", "", "")) == (
        '<li class="finding st-error"><span class="st-error">error</span> <strong>s</strong>: m'
        " (expected <code></code>, found <code></code>)</li>"
    )


def test_findings_split_attention_from_the_rest() -> None:
    fail = Finding(Status.FAIL, "f", "x")
    waived = Finding(Status.WAIVED, "w", "y")
    skip = Finding(Status.SKIP, "s", "z")
    assert _findings(()) == ""
    assert _findings((fail, waived)) == (
        f'<ul class="findings">{_finding(fail)}{_finding(waived)}</ul>'
    )
    assert _findings((skip,)) == (
        "<details><summary>1 passing or not-judged finding</summary>"
        f'<ul class="findings">{_finding(skip)}</ul></details>'
    )


def _cell(
    st: str, host_: str, inner: str, title: str | None = None, href: str | None = None
) -> str:
    tip = f' title="{title}"' if title else ""
    badge = f'<span class="badge st-{st}">{inner}</span>'
    if href:
        badge = f'<a href="#{href}">{badge}</a>'
    return f'<td class="st-{st}" data-host="{host_}"{tip}>{badge}</td>'


def _none(host_: str) -> str:
    return f'<td class="st-none" data-host="{host_}">{NONE}</td>'


def _row(cid: str, title: str, cells: list[str], cross: bool = False) -> str:
    kind = ' class="cross"' if cross else ""
    return (
        f'<tr{kind} data-check="{cid}"><th scope="row" title="{title}"><code>{cid}</code></th>'
        + "".join(cells)
        + "</tr>"
    )


MATRIX = (
    '<section id="matrix"><h2>Hosts × checks</h2>'
    '<p class="meta">A cell links to the host\'s result; cross-node checks (italic) show '
    "what they found about each host.</p>"
    '<div class="scroll"><table class="matrix"><thead><tr><th scope="col">check</th>'
    '<th scope="col" class="host-col"><a href="#host-0">a1</a></th>'
    '<th scope="col" class="host-col"><a href="#host-1">b2</a></th>'
    '<th scope="col" class="host-col"><a href="#host-2">c3</a></th>'
    '<th scope="col" class="host-col"><a href="#host-3">d4</a></th>'
    "</tr></thead><tbody>"
    + _row(
        "chk.one",
        "One",
        [
            _cell("pass", "a1", "PASS", "one ok", "h0-c0"),
            _cell("warn", "b2", "WARN", "one odd", "h1-c0"),
            _none("c3"),
            _none("d4"),
        ],
    )
    + _row(
        "chk.two",
        "Two",
        [_cell("fail", "a1", "FAIL", "two bad", "h0-c1"), _none("b2"), _none("c3"), _none("d4")],
    )
    + _row(
        "chk.three",
        "Three",
        [_none("a1"), _cell("skip", "b2", "SKIP", "not here", "h1-c1"), _none("c3"), _none("d4")],
    )
    + _row(
        "host.reachable",
        "Host reachable",
        [_none("a1"), _none("b2"), _cell("error", "c3", "ERROR", REFUSED, "h2-c0"), _none("d4")],
    )
    # cross-node cells link to the one cross-node result; their hover text is
    # what the check found about that host
    + _row(
        "cluster.x",
        "Cross",
        [
            _cell("pass", "a1", "PASS", "same", "x-c0"),
            _cell("fail", "b2", "FAIL", "odd; differs", "x-c0"),
            _none("c3"),
            _none("d4"),
        ],
        cross=True,
    )
    + _row(
        "cluster.s",
        "Skipped",
        [
            _cell("skip", "a1", "SKIP", href="x-c1"),
            _cell("skip", "b2", "SKIP", href="x-c1"),
            _none("c3"),
            _cell("skip", "d4", "SKIP", href="x-c1"),
        ],
        cross=True,
    )
    + _row(
        "cluster.e",
        "Broken",
        [
            _cell("error", "a1", "ERROR", href="x-c2"),
            _cell("error", "b2", "ERROR", href="x-c2"),
            _none("c3"),
            _cell("error", "d4", "ERROR", href="x-c2"),
        ],
        cross=True,
    )
    + _row(
        "cluster.p",
        "Passed",
        [_cell("pass", "a1", "PASS", "agrees", "x-c3"), _none("b2"), _none("c3"), _none("d4")],
        cross=True,
    )
    + '<tr class="verdicts"><th scope="row">host verdict</th><td class="st-fail">FAILED</td>'
    '<td class="st-pass">OK</td><td class="st-fail">UNREACHABLE</td><td class="st-pass">OK</td>'
    "</tr></tbody></table></div></section>"
)


def _result(
    anchor: str, st: str, cid: str, title: str, sev: str, message: str, rest: str = ""
) -> str:
    return (
        f'<tr id="{anchor}" class="result st-{st}" data-check="{cid}">'
        f'<td class="status"><span class="badge st-{st}">{st.upper()}</span></td>'
        f'<td><code class="check-id">{cid}</code><br>{title}</td><td class="severity">{sev}</td>'
        f'<td class="msg"><div class="message">{message}</div>{rest}</td></tr>'
    )


FIX = '<div class="fix"><strong>fix:</strong> <pre class="hint">fix it</pre></div>'


def _li(st: str, subject: str, message: str) -> str:
    return (
        f'<li class="finding st-{st}"><span class="st-{st}">{st}</span> '
        f"<strong>{subject}</strong>: {message}</li>"
    )


def _opening(section: str, host_: str, h2: str, meta: str, collapsed: bool = True) -> list[str]:
    return [
        f'<section class="host" id="{section}" data-host="{host_}">',
        f'<details class="host-details"{"" if collapsed else " open"}><summary>',
        h2,
        meta,
    ]


def _quiet(label: str, *rows: str) -> list[str]:
    return [f'<details class="quiet"><summary>{label}</summary>', RESULTS_HEAD, *rows]


CROSS_SECTION = [
    *_opening(
        "cluster",
        "cluster",
        '<h2>Cross-node checks (3 reachable hosts) <span class="verdict st-fail">FAILED</span></h2>',
        '<p class="meta">4 checks: 1 pass, 1 skip, 1 fail, 1 error; '
        "started 2026-11-26T00:00:00Z, 0.25 s</p></summary>",
        collapsed=False,
    ),
    RESULTS_HEAD,
    _result(
        "x-c0",
        "fail",
        "cluster.x",
        "Cross",
        "high",
        "b2 differs",
        f'<ul class="findings">{_li("warn", "b2", "odd")}{_li("fail", "b2", "differs")}</ul>'
        "<details><summary>1 passing or not-judged finding</summary>"
        f'<ul class="findings">{_li("pass", "a1", "same")}</ul></details>{FIX}',
    ),
    # the same advice as the row above: named, not repeated
    _result(
        "x-c2",
        "error",
        "cluster.e",
        "Broken",
        "high",
        "it broke",
        FIX.replace("fix it", "as for cluster.x above"),
    ),
    "</tbody></table>",
    *_quiet(
        "1 passing check and 1 skipped check",
        _result("x-c1", "skip", "cluster.s", "Skipped", "high", "too few"),
        _result(
            "x-c3",
            "pass",
            "cluster.p",
            "Passed",
            "high",
            "all agree",
            "<details><summary>1 passing or not-judged finding</summary>"
            f'<ul class="findings">{_li("pass", "a1", "agrees")}</ul></details>',
        ),
    ),
    "</tbody></table></details>",
    "</details></section>",
]


HOST_SECTIONS = [
    # each host folded to its verdict and counts
    *_opening(
        "host-0",
        "a1",
        '<h2>a1 <span class="verdict st-fail">FAILED</span></h2>',
        '<p class="meta">sysroot, 2 checks: 1 pass, 1 fail; '
        "started 2026-11-26T00:00:00Z, 1.50 s</p></summary>",
    ),
    RESULTS_HEAD,
    _result(
        "h0-c1",
        "fail",
        "chk.two",
        "Two",
        "critical",
        "two bad",
        '<ul class="findings"><li class="finding st-fail"><span class="st-fail">fail</span> '
        "<strong>k</strong>: bad (expected <code>&gt;= 5</code>, found <code>3</code>) "
        f'<code class="loc">/etc/two:4</code></li></ul>{FIX}',
    ),
    "</tbody></table>",
    *_quiet("1 passing check", _result("h0-c0", "pass", "chk.one", "One", "high", "one ok")),
    "</tbody></table></details>",
    "</details></section>",
    *_opening(
        "host-1",
        "b2",
        '<h2>b2 <span class="verdict st-pass">OK</span></h2>',
        '<p class="meta">live host, 2 checks: 1 skip, 1 warn; '
        "started 2026-11-26T00:00:00Z, 0.50 s</p></summary>",
    ),
    RESULTS_HEAD,
    _result("h1-c0", "warn", "chk.one", "One again", "high", "one odd", FIX),
    "</tbody></table>",
    *_quiet("1 skipped check", _result("h1-c1", "skip", "chk.three", "Three", "high", "not here")),
    "</tbody></table></details>",
    '<p class="note">note: b2 note</p>',
    "</details></section>",
    # an unreachable host: the reason instead of the counts, shown open
    '<section class="host" id="host-2" data-host="c3">',
    '<details class="host-details" open><summary>',
    '<h2>c3 <span class="verdict st-fail">UNREACHABLE</span></h2>',
    f'</summary><p class="unreachable">not audited: {REFUSED}</p>',
    RESULTS_HEAD,
    _result(
        "h2-c0",
        "error",
        "host.reachable",
        "Host reachable",
        "critical",
        REFUSED,
        '<div class="fix"><strong>fix:</strong> <pre class="hint">Make the host reachable (address, SSH access, '
        "host key, credentials) or leave it out</pre></div>",
    ),
    "</tbody></table>",
    "</details></section>",
    *_opening(
        "host-3",
        "d4",
        '<h2>d4 <span class="verdict st-pass">OK</span></h2>',
        '<p class="meta">sysroot, 0 checks: no checks; '
        "started 2026-11-26T00:00:00Z, 0.00 s</p></summary>",
    ),
    "</details></section>",
]


def test_cluster_page_exactly() -> None:
    page = render_html(FLEET)
    assert page.startswith(HEAD + "<title>harborkit check: 4 hosts</title>\n<style>")
    assert _body(page).split("\n") == [
        "<body>",
        "<header>",
        "<h1>harborkit check: 4 hosts</h1>",
        '<p id="verdict" class="verdict st-fail">FAILED: 4 hosts, 1 unreachable, 9 checks: '
        "2 pass, 2 skip, 1 warn, 2 fail, 2 error; failing: a1, c3, cluster</p>",
        '<p class="meta">profile prof (p.yaml), started 2026-11-26T00:00:00Z, 2.25 s, '
        "harborkit 0.1.0</p>",
        "</header>",
        "<main>",
        MATRIX,
        *CROSS_SECTION,
        *HOST_SECTIONS,
        "</main>",
        "</body></html>",
        "",
    ]


def test_cluster_page_of_one_passing_host() -> None:
    from tests.report.test_cluster_formats import fleet

    page = render_html(fleet(replace(B2, notes=())))
    body = _body(page)
    assert page.startswith(HEAD + "<title>harborkit check: 1 hosts</title>\n")
    assert body.startswith(
        "<body>\n<header>\n<h1>harborkit check: 1 host</h1>\n"
        '<p id="verdict" class="verdict st-pass">OK: 1 host, 2 checks: 1 skip, 1 warn</p>\n'
        '<p class="meta">profile prof (p.yaml), started 2026-11-26T00:00:00Z, 0.00 s, '
        "harborkit 0.1.0</p>\n"
    )
    assert (
        '<section class="host" id="cluster" data-host="cluster">\n'
        '<details class="host-details"><summary>\n'  # nothing to see there: folded
        '<h2>Cross-node checks (1 reachable hosts) <span class="verdict st-pass">OK</span></h2>\n'
        '<p class="meta">0 checks: no checks; started 2026-11-26T00:00:00Z, 0.00 s</p></summary>\n'
    ) in body
    assert (
        '<tr class="verdicts"><th scope="row">host verdict</th><td class="st-pass">OK</td>' in body
    )
    strict = _body(render_html(fleet(B2), strict=True))
    assert '<p id="verdict" class="verdict st-fail">FAILED: 1 host, 2 checks: 1 skip, 1 warn; ' in (
        strict
    )
    assert '<h2>b2 <span class="verdict st-fail">FAILED</span></h2>' in strict
    assert '<th scope="row">host verdict</th><td class="st-fail">FAILED</td>' in strict


def test_cluster_page_escapes_host_names_everywhere() -> None:
    from tests.report.test_cluster_formats import fleet

    evil = replace(A1, host="<b>\u202e")
    cross = CheckResult(
        info("cluster.n", "N<", "cluster"),
        Status.FAIL,
        "bad",
        (Finding(Status.FAIL, "<b>\u202e", "<i>"),),
        0.0,
    )
    body = _body(render_html(fleet(evil, cross=(cross,))))
    shown = "&lt;b&gt;\\u202e"
    assert f'<th scope="col" class="host-col"><a href="#host-0">{shown}</a></th>' in body
    assert (
        f'<tr class="cross" data-check="cluster.n"><th scope="row" title="N&lt;">'
        f'<code>cluster.n</code></th><td class="st-fail" data-host="{shown}" title="&lt;i&gt;">'
        '<a href="#x-c0"><span class="badge st-fail">FAIL</span></a></td></tr>'
    ) in body
    assert (
        f'<section class="host" id="host-0" data-host="{shown}">\n'
        f'<details class="host-details" open><summary>\n<h2>{shown} <span'  # the only host: open
    ) in body
    assert "\u202e" not in body and "<b>" not in body


def test_cross_node_section_follows_strict() -> None:
    from tests.report.test_cluster_formats import fleet

    warn = CheckResult(info("cluster.w", "W", "cluster"), Status.WARN, "odd", (), 0.0)
    rep = fleet(replace(B2, notes=()), cross=(warn,))
    head = '<h2>Cross-node checks (1 reachable hosts) <span class="verdict st-{}">{}</span></h2>'
    assert head.format("pass", "OK") in render_html(rep)
    assert head.format("fail", "FAILED") in render_html(rep, strict=True)


# --- less noise, same truth (issue #25 item 5) ---------------------------------

#: measures the laid-out page (a copy without the policy, for this script only)
_MEASURE = (
    "<script>addEventListener('load', () => { const d = document.createElement('div');"
    " d.id = 'hk-height'; d.textContent = document.documentElement.scrollHeight;"
    " document.body.appendChild(d); });</script>"
)


def page_height(page: str, work: Path) -> int:
    """The page's height in px, laid out 1280 px wide by Chromium."""
    import re

    measured = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    path = work / f"measure-{len(list(work.glob('measure-*')))}.html"
    path.write_text(measured.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    r = chromium(path, work, "--window-size=1280,1000", "--virtual-time-budget=5000", "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    return int(dom(r.stdout).find("div", id="hk-height").text)


def test_two_hosts_fit_in_two_screens_until_opened(tmp_path: Path) -> None:
    """The guide's two nodes as written and a Debian host: folded, about two
    screens; every <details> opened, the whole report (nothing was left out)."""
    roots = [
        copy_fixture(tmp_path, "guide-as-written"),
        copy_fixture(tmp_path, "debian12", "server59"),
    ]
    loaded, _ = discover()
    prof = load_profile()
    rep = run_cluster(
        [SysrootHost(r) for r in roots],
        loaded,
        prof,
        selection=Selection(prof.select, prof.skip),
        options=CheckOptions(install_dir="/opt/harbor"),
    )
    page = renderer(OutputFormat.html)(rep, strict=False)
    folded = page_height(page, tmp_path)
    opened = page_height(
        page.replace("<details ", "<details open ").replace("<details>", "<details open>"), tmp_path
    )
    assert folded <= 2000, folded
    assert opened >= 2 * folded, (folded, opened)
    # folded, not dropped: every result of every host is in the page
    doc = dom(page)
    for i, host_rep in enumerate(rep.hosts):
        section = doc.find("section", id=f"host-{i}")
        assert section.find("details").attrs.get("open") is None  # several hosts: folded
        ids = [tr.attrs["data-check"] for tr in section.find_all("tr") if "data-check" in tr.attrs]
        assert sorted(ids) == sorted(r.check.id for r in host_rep.results)


def test_a_change_is_shown_once_and_a_long_fix_is_folded() -> None:
    """As in the table: the drop-in two checks plan is under the first only
    (the second names it); a hint over twelve lines is in a closed <details>
    whose summary is its first line; a short one stays open."""
    from harborkit.model.change import Command, FileChange, hint

    body = "".join(f"k{i} = {i}\n" for i in range(20)).encode()
    drop_in = FileChange(("s.a",), "/etc/sysctl.d/90-harbor.conf", body, None, "every boot")
    short = FileChange(("s.c",), "/etc/x", b"x = 1\n", None, "now")

    def planned(cid: str, *changes: object) -> CheckResult:
        rem = hint(changes)  # type: ignore[arg-type]
        return CheckResult(
            info(cid, cid, rem=rem),
            Status.FAIL,
            "bad",
            (),
            0.0,
            changes=changes,  # type: ignore[arg-type]
        )

    rep = host(
        "h",
        (
            planned("s.a", drop_in, Command(("s.a",), ("sysctl", "--system"), "now")),
            planned("s.b", drop_in),
            planned("s.c", short),
        ),
    )
    doc = dom(render_html(rep))
    a, b, c = (doc.find("tr", **{"data-check": i}) for i in ("s.a", "s.b", "s.c"))
    folded = a.find("div", class_="fix").find("details")
    assert "open" not in folded.attrs
    assert folded.find("summary").text == "create /etc/sysctl.d/90-harbor.conf as: (23 lines)"
    assert (
        "k19 = 19" in folded.find("pre").text and "run: sysctl --system" in folded.find("pre").text
    )
    assert b.find("div", class_="fix").text == (
        "fix: the same change as s.a above (/etc/sysctl.d/90-harbor.conf)"
    )
    assert c.find("div", class_="fix").find_all("details") == []
    assert c.find("pre", class_="hint").text.startswith("create /etc/x as:")
