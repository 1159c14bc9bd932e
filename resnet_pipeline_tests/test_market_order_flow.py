"""Order flow (taker-buy volume, trades): kept where the source has it, null where not, and
stored months with and without it read side by side."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.layout import Layout
from resnet_pipeline.market.files import CandleFileError, FilesSource, read_candle_file
from resnet_pipeline.market.ingest import ingest_month
from resnet_pipeline.market.merge import merge_candles
from resnet_pipeline.market.schema import (
    CANDLE_COLUMNS,
    ORDER_FLOW_COLUMNS,
    has_order_flow,
    order_flow_values,
)
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.resources.candle_source import FilesCandles
from resnet_pipeline.settings import SOURCES
from resnet_pipeline.storage import (
    read_parquet,
    read_partitions,
    write_merged_parquet,
    write_parquet_atomic,
)
from resnet_pipeline_tests._pipeline import asset
from resnet_pipeline_tests._resources import pipeline_resources

START = pd.Timestamp("2024-01-31 22:00", tz="UTC")
END = pd.Timestamp("2024-02-01 02:00", tz="UTC")
BINANCE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
).split(",")


@pytest.fixture
def truth() -> pd.DataFrame:
    """Synthetic candles with order flow as Binance would report it."""
    candles = SyntheticSource(0).fetch("BTCUSDT", START, END)
    rng = np.random.default_rng(3)
    return candles.assign(
        taker_buy_volume=np.round(candles["volume"] * rng.uniform(0, 1, len(candles)), 6),
        trades=rng.integers(0, 5000, len(candles)).astype("float64"),
    )


def _binance(df: pd.DataFrame) -> pd.DataFrame:
    """The 12 columns of a Binance kline export, in its order and with its names."""
    ms = df["timestamp"].astype("int64") // 1_000_000
    return pd.DataFrame(
        {
            "open_time": ms,
            "open": df["open"],
            "high": df["high"],
            "low": df["low"],
            "close": df["close"],
            "volume": df["volume"],
            "close_time": ms + 59_999,
            "quote_volume": df["volume"] * df["close"],
            "count": df["trades"].astype("int64"),
            "taker_buy_volume": df["taker_buy_volume"],
            "taker_buy_quote_volume": df["taker_buy_volume"] * df["close"],
            "ignore": 0,
        }
    )[BINANCE_HEADER]


@pytest.mark.parametrize("header", [False, True])
def test_binance_exports_keep_their_order_flow(
    tmp_path: Path, truth: pd.DataFrame, header: bool
) -> None:
    _binance(truth).to_csv(tmp_path / "BTCUSDT-1m.csv", index=False, header=header)
    got = FilesSource(tmp_path).fetch("BTCUSDT", START, END)
    assert list(got.columns) == [*CANDLE_COLUMNS, *ORDER_FLOW_COLUMNS]
    pd.testing.assert_frame_equal(got, truth, check_exact=False, rtol=1e-12)


def test_other_headerless_layouts_read_no_order_flow(tmp_path: Path, truth: pd.DataFrame) -> None:
    """A Bybit export (7 fields: ... volume, turnover) has no order flow to read."""
    bybit = _binance(truth).iloc[:, :8]
    bybit.to_csv(tmp_path / "BTCUSDT.csv", index=False, header=False)
    got = read_candle_file(tmp_path / "BTCUSDT.csv")
    assert list(got.columns) == list(CANDLE_COLUMNS)


def test_files_with_and_without_order_flow_give_nulls_where_it_is_missing(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    _binance(truth.iloc[:100]).to_csv(tmp_path / "BTCUSDT-a.csv", index=False)
    truth.iloc[100:, :6].assign(
        timestamp=lambda d: d["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    ).to_csv(tmp_path / "BTCUSDT-b.csv", index=False)
    got = FilesSource(tmp_path).fetch("BTCUSDT", START, END)
    assert list(got.columns) == [*CANDLE_COLUMNS, *ORDER_FLOW_COLUMNS]
    np.testing.assert_allclose(got["trades"].iloc[:100], truth["trades"].iloc[:100])
    assert got["trades"].iloc[100:].isna().all() and got["taker_buy_volume"].iloc[100:].isna().all()
    pd.testing.assert_frame_equal(got[list(CANDLE_COLUMNS)], truth[list(CANDLE_COLUMNS)])


def test_empty_order_flow_is_null_but_a_non_number_is_named(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    export = _binance(truth).astype({"count": "object"})
    export.loc[5, "count"] = ""
    export.to_csv(tmp_path / "BTCUSDT.csv", index=False)
    got = read_candle_file(tmp_path / "BTCUSDT.csv")
    assert np.isnan(got["trades"].iloc[5]) and got["trades"].drop(index=5).notna().all()
    export.loc[7, "count"] = "many"
    export.to_csv(tmp_path / "BTCUSDT.csv", index=False)
    with pytest.raises(CandleFileError, match=r"1 trades values .* row 8: 'many'"):
        read_candle_file(tmp_path / "BTCUSDT.csv")


def test_a_mapping_names_order_flow_columns(tmp_path: Path, truth: pd.DataFrame) -> None:
    renamed = _binance(truth).rename(columns={"count": "n", "taker_buy_volume": "tbv"})
    renamed.to_csv(tmp_path / "BTCUSDT.csv", index=False)
    assert "trades" not in read_candle_file(tmp_path / "BTCUSDT.csv")
    got = FilesSource(tmp_path, columns="trades=n,taker_buy_volume=tbv").fetch(
        "BTCUSDT", START, END
    )
    pd.testing.assert_frame_equal(got, truth, check_exact=False, rtol=1e-12)


def test_sources_without_order_flow_read_as_nulls(truth: pd.DataFrame) -> None:
    synthetic = SyntheticSource(0).fetch("BTCUSDT", START, END)
    assert list(synthetic.columns) == list(CANDLE_COLUMNS)
    for column in ORDER_FLOW_COLUMNS:
        assert np.isnan(order_flow_values(synthetic, column)).all()
        np.testing.assert_array_equal(order_flow_values(truth, column), truth[column])
    with pytest.raises(ValueError, match=r"'volume' is not an order flow column.*trades"):
        order_flow_values(truth, "volume")
    # a re-fetch without order flow merged over stored rows with it: nulls, not a lost column
    merged = merge_candles(truth, synthetic.iloc[200:])
    assert merged["trades"].iloc[:200].notna().all() and merged["trades"].iloc[200:].isna().all()


def test_which_sources_have_order_flow() -> None:
    assert {s: has_order_flow(s) for s in SOURCES} == {
        "bybit": False,
        "synthetic": False,
        "files": True,
    }
    with pytest.raises(ValueError, match=r"'kraken'.*bybit, synthetic, files"):
        has_order_flow("kraken")


def test_ingested_month_keeps_order_flow_and_checks_only_ohlcv_for_nulls(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    export = _binance(truth).astype({"count": "object"})
    export.loc[3, "count"] = ""
    export.to_csv(tmp_path / "BTCUSDT.csv", index=False)
    now = pd.Timestamp("2024-03-01", tz="UTC")
    result = ingest_month(FilesSource(tmp_path), "BTCUSDT", date(2024, 2, 1), now)
    assert list(result.candles.columns) == [*CANDLE_COLUMNS, *ORDER_FLOW_COLUMNS]
    assert result.candles["trades"].isna().sum() == 0 and len(result.candles) == 120
    january = ingest_month(FilesSource(tmp_path), "BTCUSDT", date(2024, 1, 1), now)
    assert january.candles["trades"].isna().sum() == 1  # row 3 is January's


def test_stored_months_with_and_without_order_flow_read_together(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    layout = Layout.at(tmp_path)
    jan, feb = date(2024, 1, 1), date(2024, 2, 1)
    old = truth[truth["timestamp"] < END - pd.Timedelta(hours=2)][list(CANDLE_COLUMNS)]
    new = truth[truth["timestamp"] >= END - pd.Timedelta(hours=2)]
    write_parquet_atomic(old.reset_index(drop=True), layout.partition("raw_candles", "X", jan))
    write_parquet_atomic(new.reset_index(drop=True), layout.partition("raw_candles", "X", feb))
    for months in ([jan, feb], [feb, jan]):
        both = read_partitions(layout, "raw_candles", "X", months)
        assert both["trades"].iloc[:120].isna().all()
        np.testing.assert_array_equal(both["trades"].iloc[120:], new["trades"])


def test_order_flow_onto_a_month_stored_without_it_is_refused_naming_the_fix(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    path = Layout.at(tmp_path).partition("raw_candles", "BTCUSDT", date(2024, 2, 1))
    stored = truth.iloc[120:180][list(CANDLE_COLUMNS)].reset_index(drop=True)
    write_parquet_atomic(stored, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"stored columns .* Delete it and re-materialize"):
        write_merged_parquet(merge_candles(stored, truth.iloc[120:]), path, "timestamp")
    assert path.read_bytes() == before


def test_raw_candles_stores_binance_order_flow(tmp_path: Path, truth: pd.DataFrame) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    february = truth[truth["timestamp"] >= pd.Timestamp("2024-02-01", tz="UTC")]
    _binance(february).to_csv(exports / "BTCUSDT-1m-2024-02-01.csv", index=False, header=False)
    result = dg.materialize(
        [asset("raw_candles")],
        partition_key="2024-02-01|BTCUSDT",
        resources=pipeline_resources(tmp_path / "data", FilesCandles(files_dir=str(exports))),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    path = Layout.at(tmp_path / "data").partition("raw_candles", "BTCUSDT", date(2024, 2, 1))
    stored = read_parquet(path)
    pd.testing.assert_frame_equal(stored, february.reset_index(drop=True), check_exact=False)


def test_a_running_month_stored_without_order_flow_refuses_it_and_keeps_its_file(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    february = truth[truth["timestamp"] >= pd.Timestamp("2024-02-01", tz="UTC")]
    _binance(february).to_csv(exports / "BTCUSDT-1m-2024-02-01.csv", index=False)
    path = Layout.at(tmp_path / "data").partition("raw_candles", "BTCUSDT", date(2024, 2, 1))
    write_parquet_atomic(february.iloc[:60][list(CANDLE_COLUMNS)].reset_index(drop=True), path)
    before = path.read_bytes()
    result = dg.materialize(
        [asset("raw_candles")],
        partition_key="2024-02-01|BTCUSDT",
        resources=pipeline_resources(tmp_path / "data", FilesCandles(files_dir=str(exports))),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    error, messages = result.get_step_failure_events()[0].step_failure_data.error, []
    while error is not None:  # Dagster wraps the IO manager's error: read the whole chain
        messages.append(error.message)
        error = error.cause
    assert any(str(path) in m and "Delete it and re-materialize" in m for m in messages)
    assert path.read_bytes() == before
