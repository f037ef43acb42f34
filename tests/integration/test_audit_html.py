"""The HTML audit report in a real browser: headless Chromium loads the self-contained page
(no network), its script draws every chart as SVG bars and says so on ``<body>``, and a
screenshot of it comes out. Skips, saying why, when no Chromium is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from arrears.server.audit_html import render
from tests.audit_story import Cli, consortium, tell

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHARTS = ("entries", "loan-types", "dpd-buckets", "disputes", "erasures", "inquiries")


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium to render the report in (looked for "
        + ", ".join(BROWSERS)
        + "; on Debian: apt-get install chromium)"
    )


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )


class _Dom(HTMLParser):
    """Per chart container (``figure.chart``): how many bars (``rect.bar``) and rects in all."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.bars: Counter[str] = Counter()
        self.rects: Counter[str] = Counter()
        self.figure: str | None = None
        self.verdict_class = ""
        self.verdict_text: list[str] = []
        self._in_verdict = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "figure" and "chart" in (a.get("class") or "").split():
            self.figure = str(a.get("id", "")).removeprefix("chart-")
            self.bars[self.figure] += 0
        elif tag == "rect" and self.figure is not None:
            self.rects[self.figure] += 1
            if "bar" in (a.get("class") or "").split():
                self.bars[self.figure] += 1
        elif tag == "section" and a.get("id") == "verdict":
            self.verdict_class = a.get("class") or ""
            self._in_verdict = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self.figure = None
        elif tag == "section":
            self._in_verdict = False

    def handle_data(self, data: str) -> None:
        if self._in_verdict and data.strip():
            self.verdict_text.append(data.strip())

    @property
    def verdict(self) -> str:
        return " ".join(self.verdict_text)


def drawn(page: Path, tmp: Path) -> _Dom:
    dom = chromium(page, tmp / "profile", "--dump-dom").stdout
    parsed = _Dom()
    parsed.feed(dom)
    # the same count, straight from the markup of each chart's container
    for chart in CHARTS:
        start = dom.find(f'id="chart-{chart}"')
        end = dom.find("</figure>", start)
        assert start >= 0 and dom.count("<rect", start, end) == parsed.rects[chart]
    return parsed


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The story's exports, and the report of a clean audit of them (report.html)."""
    browser()
    tmp = tmp_path_factory.mktemp("audit-html")
    net = consortium(f"sqlite:///{tmp / 'ledger.db'}", tmp / "net")
    with net:
        tell(net)
        cli = Cli(net, tmp)
        assert cli("export", str(tmp / "ledger.jsonl")).exit_code == 0
        assert cli("export", str(tmp / "inquiries.jsonl"), "--log", "inquiries").exit_code == 0
        r = cli.audit(
            "--export",
            str(tmp / "ledger.jsonl"),
            "--inquiries",
            str(tmp / "inquiries.jsonl"),
            "--json",
            str(tmp / "result.json"),
            "--html",
            str(tmp / "report.html"),
        )
        assert r.exit_code == 0, r.output
        # The same with an inquiry export missing its entry 2 (the header is line 0).
        lines = (tmp / "inquiries.jsonl").read_text().splitlines(keepends=True)
        (tmp / "inquiries-gap.jsonl").write_text("".join(lines[:3] + lines[4:]))
        r = cli.audit(
            "--export",
            str(tmp / "ledger.jsonl"),
            "--inquiries",
            str(tmp / "inquiries-gap.jsonl"),
            "--html",
            str(tmp / "gap.html"),
        )
        (tmp / "gap.out").write_text(f"{r.exit_code}\n{r.output}")
    yield tmp


def test_the_report_is_self_contained(reports: Path) -> None:
    page = (reports / "report.html").read_text()
    assert "http://www.w3.org/2000/svg" in page  # the one URL: the SVG namespace, a name
    page = page.replace("http://www.w3.org/2000/svg", "")
    for reference in ("://", "src=", "<link", "@import", "url("):
        assert reference not in page, reference


def test_every_chart_is_drawn_with_bars(reports: Path, tmp_path: Path) -> None:
    dom = drawn(reports / "report.html", tmp_path)
    assert dom.body.get("data-charts-drawn") == str(len(CHARTS))
    assert set(dom.bars) == set(CHARTS)
    for chart in CHARTS:
        assert dom.bars[chart] > 0, f"chart {chart} has no bars"
    # the stacked bars of the entries chart: one per member and month with entries
    result = json.loads((reports / "result.json").read_text())
    months = result["stats"]["entries_by_month"].values()
    assert dom.bars["entries"] == sum(len(by_member) for by_member in months)
    assert dom.verdict_class == "verdict ok"
    assert dom.verdict.startswith("OK 16 entries audited")


def test_a_failed_audit_is_red_and_names_the_first_fault(reports: Path, tmp_path: Path) -> None:
    result = json.loads((reports / "result.json").read_text())
    result.update(
        ok=False,
        verified=False,
        first_fault={"kind": "chain", "index": 9, "message": "previous-hash field ..."},
        finding_counts={"chain": 1, "root": 1},
        findings=[
            {"kind": "chain", "index": 9, "message": "previous-hash field ..."},
            {"kind": "root", "index": None, "message": "the root ..."},
        ],
    )
    page = tmp_path / "failed.html"
    page.write_text(render(result))  # without inquiries: one chart fewer
    dom = drawn_without_inquiries(page, tmp_path)
    assert dom.verdict_class == "verdict failed"
    assert dom.verdict.startswith("FAILED First fault at index 9 : chain — previous-hash")
    assert dom.body.get("data-charts-drawn") == str(len(CHARTS) - 1)


def test_a_fault_of_the_checkpoint_is_named_as_such(reports: Path) -> None:
    """A split view has no index: the page says the checkpoint, as the CLI does."""
    result = json.loads((reports / "result.json").read_text())
    fault = {"kind": "consistency", "index": None, "message": "another history at size 16"}
    result.update(ok=False, verified=False, first_fault=fault, findings=[fault])
    page = render(result)
    assert "First fault at <b>the checkpoint</b>" in page
    assert "index the checkpoint" not in page


def test_an_inquiry_log_that_fails_fails_the_report_and_the_exit_status(reports: Path) -> None:
    """The ledger verifies, the inquiry log in the same report does not: the page's title and
    verdict say FAILED, naming the inquiry log's first fault, and the command exits 1."""
    code, output = (reports / "gap.out").read_text().split("\n", 1)
    assert code == "1", output
    assert "inquiry log: " in output and "FAILED, first fault gap at index 2" in output
    page = (reports / "gap.html").read_text()
    assert "<title>Audit of arrears.test/ledger: FAILED</title>" in page
    assert '<section class="verdict failed" id="verdict">' in page
    assert "the <b>inquiry log</b> does not: first fault at <b>index 2</b>: <b>gap</b>" in page


def drawn_without_inquiries(page: Path, tmp: Path) -> _Dom:
    parsed = _Dom()
    parsed.feed(chromium(page, tmp / "profile", "--dump-dom").stdout)
    assert "inquiries" not in parsed.bars
    return parsed


def test_a_screenshot_of_the_report(reports: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(
        reports / "report.html",
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1000,3200",
        f"--screenshot={shot}",
    )
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 40_000  # a page of text and coloured charts, not a blank one
