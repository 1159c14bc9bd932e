"""The files source reads only the files that can hold the fetched minutes, with the same
result as reading every file: dated names, the time-range index, re-written files."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_pipeline.market.files import (
    CandleFileError,
    ConflictingCandlesWarning,
    FilesSource,
    read_candle_file,
)
from resnet_pipeline.market.files_index import FilesIndex, FileStamp, IndexNotSavedWarning
from resnet_pipeline.market.merge import merge_candles
from resnet_pipeline.market.minute_ranges import clip_range
from resnet_pipeline.market.synthetic import SyntheticSource

SYMBOL = "BTCUSDT"
FIRST = pd.Timestamp("2024-01-30", tz="UTC")
DAYS = 4  # Jan 30 .. Feb 2
FEB = pd.Timestamp("2024-02-01", tz="UTC")
MARCH = pd.Timestamp("2024-03-01", tz="UTC")
SPAN_END = FIRST + pd.Timedelta(days=DAYS)
CANDLES = SyntheticSource(0).fetch(SYMBOL, FIRST, SPAN_END)
FORMATS = (".csv", ".csv.gz", ".parquet", ".headerless.csv")


def _write(frame: pd.DataFrame, path: Path) -> Path:
    """Epoch-ms candles as CSV (with header or as an exchange export), CSV.gz or Parquet."""
    export = frame.assign(timestamp=frame["timestamp"].astype("int64") // 1_000_000)
    if path.name.endswith(".parquet"):
        export.to_parquet(path, index=False)
    else:
        export.to_csv(path, index=False, header=not path.name.endswith(".headerless.csv"))
    return path


def _day(day: pd.Timestamp) -> pd.DataFrame:
    return clip_range(CANDLES, day, day + pd.Timedelta(days=1))


def _everything(directory: Path, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Every file of the symbol read and merged in path order, then clipped: the reference."""
    files = FilesSource(directory).files_for(SYMBOL)
    return clip_range(merge_candles(*[read_candle_file(f) for f in files]), start, end)


@pytest.fixture
def daily(tmp_path: Path) -> Path:
    """Four daily exports (Jan 30 .. Feb 2), one per format."""
    folder = tmp_path / "exports"
    folder.mkdir()
    for number, fmt in enumerate(FORMATS):
        day = FIRST + pd.Timedelta(days=number)
        _write(_day(day), folder / f"{SYMBOL}-1m-{day:%Y-%m-%d}{fmt}")
    return folder


def test_a_month_reads_only_its_own_daily_files(daily: Path, tmp_path: Path) -> None:
    source = FilesSource(daily, index_path=tmp_path / "index.json")
    got = source.fetch(SYMBOL, FEB, MARCH)
    assert [p.name for p in source.files_read] == [
        f"{SYMBOL}-1m-2024-02-01.parquet",
        f"{SYMBOL}-1m-2024-02-02.headerless.csv",
    ]
    assert source.requests == 2
    pd.testing.assert_frame_equal(got, _everything(daily, FEB, MARCH))
    pd.testing.assert_frame_equal(got, clip_range(CANDLES, FEB, MARCH))
    january = FilesSource(daily, index_path=tmp_path / "index.json")
    pd.testing.assert_frame_equal(january.fetch(SYMBOL, FIRST, FEB), _everything(daily, FIRST, FEB))
    assert [p.name for p in january.files_read] == [
        f"{SYMBOL}-1m-2024-01-30.csv",
        f"{SYMBOL}-1m-2024-01-31.csv.gz",
    ]


def test_monthly_and_ranged_names_are_read_only_for_their_months(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    _write(clip_range(CANDLES, FIRST, FEB), folder / f"{SYMBOL}-1m-2024-01.csv")
    _write(clip_range(CANDLES, FEB, SPAN_END), folder / f"{SYMBOL}-1m-2024-02.parquet")
    _write(CANDLES.iloc[:10], folder / f"{SYMBOL}_2023-12-01_2024-01-31.csv")
    source = FilesSource(folder, index_path=tmp_path / "index.json")
    got = source.fetch(SYMBOL, FEB, MARCH)
    assert [p.name for p in source.files_read] == [f"{SYMBOL}-1m-2024-02.parquet"]
    pd.testing.assert_frame_equal(got, _everything(folder, FEB, MARCH))


def test_an_undated_file_is_read_once_per_source_then_placed_by_the_index(
    tmp_path: Path,
) -> None:
    folder, index = tmp_path / "exports", tmp_path / "index.json"
    folder.mkdir()
    _write(
        clip_range(CANDLES, FIRST + pd.Timedelta(days=1), FEB + pd.Timedelta(days=1)),
        folder / f"{SYMBOL}.csv",
    )
    source = FilesSource(folder, index_path=index)
    january, february = source.fetch(SYMBOL, FIRST, FEB), source.fetch(SYMBOL, FEB, MARCH)
    assert len(source.files_read) == 1  # the second month came from memory
    pd.testing.assert_frame_equal(january, _everything(folder, FIRST, FEB))
    pd.testing.assert_frame_equal(february, _everything(folder, FEB, MARCH))
    assert len(january) == len(february) == 1440

    later = FilesSource(folder, index_path=index)  # a new run: only the index carries over
    assert later.fetch(SYMBOL, MARCH, MARCH + pd.Timedelta(days=31)).empty
    assert later.files_read == []  # its recorded range ends on Feb 1
    pd.testing.assert_frame_equal(later.fetch(SYMBOL, FEB, MARCH), february)
    assert len(later.files_read) == 1


def test_an_index_that_cannot_be_stored_warns_and_the_candles_are_right(tmp_path: Path) -> None:
    folder, blocker = tmp_path / "exports", tmp_path / "a-file"
    folder.mkdir()
    blocker.write_text("not a directory")
    _write(clip_range(CANDLES, FIRST, FEB), folder / f"{SYMBOL}.csv")
    source = FilesSource(folder, index_path=blocker / "index.json")
    with pytest.warns(IndexNotSavedWarning, match="could not be written"):
        january = source.fetch(SYMBOL, FIRST, FEB)
    pd.testing.assert_frame_equal(january, _everything(folder, FIRST, FEB))


def test_a_rewritten_file_is_indexed_again(tmp_path: Path) -> None:
    folder, index = tmp_path / "exports", tmp_path / "index.json"
    folder.mkdir()
    path = _write(_day(FIRST), folder / f"{SYMBOL}.parquet")
    FilesSource(folder, index_path=index).fetch(SYMBOL, FIRST, MARCH)  # records Jan 30
    _write(_day(FEB), path)  # the same name now holds Feb 1
    source = FilesSource(folder, index_path=index)
    got = source.fetch(SYMBOL, FEB, MARCH)
    assert source.files_read == [path]
    pd.testing.assert_frame_equal(got, _day(FEB))
    entry = FilesIndex(index, folder).get(path, FileStamp.of(path.stat()))
    assert entry is not None and entry.first_ns == FEB.value


def test_a_dated_name_is_a_promise_checked_whenever_the_file_is_read(tmp_path: Path) -> None:
    folder, index = tmp_path / "exports", tmp_path / "index.json"
    folder.mkdir()
    _write(
        clip_range(CANDLES, FIRST, FEB + pd.Timedelta(minutes=1)),
        folder / f"{SYMBOL}-1m-2024-01-31.csv",
    )
    for _ in range(2):  # never recorded, so refused again
        with pytest.raises(
            CandleFileError,
            match=r"2024-01-31\.csv: its name dates it 2024-01-31 00:00 to 2024-02-01 00:00 UTC "
            r"but it holds candles from 2024-01-30 00:00 to 2024-02-01 00:00: .*rename the file",
        ):
            FilesSource(folder, index_path=index).fetch(SYMBOL, FIRST, FEB)


def test_folder_names_are_not_read_for_dates(tmp_path: Path) -> None:
    folder = tmp_path / "exports" / "2024-01"
    folder.mkdir(parents=True)
    _write(_day(FEB), folder / f"{SYMBOL}.csv")
    source = FilesSource(folder.parent, index_path=tmp_path / "index.json")
    pd.testing.assert_frame_equal(source.fetch(SYMBOL, FEB, MARCH), _day(FEB))


def test_a_corrupt_index_is_rebuilt_and_concurrent_saves_merge(tmp_path: Path) -> None:
    folder, index = tmp_path / "exports", tmp_path / "index.json"
    folder.mkdir()
    files = [_write(_day(FIRST), folder / f"{s}.csv") for s in ("BTCUSDT", "ETHUSDT")]
    index.write_text('{"format": 1, "files": {"x": [1, 2')  # a torn write
    btc, eth = FilesSource(folder, index_path=index), FilesSource(folder, index_path=index)
    pd.testing.assert_frame_equal(btc.fetch("BTCUSDT", FIRST, FEB), _day(FIRST))
    eth.fetch("ETHUSDT", FIRST, FEB)  # loaded the index before btc saved: merges on save
    recorded = FilesIndex(index, folder)
    assert all(recorded.get(f, FileStamp.of(f.stat())) is not None for f in files)


@st.composite
def layouts(draw: st.DrawFn) -> list[tuple[str, list[int], float]]:
    """Files as (name, hourly rows of the 4-day span, value shift): dated files keep to their
    period, undated ones hold any hours; names sort in drawing order, so later files win."""
    files = []
    for number in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["daily", "monthly", "undated"]))
        fmt = draw(st.sampled_from(FORMATS))
        if kind == "daily":
            day = draw(st.integers(0, DAYS - 1))
            allowed, name = (
                range(day * 24, day * 24 + 24),
                f"{FIRST + pd.Timedelta(days=day):%Y-%m-%d}",
            )
        elif kind == "monthly":
            january = draw(st.booleans())
            allowed, name = (range(0, 48), "2024-01") if january else (range(48, 96), "2024-02")
        else:
            allowed, name = range(96), "all"
        hours = draw(st.lists(st.sampled_from(list(allowed)), min_size=1, max_size=12))
        shift = draw(st.sampled_from([0.0, 1.0]))
        files.append((f"{chr(97 + number)}-{SYMBOL}-1m-{name}{fmt}", hours, shift))
    return files


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    layout=layouts(),
    cuts=st.lists(st.integers(1, DAYS * 24 - 1), max_size=4),
)
def test_fetches_split_anywhere_equal_one_fetch_and_reading_everything(
    layout: list[tuple[str, list[int], float]], cuts: list[int]
) -> None:
    hourly = CANDLES.iloc[::60].reset_index(drop=True)
    bounds = sorted({FIRST, FEB, SPAN_END, *(FIRST + pd.Timedelta(hours=h) for h in cuts)})
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConflictingCandlesWarning)
        folder, index = Path(tmp) / "exports", Path(tmp) / "index.json"
        folder.mkdir()
        for name, hours, shift in layout:
            rows = hourly.iloc[hours].reset_index(drop=True)
            rows[["open", "high", "low", "close"]] += shift
            _write(rows, folder / name)
        whole = FilesSource(folder, index_path=index).fetch(SYMBOL, FIRST, SPAN_END)
        pd.testing.assert_frame_equal(whole, _everything(folder, FIRST, SPAN_END))
        one_source = FilesSource(folder, index_path=index)
        ranges = list(zip(bounds[:-1], bounds[1:], strict=True))
        for make in (lambda: one_source, lambda: FilesSource(folder, index_path=index)):
            pieces = [make().fetch(SYMBOL, a, b) for a, b in ranges]
            pd.testing.assert_frame_equal(pd.concat(pieces, ignore_index=True), whole)
