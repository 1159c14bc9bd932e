"""The files source: CSV and Parquet exports with ms or ISO-8601 timestamps."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from resnet_pipeline.market.files import CandleFileError, FilesSource, read_candle_file
from resnet_pipeline.market.ingest import ingest_month
from resnet_pipeline.market.source import UnknownSymbolError
from resnet_pipeline.market.synthetic import SyntheticSource

START = pd.Timestamp("2024-01-31 22:00", tz="UTC")
END = pd.Timestamp("2024-02-01 02:00", tz="UTC")


@pytest.fixture
def truth() -> pd.DataFrame:
    return SyntheticSource(0).fetch("BTCUSDT", START, END)


def _export(df: pd.DataFrame, style: str) -> pd.DataFrame:
    out = df.copy()
    ms = df["timestamp"].astype("int64") // 1_000_000
    if style == "ms":
        out["timestamp"] = ms
    elif style == "iso":
        out["timestamp"] = df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("style", ["ms", "iso"])
def test_reads_both_timestamp_styles(
    tmp_path: Path, truth: pd.DataFrame, fmt: str, style: str
) -> None:
    frame = _export(truth, style)
    path = tmp_path / f"BTCUSDT-1m-{style}.{fmt}"
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path, index=False)
    got = FilesSource(tmp_path).fetch("BTCUSDT", START, END)
    pd.testing.assert_frame_equal(got, truth, check_exact=(fmt == "parquet"), rtol=1e-12)


def test_overlapping_files_other_names_and_headerless_exports(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    a, b = _export(truth.iloc[:150], "ms"), _export(truth.iloc[100:], "iso")
    a.to_csv(tmp_path / "bybit_BTCUSDT_1m_a.csv", index=False, header=False)  # exchange-style
    (tmp_path / "BTCUSDT").mkdir()
    b.rename(columns={"timestamp": "open_time"}).to_parquet(tmp_path / "BTCUSDT" / "2024.parquet")
    _export(truth, "ms").to_csv(tmp_path / "XBTCUSDT.csv", index=False)  # another symbol's file
    source = FilesSource(tmp_path)
    assert [p.name for p in source.files_for("BTCUSDT")] == [
        "2024.parquet",
        "bybit_BTCUSDT_1m_a.csv",
    ]
    got = source.fetch("BTCUSDT", START, END)
    pd.testing.assert_frame_equal(got, truth, check_exact=False, rtol=1e-12)


def test_ingest_from_files_splits_by_month(tmp_path: Path, truth: pd.DataFrame) -> None:
    _export(truth, "iso").to_csv(tmp_path / "BTCUSDT.csv", index=False)
    now = pd.Timestamp("2024-03-01", tz="UTC")
    result = ingest_month(FilesSource(tmp_path), "BTCUSDT", date(2024, 1, 1), now)
    assert len(result.candles) == 120 and result.summary.present_minutes == 120
    assert result.summary.gaps == 0  # the month before 22:00 on the 31st is not in the file
    assert result.summary.before_first_minutes == 44_640 - 120


def test_bad_files_fail_with_the_file_named(tmp_path: Path, truth: pd.DataFrame) -> None:
    truth.drop(columns="volume").to_csv(tmp_path / "BTCUSDT.csv", index=False)
    with pytest.raises(CandleFileError, match=r"BTCUSDT\.csv.*volume"):
        read_candle_file(tmp_path / "BTCUSDT.csv")
    shifted = _export(truth, "ms").assign(timestamp=lambda d: d["timestamp"] + 30_000)
    shifted.to_csv(tmp_path / "ETHUSDT.csv", index=False)
    with pytest.raises(CandleFileError, match="1-minute grid"):
        read_candle_file(tmp_path / "ETHUSDT.csv")
    with pytest.raises(UnknownSymbolError, match="SOLUSDT"):
        FilesSource(tmp_path).fetch("SOLUSDT", START, END)
    with pytest.raises(FileNotFoundError, match="RESNET_FILES_DIR"):
        FilesSource(tmp_path / "nope")
