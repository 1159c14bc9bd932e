"""The files source as users meet it: exchange column names, epoch units, bad files, repeats."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.market.files import (
    EPOCH_UNITS,
    CandleFileError,
    ConflictingCandlesWarning,
    FilesSource,
    conflicting_minutes,
    epoch_unit,
    parse_column_mapping,
    read_candle_file,
)
from resnet_pipeline.market.merge import merge_candles
from resnet_pipeline.market.synthetic import SyntheticSource

START = pd.Timestamp("2024-01-31 22:00", tz="UTC")
END = pd.Timestamp("2024-02-01 02:00", tz="UTC")
SCALE = dict(EPOCH_UNITS)


@pytest.fixture
def truth() -> pd.DataFrame:
    return SyntheticSource(0).fetch("BTCUSDT", START, END)


def _epochs(df: pd.DataFrame, unit: str) -> pd.Series:
    return df["timestamp"].astype("int64") // (10**9 // SCALE[unit])


@pytest.mark.parametrize(
    "column", ["timestamp_ms", "open_time", "start_time", "ts_ms", "Open Time", "startTime"]
)
def test_common_exchange_time_columns_are_found(
    tmp_path: Path, truth: pd.DataFrame, column: str
) -> None:
    export = truth.assign(timestamp=_epochs(truth, "ms")).rename(columns={"timestamp": column})
    export.to_csv(tmp_path / "BTCUSDT.csv", index=False)
    got = FilesSource(tmp_path).fetch("BTCUSDT", START, END)
    pd.testing.assert_frame_equal(got, truth, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_each_epoch_unit_is_read_as_that_unit(
    tmp_path: Path, truth: pd.DataFrame, unit: str, fmt: str
) -> None:
    export = truth.assign(timestamp=_epochs(truth, unit))
    path = tmp_path / f"BTCUSDT.{fmt}"
    export.to_csv(path, index=False) if fmt == "csv" else export.to_parquet(path, index=False)
    got = read_candle_file(path)
    pd.testing.assert_series_equal(got["timestamp"], truth["timestamp"])


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.lists(
        st.integers(min_value=1_230_768_000, max_value=4_102_444_799), min_size=1, max_size=5
    ),
    unit=st.sampled_from([u for u, _ in EPOCH_UNITS]),
)
def test_units_of_dates_2009_to_2099_never_overlap(seconds: list[int], unit: str) -> None:
    values = [s * SCALE[unit] for s in seconds]
    assert epoch_unit(min(values), max(values)) == unit


@pytest.mark.parametrize("value", [86_400_000, 5_000_000_000_000_000_000, 1_000_000_000])
def test_epochs_outside_2009_2099_are_refused_naming_the_file(
    tmp_path: Path, truth: pd.DataFrame, value: int
) -> None:
    truth.assign(timestamp=value).to_csv(tmp_path / "BTCUSDT.csv", index=False)
    with pytest.raises(CandleFileError, match=r"BTCUSDT\.csv: epoch timestamps .* 2009\.\.2099"):
        read_candle_file(tmp_path / "BTCUSDT.csv")


def test_mixed_units_in_one_column_are_refused(tmp_path: Path, truth: pd.DataFrame) -> None:
    stamps = _epochs(truth, "ms").astype("int64")
    stamps.iloc[0] = stamps.iloc[0] // 1000  # one row in seconds
    truth.assign(timestamp=stamps).to_csv(tmp_path / "BTCUSDT.csv", index=False)
    with pytest.raises(CandleFileError, match="one unit per column"):
        read_candle_file(tmp_path / "BTCUSDT.csv")


def test_a_column_mapping_names_any_other_columns(tmp_path: Path, truth: pd.DataFrame) -> None:
    names = {"timestamp": "KlineStart", "open": "px_o", "high": "px_h", "low": "px_l"}
    names |= {"close": "px_c", "volume": "qty"}
    export = truth.assign(timestamp=_epochs(truth, "ms")).rename(columns=names)
    export.to_parquet(tmp_path / "BTCUSDT.parquet", index=False)
    with pytest.raises(CandleFileError, match=r"BTCUSDT\.parquet: no column for timestamp.*"):
        FilesSource(tmp_path).fetch("BTCUSDT", START, END)
    text = ",".join(f"{k}={v}" for k, v in names.items())
    got = FilesSource(tmp_path, columns=text).fetch("BTCUSDT", START, END)
    pd.testing.assert_frame_equal(got, truth)
    wrong = FilesSource(tmp_path, columns="close=last_price")
    with pytest.raises(CandleFileError, match=r"BTCUSDT\.parquet: .*'last_price' for close"):
        wrong.fetch("BTCUSDT", START, END)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("timestamp", "candle_column=file_column"),
        ("price=px", "'price' is not a candle column"),
        ("open=", "names no file column"),
        ("open=a,open=b", "mapped twice"),
        ("open=a,close=a", "more than one"),
    ],
)
def test_bad_column_mappings_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_column_mapping(text)


def test_unreadable_files_are_named(tmp_path: Path, truth: pd.DataFrame) -> None:
    good = tmp_path / "BTCUSDT.parquet"
    truth.to_parquet(good)
    (tmp_path / "ETHUSDT.parquet").write_bytes(good.read_bytes()[:200])  # truncated copy
    with pytest.raises(CandleFileError, match=r"ETHUSDT\.parquet: cannot be read as Parquet"):
        FilesSource(tmp_path).fetch("ETHUSDT", START, END)
    (tmp_path / "SOLUSDT.csv").write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    with pytest.raises(CandleFileError, match=r"SOLUSDT\.csv: cannot be read as CSV"):
        FilesSource(tmp_path).fetch("SOLUSDT", START, END)


def test_values_that_are_not_numbers_are_named(tmp_path: Path, truth: pd.DataFrame) -> None:
    export = truth.assign(timestamp=_epochs(truth, "ms"), close=truth["close"].astype(object))
    export.loc[7, "close"] = "1,5"
    export.to_csv(tmp_path / "BTCUSDT.csv", index=False)
    with pytest.raises(CandleFileError, match=r"BTCUSDT\.csv: 1 close values .* row 8: '1,5'"):
        read_candle_file(tmp_path / "BTCUSDT.csv")
    export.loc[7, "close"] = None
    export.to_csv(tmp_path / "BTCUSDT.csv", index=False)
    with pytest.raises(CandleFileError, match=r"BTCUSDT\.csv: 1 close values .* row 8: empty"):
        read_candle_file(tmp_path / "BTCUSDT.csv")


def test_conflicting_repeats_warn_with_counts_and_the_last_file_wins(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    older = truth.iloc[:150].assign(timestamp=_epochs(truth.iloc[:150], "ms"))
    newer = truth.iloc[100:].assign(timestamp=_epochs(truth.iloc[100:], "ms"))
    newer.loc[newer.index[:3], "close"] += 1.0  # 3 minutes differ, 47 repeat identically
    older.to_parquet(tmp_path / "BTCUSDT-a.parquet")
    newer.to_parquet(tmp_path / "BTCUSDT-b.parquet")
    with pytest.warns(ConflictingCandlesWarning, match=r"BTCUSDT: 3 minute\(s\).*BTCUSDT-a"):
        got = FilesSource(tmp_path).fetch("BTCUSDT", START, END)
    assert (got["close"].iloc[100:103].to_numpy() == truth["close"].iloc[100:103] + 1.0).all()
    assert len(got) == len(truth)


def test_conflicting_repeats_within_one_file_warn_too(tmp_path: Path, truth: pd.DataFrame) -> None:
    export = truth.assign(timestamp=_epochs(truth, "ms"))
    repeat = export.iloc[[5]].assign(volume=-1.0)
    pd.concat([export, repeat]).to_csv(tmp_path / "BTCUSDT.csv", index=False)
    with pytest.warns(ConflictingCandlesWarning, match=r"1 minute\(s\).*1 overridden rows"):
        got = FilesSource(tmp_path).fetch("BTCUSDT", START, END)
    assert got["volume"].iloc[5] == -1.0  # the last row within a file wins


def test_identical_repeats_are_silent(tmp_path: Path, truth: pd.DataFrame) -> None:
    export = truth.assign(timestamp=_epochs(truth, "ms"))
    export.to_csv(tmp_path / "BTCUSDT-a.csv", index=False)
    export.iloc[50:].to_parquet(tmp_path / "BTCUSDT-b.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = FilesSource(tmp_path).fetch("BTCUSDT", START, END)
    assert len(got) == len(truth)


@settings(max_examples=80, deadline=None)
@given(
    files=st.lists(
        st.lists(st.tuples(st.integers(0, 19), st.integers(0, 2)), max_size=30),
        min_size=1,
        max_size=4,
    )
)
def test_the_last_row_wins_and_only_differing_repeats_are_conflicts(
    files: list[list[tuple[int, int]]],
) -> None:
    """Each file: (minute, variant) rows in file order; a variant shifts every value."""
    base = SyntheticSource(0).fetch("BTCUSDT", START, START + pd.Timedelta(minutes=20))
    frames = []
    for rows in files:
        minutes = [m for m, _ in rows]
        shift = pd.Series([v for _, v in rows], dtype="float64").to_numpy()
        frame = base.iloc[minutes].reset_index(drop=True)
        for col in ("open", "high", "low", "close", "volume"):
            frame[col] = frame[col] + shift
        frames.append(frame.sort_values("timestamp", kind="stable").reset_index(drop=True))
    last: dict[int, int] = {}
    seen: dict[int, set[int]] = {}
    rows_seen: dict[int, list[int]] = {}
    for rows in files:
        for m, v in sorted(rows, key=lambda r: r[0]):  # files are read sorted by time
            last[m] = v
            seen.setdefault(m, set()).add(v)
            rows_seen.setdefault(m, []).append(v)
    merged = merge_candles(*frames)
    got = {
        int((t - START) / pd.Timedelta(minutes=1)): c
        for t, c in zip(merged["timestamp"], merged["close"], strict=True)
    }
    assert got.keys() == last.keys()
    for m, v in last.items():
        assert got[m] == pytest.approx(base["close"].iloc[m] + v)
    conflicts = conflicting_minutes(frames)
    minutes = {int((t - START) / pd.Timedelta(minutes=1)) for t in conflicts["timestamp"]}
    assert minutes == {m for m, variants in seen.items() if len(variants) > 1}
    assert len(conflicts) == sum(sum(v != last[m] for v in rows_seen[m]) for m in minutes)


@pytest.mark.parametrize("sep", [";", "\t"])
@pytest.mark.parametrize("header", [True, False])
def test_semicolon_and_tab_separated_files_with_decimal_commas(
    tmp_path: Path, truth: pd.DataFrame, sep: str, header: bool
) -> None:
    export = truth.assign(timestamp=_epochs(truth, "ms"))
    path = tmp_path / "BTCUSDT.csv"
    export.to_csv(path, index=False, sep=sep, decimal=",", header=header)
    assert "," in path.read_text().splitlines()[1]  # the values carry decimal commas
    pd.testing.assert_frame_equal(FilesSource(tmp_path).fetch("BTCUSDT", START, END), truth)
    export.to_csv(path, index=False, sep=sep, header=header)  # decimal points read as well
    pd.testing.assert_frame_equal(FilesSource(tmp_path).fetch("BTCUSDT", START, END), truth)


def test_a_thousands_separator_is_refused_naming_the_value(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    export = truth.assign(timestamp=_epochs(truth, "ms"), close=truth["close"].astype(object))
    export.loc[3, "close"] = "43.210,5"
    export.to_csv(tmp_path / "BTCUSDT.csv", index=False, sep=";", decimal=",")
    with pytest.raises(
        CandleFileError, match=r"1 close values .* row 4: '43\.210,5'; .*thousands separator"
    ):
        read_candle_file(tmp_path / "BTCUSDT.csv")


def test_a_semicolon_header_is_split_on_semicolons(tmp_path: Path, truth: pd.DataFrame) -> None:
    """The message users met before: a semicolon file read as one comma column."""
    export = truth.assign(timestamp=_epochs(truth, "ms")).rename(columns={"timestamp": "Zeit"})
    export.to_csv(tmp_path / "BTCUSDT.csv", index=False, sep=";", decimal=",")
    with pytest.raises(
        CandleFileError, match=r"no column for timestamp among \['Zeit', 'open', 'high'"
    ):
        read_candle_file(tmp_path / "BTCUSDT.csv")
    got = read_candle_file(tmp_path / "BTCUSDT.csv", columns={"timestamp": "Zeit"})
    pd.testing.assert_frame_equal(got, truth)


def test_a_bad_value_in_a_headerless_export_is_named_like_any_other(
    tmp_path: Path, truth: pd.DataFrame
) -> None:
    export = truth.assign(timestamp=_epochs(truth, "ms"), high=truth["high"].astype(object))
    export.loc[11, "high"] = "n/a?"
    export.to_csv(tmp_path / "BTCUSDT-1m.csv", index=False, header=False)
    with pytest.raises(CandleFileError, match=r"1 high values .* row 12: 'n/a\?'\): fix"):
        read_candle_file(tmp_path / "BTCUSDT-1m.csv")
