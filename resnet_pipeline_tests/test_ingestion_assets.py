"""raw_candles through Dagster: materialization, metadata, failures that keep data, checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from resnet_pipeline.defs.ingestion.raw_candles import ASSET, check_partition
from resnet_pipeline.layout import Layout
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.resources.candle_source import (
    BybitCandles,
)
from resnet_pipeline.resources.io_manager import (
    MonthlyParquetIOManager,
)
from resnet_pipeline.storage import read_parquet, write_parquet_atomic
from resnet_pipeline_tests import _ingestion_helpers as helpers
from resnet_pipeline_tests._ingestion_helpers import utc
from resnet_pipeline_tests._pipeline import asset, asset_check
from resnet_pipeline_tests._resources import pipeline_resources
from resnet_pipeline_tests.fake_bybit import FakeBybit

raw_candles = asset("raw_candles")
raw_candles_quality = asset_check("raw_candles_quality")

server = helpers.server  # the module's fake exchange
fake = helpers.fake  # ... reset for each test

JAN_KEY, FEB_KEY = "2024-01-01|BTCUSDT", "2024-02-01|BTCUSDT"
JAN, FEB = date(2024, 1, 1), date(2024, 2, 1)
LATER = utc("2024-06-01")


def _materialize(root: Path, key: str, as_of: str | None = None, **kw) -> dg.ExecuteInProcessResult:
    config = {"ops": {ASSET: {"config": {"as_of": as_of}}}} if as_of else None
    return dg.materialize(
        [raw_candles, raw_candles_quality],
        partition_key=key,
        resources=kw.pop("resources", None) or pipeline_resources(root),
        instance=dg.DagsterInstance.ephemeral(),
        run_config=config,
        **kw,
    )


def _meta(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    event = result.asset_materializations_for_node(ASSET)[0]
    return {k: v.value for k, v in event.metadata.items()}


def test_synthetic_month_materializes_with_metadata_and_passing_checks(tmp_path: Path) -> None:
    result = _materialize(tmp_path, JAN_KEY)
    assert result.success
    path = Layout.at(tmp_path).partition(ASSET, "BTCUSDT", JAN)
    stored = read_parquet(path)
    expected = SyntheticSource(0).fetch("BTCUSDT", utc("2024-01-01"), utc("2024-02-01"))
    pd.testing.assert_frame_equal(stored, expected)
    meta = _meta(result)
    assert (
        meta["dagster/row_count"] == meta["expected_minutes"] == meta["present_minutes"] == 44_640
    )
    assert meta["gaps"] == 0 and meta["longest_gap_minutes"] == 0
    assert meta["first_timestamp"] == "2024-01-01T00:00:00+00:00"
    assert meta["last_timestamp"] == "2024-01-31T23:59:00+00:00"
    assert meta["source"] == "synthetic" and meta["requests"] == 1
    assert "| timestamp | open |" in meta["preview"]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert len(checks) == 6 and all(checks.values())

    again = _materialize(tmp_path, JAN_KEY)
    assert _meta(again)["requests"] == 0 and _meta(again)["new_rows"] == 0
    pd.testing.assert_frame_equal(read_parquet(path), stored)


def test_bybit_run_incremental_then_failure_keeps_the_file_byte_identical(
    tmp_path: Path, fake: FakeBybit
) -> None:
    source = BybitCandles(base_url=fake.url, rate_limit_ms=1, max_tries=3, backoff_seconds=0.001)
    resources = pipeline_resources(tmp_path, source)
    path = Layout.at(tmp_path).partition(ASSET, "BTCUSDT", FEB)
    fake.now = utc("2024-02-05 00:00:30")
    first = _materialize(tmp_path, FEB_KEY, "2024-02-05T00:00:30Z", resources=resources)
    assert first.success and _meta(first)["dagster/row_count"] == 4 * 1440
    before = Path(path).read_bytes()

    fake.now = utc("2024-02-06 06:30:10")
    fake.persistent_fault = "http500"
    fake.reset_counts()
    failed = _materialize(
        tmp_path, FEB_KEY, "2024-02-06T06:30:10Z", resources=resources, raise_on_error=False
    )
    assert not failed.success
    failure = failed.failure_data_for_node(ASSET)
    assert failure is not None and "after 3 tries" in str(failure.user_failure_data.description)
    assert Path(path).read_bytes() == before
    assert fake.kline_requests == 3

    fake.persistent_fault = None
    fake.reset_counts()
    resumed = _materialize(tmp_path, FEB_KEY, "2024-02-06T06:30:10Z", resources=resources)
    meta = _meta(resumed)
    assert meta["new_rows"] == 1440 + 390 and fake.kline_requests == 2
    assert meta["source"] == "bybit" and meta["requests"] == 3  # markets + two kline pages


def test_future_month_fails_the_run_clearly(tmp_path: Path) -> None:
    result = _materialize(
        tmp_path, "2024-03-01|BTCUSDT", "2024-02-10T00:00:00Z", raise_on_error=False
    )
    assert not result.success
    description = result.failure_data_for_node(ASSET).user_failure_data.description
    assert "2024-03 is in the future" in description
    assert not Path(Layout.at(tmp_path).partition(ASSET, "BTCUSDT", date(2024, 3, 1))).exists()


CORRUPTIONS = {
    "timestamps_valid": lambda d: pd.concat([d, d.iloc[[7]]]).sort_values("timestamp"),
    "ohlc_consistent": lambda d: d.assign(high=d["high"].where(d.index != 3, d["low"] / 2)),
    "prices_positive": lambda d: d.assign(
        open=d["open"].where(d.index != 9, -1.0), low=d["low"].where(d.index != 9, -2.0)
    ),
    "volume_non_negative": lambda d: d.assign(volume=d["volume"].where(d.index != 9, -0.5)),
    "no_nan": lambda d: d.assign(volume=d["volume"].where(d.index != 2)),
}


@pytest.mark.parametrize("check", sorted(CORRUPTIONS))
def test_each_blocking_check_fails_on_a_crafted_partition(tmp_path: Path, check: str) -> None:
    good = SyntheticSource(0).fetch("BTCUSDT", utc("2024-01-01"), utc("2024-02-01"))
    write_parquet_atomic(
        CORRUPTIONS[check](good), Layout.at(tmp_path).partition(ASSET, "BTCUSDT", JAN)
    )
    results = {r.check_name: r for r in check_partition(Layout.at(tmp_path), JAN_KEY, LATER)}
    assert not results[check].passed
    assert results[check].severity == dg.AssetCheckSeverity.ERROR
    assert results[check].metadata["failing_rows"].value >= 1
    failed = {name for name, r in results.items() if not r.passed}
    assert failed == {check}  # each rule catches its own problem, no other rule fires


def test_off_grid_and_out_of_month_timestamps_fail(tmp_path: Path) -> None:
    good = SyntheticSource(0).fetch("BTCUSDT", utc("2024-01-31 23:00"), utc("2024-02-01"))
    path = Layout.at(tmp_path).partition(ASSET, "BTCUSDT", FEB)
    write_parquet_atomic(good, path)  # January's candles in February's partition
    assert not {r.check_name: r for r in check_partition(Layout.at(tmp_path), FEB_KEY, LATER)}[
        "timestamps_valid"
    ].passed


def test_completeness_warns_on_closed_months_only(tmp_path: Path) -> None:
    good = SyntheticSource(0).fetch("BTCUSDT", utc("2024-01-01"), utc("2024-02-01"))
    write_parquet_atomic(
        good.drop(index=range(100, 160)), Layout.at(tmp_path).partition(ASSET, "BTCUSDT", JAN)
    )
    closed = {r.check_name: r for r in check_partition(Layout.at(tmp_path), JAN_KEY, LATER)}[
        "month_complete"
    ]
    assert not closed.passed and closed.severity == dg.AssetCheckSeverity.WARN
    assert closed.metadata["missing_minutes"].value == 60
    assert closed.metadata["share_present"].value == pytest.approx(1 - 60 / 44_640, abs=1e-6)
    assert closed.description.startswith(
        "warning: 60 minutes missing in 2024-01 (exchange outage, not filled): 1 gap(s)"
    )
    running = check_partition(Layout.at(tmp_path), JAN_KEY, utc("2024-01-20"))[-1]
    assert running.passed and "running month" in running.description
    missing = check_partition(Layout.at(tmp_path), "2024-01-01|ETHUSDT", LATER)
    assert not any(r.passed for r in missing)
    # the UI paints a partitioned check by its latest result's severity: always a warning
    for result in (closed, running, missing[-1]):
        assert result.severity == dg.AssetCheckSeverity.WARN, result.description
    complete = SyntheticSource(0).fetch("BTCUSDT", utc("2024-01-01"), utc("2024-02-01"))
    write_parquet_atomic(complete, Layout.at(tmp_path).partition(ASSET, "BTCUSDT", JAN))
    whole = check_partition(Layout.at(tmp_path), JAN_KEY, LATER)[-1]
    assert whole.passed and whole.severity == dg.AssetCheckSeverity.WARN
    assert whole.description == "2024-01 complete: all 44,640 minutes present"


class _TamperingIOManager(MonthlyParquetIOManager):
    """Stands for a broken writer or a corrupted disk: the stored file is not what was computed."""

    def dump_to_path(self, context, obj: pd.DataFrame, path) -> None:
        super().dump_to_path(context, obj.assign(low=obj["high"] * 1.01), path)


def test_a_failing_blocking_check_is_reported_by_the_dagster_run(tmp_path: Path) -> None:
    resources = pipeline_resources(tmp_path)
    resources["io_manager"] = dg.IOManagerDefinition.hardcoded_io_manager(
        _TamperingIOManager(base_path=UPath(str(tmp_path)))
    )
    result = _materialize(tmp_path, JAN_KEY, resources=resources, raise_on_error=False)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["ohlc_consistent"].passed
    assert checks["ohlc_consistent"].severity == dg.AssetCheckSeverity.ERROR
    assert checks["timestamps_valid"].passed
