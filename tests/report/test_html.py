"""The HTML report, opened in a real headless Chromium.

The page must work offline: a loopback HTTP server counts every request the
browser makes while it renders a report full of markup planted in messages,
paths, host names and remediation text; the count must stay 0, and the DOM
must hold that markup as text. A control page that does reference the server
proves the counter would see a fetch. The screenshot and the page are kept
under ``.work/artifacts/report-html/`` (listed at the end of the pytest run).
"""

from __future__ import annotations

import http.server
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from harborkit.report import OutputFormat, renderer
from harborkit.report.html import CSP
from tests.cluster.hosts import copy_fixture

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".work" / "artifacts" / "report-html"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


# -- a real browser and a request counter ------------------------------------------


class Counter(http.server.ThreadingHTTPServer):
    paths: list[str]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
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


# -- a small DOM from the browser's serialisation ------------------------------------


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


# -- the report ------------------------------------------------------------------------


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
    row = dom(r.stdout).find("tr", **{"data-check": "network.nodes"})
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
