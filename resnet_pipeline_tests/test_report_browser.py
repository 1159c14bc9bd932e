"""The reports and the Dagster UI as a person meets them. The walk-forward report: the headline
comes first, every plot is there, named, and decodes as a picture (checked with Python's HTML
parser everywhere). On one instance filled by real runs (the chain on BTCUSDT, an experiment of
two variants), every materialization's metadata reads as a person would read it. Where
Chromium is installed (Debian: `apt-get install chromium`), a headless browser renders each
report (backtest, walk-forward, experiment) and the UI pages of backtest_report,
experiment_report, experiment_fold and latest_signal, and reads their first screen."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest

from resnet_pipeline.definitions import resources_on
from resnet_pipeline.defs.metadata import INLINE_MARKDOWN
from resnet_pipeline.defs.report_checks import HEADLINE, KEY_FIGURE
from resnet_pipeline.layout import Layout
from resnet_pipeline.number_format import rounded
from resnet_pipeline.partitions import (
    EXPERIMENT_MONTHS,
    EXPERIMENT_REPORTS,
    EXPERIMENT_TRIALS,
    MONTH_DIM,
)
from resnet_pipeline.resources.candle_source import SyntheticCandles
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline_tests._experiment_cli import REPORT_CONFIG
from resnet_pipeline_tests._pipeline import pipeline_graph
from resnet_pipeline_tests._report_fixtures import PLOTS, walk_forward_fixture
from resnet_pipeline_tests._resources import pipeline_resources
from resnet_pipeline_tests._walk_forward_helpers import store_months
from resnet_pipeline_tests.dagster_ui import REPO, webserver
from resnet_pipeline_tests.headless_chromium import BROWSER, WIDTH, chromium
from resnet_pipeline_tests.test_experiment_assets import ASSETS as EXPERIMENT_ASSETS
from resnet_pipeline_tests.test_experiment_assets import (
    MONTHS,
    SHORT,
    SPEC,
    SYMBOL,
    TINY,
)
from resnet_pipeline_tests.test_pipeline_chain import ASSETS as CHAIN
from resnet_pipeline_tests.test_pipeline_chain import QUICK
from resnet_pipeline_tests.test_ui_webserver import CHECKS


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


# -- one instance filled by real runs, its metadata and its UI pages ----------------------------

LONG_FLOAT = re.compile(r"\d+\.\d+")
MAX_DIGITS = 6


def _long_floats(text: str) -> list[str]:
    """Decimal numbers with more than ``MAX_DIGITS`` significant digits (a float printed raw)."""
    return [t for t in LONG_FLOAT.findall(text) if len(t.replace(".", "").lstrip("0")) > MAX_DIGITS]


def _unreadable(text: str) -> list[str]:
    """What a person should never read: a raw None, a Python dict, a 16-digit float."""
    text = re.sub(r"data:image/[^)\s]+", "", text)  # a picture's bytes are no text
    problems = [f"raw float {t}" for t in _long_floats(text)]
    problems += ["None"] * bool(re.search(r"\bNone\b", text))
    problems += ["a Python dict"] * ("{'" in text)
    return problems


@dataclass(frozen=True)
class Filled:
    home: Path
    env: dict[str, str]
    instance: dg.DagsterInstance
    backtest_html: Path
    experiment_html: Path


def _check(result: dg.ExecuteInProcessResult) -> None:
    failures = [e.step_failure_data.error.message for e in result.get_step_failure_events()]
    assert result.success, failures


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Filled:
    """The chain on BTCUSDT 2024-01 (test_pipeline_chain's quick settings) and the tiny
    experiment of test_experiment_assets (two variants, two months, its report), materialized
    into one instance."""
    root = tmp_path_factory.mktemp("ui")
    home, data, lab = root / "home", root / "data", root / "lab"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home))
    for selection, config in ((["raw_candles"], {}), (["features", "labels"], {}), (None, QUICK)):
        names = selection or [a.key.path[-1] for a in CHAIN[3:]]
        partition = "BTCUSDT" if selection is None else "2024-01-01|BTCUSDT"
        _check(
            dg.materialize(
                CHAIN,
                selection=names,
                partition_key=partition,
                resources=pipeline_resources(data),
                instance=instance,
                run_config=config,
                raise_on_error=False,
            )
        )
    store_months(lab / "data", SYMBOL, MONTHS, hours=6)
    (lab / "experiments").mkdir()
    (lab / "experiments" / "tiny.yaml").write_text(TINY)
    instance.add_dynamic_partitions(EXPERIMENT_TRIALS.name, [SPEC, SHORT])
    instance.add_dynamic_partitions(EXPERIMENT_REPORTS.name, ["tiny:BTCUSDT"])
    instance.add_dynamic_partitions(EXPERIMENT_MONTHS.name, ["2024-02-01", "2024-03-01"])
    resources = resources_on(
        str(lab / "data"),
        SyntheticCandles(),
        TradingVenue(),
        ExperimentDirectory(directory=str(lab / "experiments"), symbols=[SYMBOL]),
        MlflowTracking(enabled=False),
    )
    runs = [(["experiment_variant"], trial, {}) for trial in (SPEC, SHORT)]
    runs += [
        (["experiment_fold"], f"{month}|{trial}", {})
        for trial in (SPEC, SHORT)
        for month in ("2024-02-01", "2024-03-01")
    ]
    runs.append((["experiment_report"], "tiny:BTCUSDT", {"experiment_report": REPORT_CONFIG}))
    for selection, partition, ops in runs:
        _check(
            dg.materialize(
                EXPERIMENT_ASSETS,
                selection=selection,
                partition_key=partition,
                resources=resources,
                instance=instance,
                run_config={"ops": {k: {"config": v} for k, v in ops.items()}},
                raise_on_error=False,
            )
        )
    env = {
        "RESNET_SOURCE": "synthetic",
        "RESNET_DATA_DIR": str(data),
        "RESNET_SYMBOLS": "BTCUSDT,ETHUSDT",
        "RESNET_FIRST_MONTH": "2024-01",
        "RESNET_EXPERIMENTS_DIR": str(lab / "experiments"),
        "RESNET_MLFLOW": "off",
    }
    report = Layout.at(lab / "data").experiment("tiny", SYMBOL).report.html
    return Filled(home, env, instance, data / "reports" / SYMBOL / "report.html", Path(report))


def _latest(instance: dg.DagsterInstance, key: dg.AssetKey) -> dg.AssetMaterialization | None:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0].asset_materialization if records else None


def _over_months(assets_def: dg.AssetsDefinition) -> bool:
    partitions = assets_def.partitions_def
    return isinstance(partitions, dg.MultiPartitionsDefinition) and MONTH_DIM in {
        d.name for d in partitions.partitions_defs
    }


def test_every_materialization_reads_as_a_person_would(filled):
    """Numbers only where the Plots tab draws a series over months, to 4 significant digits;
    text without a raw None, dict or long float; the headline and key figure under the UI's
    inline limit; report files as links."""
    seen = set()
    for assets_def in pipeline_graph().assets:
        materialization = _latest(filled.instance, assets_def.key)
        if materialization is None:
            continue
        name = assets_def.key.to_user_string()
        seen.add(name)
        for label, value in materialization.metadata.items():
            where = f"{name}.{label}"
            if isinstance(value, dg.FloatMetadataValue | dg.IntMetadataValue):
                assert _over_months(assets_def) or label.startswith("dagster/"), (
                    f"{where} is a number on a partition that is no month: the Plots tab would "
                    "join one symbol's or trial's value to another's"
                )
                assert value.value == rounded(value.value), where
            assert not isinstance(value, dg.JsonMetadataValue), f"{where}: raw JSON"
            text = value.value if isinstance(value.value, str) else ""
            assert not _unreadable(text), (where, _unreadable(text), text[:300])
            if label in (HEADLINE, KEY_FIGURE, "verdict", "fold", "summary"):
                assert len(text) < INLINE_MARKDOWN, f"{where} would hide behind a click"
            if label.endswith("_path") and str(text).endswith((".html", ".json")):
                assert isinstance(value, dg.UrlMetadataValue), f"{where} is no link"
    assert {"backtest_report", "experiment_report", "experiment_fold", "latest_signal"} <= seen


def test_experiment_report_lists_every_symbol_and_its_key_figure(filled):
    meta = _latest(filled.instance, dg.AssetKey("experiment_report")).metadata
    assert list(meta)[:2] == ["verdict", HEADLINE]
    verdict = "too few trades to judge (0 trades on 0 days) after 2 trials"
    assert meta["symbols"].value.startswith(f"- **{SYMBOL}**: verdict {verdict}")
    assert (
        meta[KEY_FIGURE].value.startswith("![") and "data:image/svg+xml," in meta[KEY_FIGURE].value
    )
    assert meta["report_path"].value == filled.experiment_html.resolve().as_uri()


PAGE_PROBE = """(() => {
  const rows = [...document.querySelectorAll('tr')].map(tr => {
    const cells = [...tr.querySelectorAll('td')];
    return {key: cells.length ? cells[0].innerText.trim() : '',
            value: cells.length ? cells[cells.length - 1].innerText : '',
            top: tr.getBoundingClientRect().top, left: cells.length ?
              cells[cells.length - 1].getBoundingClientRect().left : 1e9,
            links: [...tr.querySelectorAll('a')].map(a => a.href)};
  }).filter(r => r.key);
  const heading = [...document.querySelectorAll('h1,h2,h3,h4,div,span')]
    .find(e => e.innerText && e.innerText.trim() === 'Latest check results');
  const checks = heading ? heading.parentElement : null;
  return {rows, height: window.innerHeight,
          checkIcons: checks ? [...checks.querySelectorAll('[role=img]')]
                                .map(i => i.getAttribute('aria-label')) : null};
})()"""
# The first entry of each page, and a word its answer holds.
PAGES = {
    "backtest_report": (HEADLINE, "EDGE"),
    "experiment_report": ("verdict", "edge"),
    "experiment_fold": ("fold", "accuracy"),
    "latest_signal": ("signal", ""),
}


def _drawn(first: str, word: str) -> str:
    """The page has drawn its metadata: the first entry holds ``word`` and no value is still
    blank (the UI loads its Markdown renderer lazily)."""
    rows = "[...document.querySelectorAll('tbody > tr')].map(tr => tr.querySelectorAll('td'))"
    return (
        f"{rows}.some(c => c.length > 1 && c[0].innerText.trim() === {json.dumps(first)}"
        f" && c[c.length - 1].innerText.includes({json.dumps(word)}))"
        f" && {rows}.every(c => c.length < 2 || c[c.length - 1].innerText.trim() !== '')"
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if BROWSER is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with chromium(tmp_path_factory.mktemp("chromium")) as opened:
        yield opened


@pytest.mark.slow
def test_each_ui_asset_page_answers_in_its_first_screen(filled, browser):
    checks = None
    with webserver(filled.home, filled.env) as ui:
        ui_checks = ui.graphql(CHECKS, {"key": {"path": ["backtest_report"]}})
        for asset, (first, word) in PAGES.items():
            with browser.open(f"{ui.url}/assets/{asset}") as page:
                page.wait_for(_drawn(first, word), timeout=90)
                if asset == "backtest_report":  # its checks' panel may draw a moment later
                    page.wait_for("document.body.innerText.includes('Latest check results')")
                probe = page.evaluate(PAGE_PROBE)
            rows = {r["key"]: r for r in probe["rows"]}
            shown = rows[first]
            assert 0 <= shown["top"] < probe["height"], f"{asset}: {first} below the first screen"
            assert 0 <= shown["left"] < WIDTH, f"{asset}: {first} off the first screen"
            assert shown["value"].strip(), f"{asset}: {first} is empty"
            for row in probe["rows"]:
                assert not _unreadable(row["value"]), (asset, row["key"], row["value"][:300])
            if "report_path" in rows:
                assert rows["report_path"]["links"][0].startswith("file://"), asset
            if asset == "backtest_report":
                checks = probe["checkIcons"]
    node = ui_checks["assetNodeOrError"]["assetChecksOrError"]["checks"]
    failed = [c for c in node if c["executionForLatestMaterialization"]["status"] == "FAILED"]
    for check in node:  # a warning check reads as a warning: yellow, never a red cross
        assert check["executionForLatestMaterialization"]["evaluation"]["severity"] == "WARN"
    assert checks is not None and "cancel" not in checks
    if failed:
        assert "warning_outline" in checks


REPORT_PROBE = """(() => {
  const headline = document.getElementById('headline') || document.querySelector('h2');
  return {text: document.body.innerText, height: window.innerHeight,
          headline: headline ? headline.innerText : '',
          top: headline ? headline.getBoundingClientRect().top : 1e9};
})()"""


@pytest.mark.slow
def test_each_report_answers_in_its_first_screen(filled, report, browser, tmp_path):
    walk_forward = tmp_path / "walk_forward.html"
    walk_forward.write_text(report.html)
    for page_file in (filled.backtest_html, walk_forward, filled.experiment_html):
        with browser.open(page_file.resolve().as_uri()) as page:
            page.wait_for("document.readyState === 'complete'")
            probe = page.evaluate(REPORT_PROBE)
        assert "EDGE" in probe["headline"], page_file
        assert 0 <= probe["top"] < probe["height"], f"{page_file}: the headline is below the fold"
        assert not _unreadable(probe["text"]), (page_file.name, _unreadable(probe["text"]))
