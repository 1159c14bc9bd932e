"""The walk-forward report as a person meets it: the headline comes first, every plot is
there, named, and decodes as a picture. The page's structure is checked with Python's HTML
parser everywhere; where Chromium is installed (Debian: `apt-get install chromium`), a
headless browser renders the page and reports what it drew."""

from __future__ import annotations

import base64
import html
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from resnet_pipeline_tests._report_fixtures import PLOTS, walk_forward_fixture

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report():
    return walk_forward_fixture(months=3, days=4, n_boot=100)


class _Outline(HTMLParser):
    """The order of the headline, images and tables, and each image's name and source."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        self.images: dict[str, str] = {}
        self.scrolling_tables = 0
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "headline":
            self.order.append("headline")
        if tag == "img":
            self.order.append("img")
            self.images[attrs["data-plot"]] = attrs["src"]
        if tag == "table":
            self.order.append("table")
            self.scrolling_tables += "scroll" in self._open
        self._open.append(attrs.get("class") or "")

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()


def test_the_page_leads_with_the_headline_then_every_named_plot_then_tables(report):
    outline = _Outline()
    outline.feed(report.html)
    assert outline.order[0] == "headline"
    first_table = outline.order.index("table")
    assert outline.order[1:first_table] == ["img"] * len(PLOTS)  # plots before any table
    assert list(outline.images) == PLOTS
    for name, src in outline.images.items():
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix), name
        assert base64.b64decode(src[len(prefix) :])[:8] == b"\x89PNG\r\n\x1a\n", name
    assert outline.scrolling_tables == outline.order.count("table")  # wide tables scroll
    body = report.html.split("<body>")[1]
    assert "None" not in body and "{'" not in body  # no raw None or dict reaches a person
    assert f"<h2>{report.headline.title}</h2>" in body


PROBE = """<script>
window.addEventListener('load', () => {
  const box = (el) => el.getBoundingClientRect();
  const probe = {
    headline: document.getElementById('headline').innerText,
    headlineTop: box(document.getElementById('headline')).top,
    images: [...document.images].map(i => ({name: i.dataset.plot, width: i.naturalWidth,
                                            top: box(i).top})),
    firstTableTop: box(document.querySelector('table')).top,
    pageWidth: document.body.scrollWidth, viewWidth: window.innerWidth,
  };
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify(probe);
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed (apt-get install chromium)")
def test_a_headless_browser_draws_the_headline_and_every_plot(report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(report.html.replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,900",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    probe = json.loads(html.unescape(dom.split('<pre id="probe">')[1].split("</pre>")[0]))
    assert probe["headline"].startswith(report.headline.title)
    for line in report.headline.lines():
        assert line in probe["headline"]
    drawn = {i["name"]: i for i in probe["images"]}
    assert list(drawn) == PLOTS
    assert all(i["width"] > 100 for i in drawn.values())  # each PNG decoded and drawn
    assert probe["headlineTop"] < min(i["top"] for i in drawn.values())
    assert max(i["top"] for i in drawn.values()) < probe["firstTableTop"]
    assert probe["pageWidth"] <= probe["viewWidth"]  # nothing overflows the page sideways
