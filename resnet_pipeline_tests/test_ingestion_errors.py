"""raw_candles as users meet it: one-paragraph failures, which ones a run retry repeats, gap
metadata that names each gap, corrupt stored partitions, conflicting file rows."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.defs.ingestion.ingestion_failures import rerun_command
from resnet_pipeline.defs.ingestion.raw_candles import ASSET, check_partition, run_tags
from resnet_pipeline.layout import Layout
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.resources.candle_source import (
    BybitCandles,
    CandleSourceResource,
    FilesCandles,
    SyntheticCandles,
)
from resnet_pipeline.resources.io_manager import DataStore, MonthlyParquetIOManagerFactory
from resnet_pipeline.storage import write_parquet_atomic
from resnet_pipeline_tests import _ingestion_helpers as helpers
from resnet_pipeline_tests._ingestion_helpers import utc
from resnet_pipeline_tests._pipeline import asset, asset_check
from resnet_pipeline_tests.fake_bybit import FakeBybit

raw_candles = asset("raw_candles")
raw_candles_quality = asset_check("raw_candles_quality")

server = helpers.server
fake = helpers.fake

FEB_KEY = "2024-02-01|BTCUSDT"
FEB = pd.Timestamp("2024-02-01").date()
WILL_RETRY = "dagster/will_retry"  # set by the instance when a failed run ends


def _files(directory: Path) -> CandleSourceResource:
    return FilesCandles(files_dir=str(directory))


def _run(
    root: Path, source: CandleSourceResource, key: str = FEB_KEY, as_of: str | None = None
) -> tuple[dg.ExecuteInProcessResult, dg.DagsterInstance]:
    instance = dg.DagsterInstance.ephemeral(settings={"run_retries": {"enabled": True}})
    result = dg.materialize(
        [raw_candles, raw_candles_quality],
        partition_key=key,
        resources={
            "io_manager": MonthlyParquetIOManagerFactory(root=str(root)),
            "store": DataStore(root=str(root)),
            "candle_source": source,
        },
        instance=instance,
        run_config={"ops": {ASSET: {"config": {"as_of": as_of}}}} if as_of else None,
        tags=run_tags(source.kind),  # dagster/max_retries, as the ingestion job's runs
        raise_on_error=False,
    )
    return result, instance


def _failure(result: dg.ExecuteInProcessResult) -> tuple[str, object]:
    assert not result.success
    event = result.get_step_failure_events()[0]
    data = event.step_failure_data
    assert data.user_failure_data is not None, data.error.message  # a dg.Failure, not a crash
    return str(data.user_failure_data.description), data.error


def _will_retry(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance) -> str | None:
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    return run.tags.get(WILL_RETRY)


def _month(start: str = "2024-02-01", end: str = "2024-03-01") -> pd.DataFrame:
    return SyntheticSource(0).fetch("BTCUSDT", utc(start), utc(end))


def _export(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(timestamp=df["timestamp"].astype("int64") // 1_000_000)


def test_a_bad_file_is_one_paragraph_naming_it_and_never_retried(tmp_path: Path) -> None:
    files, data = tmp_path / "files", tmp_path / "data"
    files.mkdir()
    _export(_month()).drop(columns="volume").to_csv(files / "BTCUSDT-2024-02.csv", index=False)
    result, instance = _run(data, _files(files), as_of="2024-02-10T00:00:00Z")
    description, error = _failure(result)
    assert "BTCUSDT-2024-02.csv: no column for volume" in description
    assert "RESNET_FILES_COLUMNS" in description and rerun_command(FEB_KEY) in description
    assert "\n" not in description and error.cause is None  # no chained traceback
    assert _will_retry(result, instance) == "false"
    assert not Path(Layout.at(data).partition(ASSET, "BTCUSDT", FEB)).exists()


def test_an_unknown_symbol_and_a_bad_source_config_are_not_retried(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    _export(_month()).to_csv(files / "BTCUSDT.csv", index=False)
    result, instance = _run(tmp_path / "data", _files(files), key="2024-02-01|ETHUSDT")
    description, _ = _failure(result)
    assert "no candle files for ETHUSDT" in description and "\n" not in description
    assert _will_retry(result, instance) == "false"

    result, instance = _run(tmp_path / "data", _files(tmp_path / "nowhere"))
    description, _ = _failure(result)
    assert "candle_source (files) cannot be built" in description
    assert "nowhere" in description and "RESNET_FILES_DIR" in description
    assert _will_retry(result, instance) == "false"


@pytest.mark.parametrize("as_of", ["yesterday", "01/02/2024", "2024-13-01"])
def test_an_unparsable_as_of_is_reported_by_field_name(tmp_path: Path, as_of: str) -> None:
    result, instance = _run(tmp_path, SyntheticCandles(), as_of=as_of)
    description, _ = _failure(result)
    assert description == (
        f"raw_candles.config.as_of='{as_of}' is not a time: use ISO-8601 like 2024-01-15T00:00:00Z"
    )
    assert _will_retry(result, instance) == "false"


def test_transient_source_errors_stay_retryable(tmp_path: Path, fake: FakeBybit) -> None:
    fake.now = utc("2024-02-05 00:00:30")
    fake.persistent_fault = "http500"
    source = BybitCandles(base_url=fake.url, rate_limit_ms=1, max_tries=2, backoff_seconds=0.001)
    result, instance = _run(tmp_path, source, as_of="2024-02-05T00:00:30Z")
    _failure(result)
    assert _will_retry(result, instance) == "true"


def test_a_corrupt_stored_partition_names_the_file_and_the_rebuild(tmp_path: Path) -> None:
    path = Layout.at(tmp_path).partition(ASSET, "BTCUSDT", FEB)
    write_parquet_atomic(_month(end="2024-02-02"), path)
    truncated = Path(path).read_bytes()[:-100]
    Path(path).write_bytes(truncated)
    result, instance = _run(tmp_path, SyntheticCandles())
    description, _ = _failure(result)
    assert f"stored partition {path} is unreadable" in description
    assert rerun_command(FEB_KEY) in description and "delete it" in description
    assert _will_retry(result, instance) == "false"
    assert Path(path).read_bytes() == truncated  # nothing overwritten
    checks = check_partition(Layout.at(tmp_path), FEB_KEY, utc("2024-06-01"))
    assert checks and all(not c.passed and str(path) in c.description for c in checks)


def test_gap_metadata_names_each_gap_and_not_the_edges(tmp_path: Path) -> None:
    files, data = tmp_path / "files", tmp_path / "data"
    files.mkdir()
    candles = _month("2024-02-03", "2024-02-05")
    holes = [*range(600, 630), *range(1000, 1050, 2)]  # 30 minutes, then 25 single minutes
    _export(candles.drop(index=holes)).to_csv(files / "BTCUSDT.csv", index=False)
    result, _ = _run(data, _files(files), as_of="2024-02-06T00:00:00Z")
    assert result.success
    event = result.asset_materializations_for_node(ASSET)[0]
    meta = {k: v.value for k, v in event.metadata.items()}
    assert meta["gaps"] == 26 and meta["gap_minutes"] == 55 and meta["longest_gap_minutes"] == 30
    assert meta["minutes_before_first_candle"] == 2 * 1440  # not listed yet: not a gap
    assert meta["minutes_after_last_candle"] == 1440  # after the newest candle: not a gap
    table = meta["gap_list"]
    assert "| 2024-02-03T10:00:00+00:00 | 2024-02-03T10:30:00+00:00 | 30 |" in table
    assert table.count("| 1 |") == 19 and "… and 6 more gaps" in table
    assert meta["source_warnings"] == "-"


def test_conflicting_file_rows_are_warned_in_the_run(tmp_path: Path) -> None:
    files, data = tmp_path / "files", tmp_path / "data"
    files.mkdir()
    day = _export(_month(end="2024-02-02"))
    day.to_csv(files / "BTCUSDT-a.csv", index=False)
    changed = day.iloc[:10].assign(volume=day["volume"].iloc[:10] + np.arange(1, 11))
    changed.to_csv(files / "BTCUSDT-b.csv", index=False)
    result, instance = _run(data, _files(files), as_of="2024-02-02T00:00:00Z")
    assert result.success
    meta = result.asset_materializations_for_node(ASSET)[0].metadata
    assert "BTCUSDT: 10 minute(s) appear more than once" in meta["source_warnings"].value
    warned = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "appear more than once" in e.user_message
    ]
    assert len(warned) == 1 and "kept the row of the file sorting last" in warned[0]


@pytest.mark.parametrize("as_of", ["2024-02-10", "2024-02-10T00:00:00+01:00"])
def test_as_of_accepts_iso_dates_and_offsets(tmp_path: Path, as_of: str) -> None:
    result, _ = _run(tmp_path, SyntheticCandles(), as_of=as_of)
    assert result.success
