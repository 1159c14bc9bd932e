"""Candles from a directory of CSV or Parquet files, as exchanges export them.

Naming convention: a file belongs to a symbol when the symbol appears as a whole word in
its path relative to the directory (words are split on anything that is not a letter or a
digit, case-insensitive): ``BTCUSDT-1m-2024-01.csv``, ``bybit_BTCUSDT_1m.parquet`` and
``BTCUSDT/2024.csv`` are BTCUSDT's; ``XBTCUSDT.csv`` is not.

Columns are matched by name, case-insensitive, spaces and dashes read as ``_``: the
timestamp is the first of ``TIME_COLUMNS`` present, each value column the first of its
``VALUE_ALIASES``; a column mapping (``timestamp=OpenTime,open=o``) names any other column.
Timestamps are candle open times on the 1-minute grid: ISO-8601 strings (naive ones are
UTC) or epoch numbers whose unit (s, ms, us, ns) follows from their magnitude, the ranges
for dates 2009..2099 being disjoint. Header-less CSVs in the Binance/Bybit export order
(open time, open, high, low, close, volume, ...) are read too.

Duplicates: a minute present in several files (or twice in one) keeps the row of the file
sorting last by path, and within one file the last row. Identical repeats are silent;
repeats whose values differ raise a ``ConflictingCandlesWarning`` with counts.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from resnet_pipeline.market.merge import merge_candles
from resnet_pipeline.market.minute_ranges import clip_range, to_utc
from resnet_pipeline.market.schema import TIMESTAMP_DTYPE, VALUE_COLUMNS, empty_candles
from resnet_pipeline.market.source import UnknownSymbolError

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
TIME_COLUMNS = (
    "timestamp",
    "timestamp_ms",
    "open_time",
    "open_time_ms",
    "opentime",
    "start_time",
    "starttime",
    "start",
    "time",
    "time_ms",
    "datetime",
    "date",
    "ts",
    "ts_ms",
    "t",
)
VALUE_ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("open", "open_price", "o"),
    "high": ("high", "high_price", "h"),
    "low": ("low", "low_price", "l"),
    "close": ("close", "close_price", "c"),
    "volume": ("volume", "vol", "base_volume", "v"),
}
MAPPABLE = ("timestamp", *VALUE_COLUMNS)
MAPPING_HINT = "timestamp=OpenTime,open=o,high=h,low=l,close=c,volume=v"
# Epoch seconds of 2009-01-01 and 2100-01-01: times 10**3k these bound s, ms, us and ns.
_FIRST_S, _END_S = 1_230_768_000, 4_102_444_800
EPOCH_UNITS = (("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9))
_SAME_VALUE_RTOL = 1e-9  # CSV round trips may change the last bit of a float


class CandleFileError(ValueError):
    """A file in the candle directory cannot be read as 1-minute candles."""


class ConflictingCandlesWarning(UserWarning):
    """The same minute appears with different values; the documented winner was kept."""


def _norm(name: object) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def _words(path: Path) -> set[str]:
    return {w for w in re.split(r"[^A-Za-z0-9]+", str(path).upper()) if w}


def parse_column_mapping(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"timestamp=OpenTime,open=o"`` (or a dict) -> a checked {schema column: file column}.

    Raises ValueError saying what is wrong; the caller adds where the mapping came from.
    """
    if text is None:
        return {}
    if isinstance(text, Mapping):
        pairs = [(str(k), str(v)) for k, v in text.items()]
    else:
        pairs = []
        for item in (i.strip() for i in text.split(",")):
            if not item:
                continue
            if "=" not in item:
                raise ValueError(f"{item!r} is not candle_column=file_column, e.g. {MAPPING_HINT}")
            key, value = item.split("=", 1)
            pairs.append((key, value))
    mapping: dict[str, str] = {}
    for key, value in pairs:
        key, value = key.strip().lower(), value.strip()
        if key not in MAPPABLE:
            raise ValueError(f"{key!r} is not a candle column: map one of {', '.join(MAPPABLE)}")
        if not value:
            raise ValueError(f"{key}= names no file column, e.g. {MAPPING_HINT}")
        if key in mapping:
            raise ValueError(f"{key} is mapped twice")
        mapping[key] = value
    taken = [v for v in mapping.values() if list(mapping.values()).count(v) > 1]
    if taken:
        raise ValueError(f"file column {taken[0]!r} is mapped to more than one candle column")
    return mapping


def epoch_unit(low: int, high: int) -> str | None:
    """The unit in which every epoch number in [low, high] is a date in 2009..2099, if any."""
    for unit, scale in EPOCH_UNITS:
        if _FIRST_S * scale <= low and high < _END_S * scale:
            return unit
    return None


def _epoch_timestamps(values: pd.Series, where: str) -> pd.DatetimeIndex:
    if values.isna().any():
        raise CandleFileError(f"{where}: {int(values.isna().sum())} empty timestamps")
    if pd.api.types.is_integer_dtype(values.dtype):
        ints = values.to_numpy(dtype="int64")
    else:  # floats: exact below 2**53, so for s, ms and us
        ints = np.rint(values.to_numpy(dtype="float64")).astype("int64")
    if not len(ints):
        return pd.DatetimeIndex([], tz="UTC")
    low, high = int(ints.min()), int(ints.max())
    unit = epoch_unit(low, high)
    if unit is None:
        raise CandleFileError(
            f"{where}: epoch timestamps {low}..{high} are not seconds, milliseconds, "
            "microseconds or nanoseconds of dates in 2009..2099 (one unit per column): export "
            "candle open times as epoch milliseconds or ISO-8601"
        )
    return pd.to_datetime(ints, unit=unit, utc=True)


def parse_timestamps(values: pd.Series, where: str) -> pd.Series:
    """Epoch numbers (s, ms, us or ns by magnitude) or ISO-8601 strings -> UTC timestamps."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        ts = pd.to_datetime(values, utc=True)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        ts = _epoch_timestamps(values, where)
    else:
        text = values.astype("string").str.strip()
        if text.str.fullmatch(r"\d+").all():
            return parse_timestamps(text.astype("int64"), where)
        try:
            ts = pd.to_datetime(text, utc=True, format="ISO8601")
        except (ValueError, TypeError) as error:
            raise CandleFileError(
                f"{where}: timestamps are neither epoch numbers nor ISO-8601 ({error})"
            ) from None
    ts = pd.Series(ts).astype(TIMESTAMP_DTYPE).reset_index(drop=True)
    if ts.isna().any():
        raise CandleFileError(f"{where}: {int(ts.isna().sum())} empty timestamps")
    return ts


def _read_raw(path: Path) -> pd.DataFrame:
    if path.name.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    frame = pd.read_csv(path)
    first = str(frame.columns[0]).strip()
    if re.fullmatch(r"\d+(\.\d+)?", first):  # no header: exchange export column order
        frame = pd.read_csv(path, header=None)
        frame = frame.iloc[:, :6]
        frame.columns = ["timestamp", *VALUE_COLUMNS]
    return frame


def _read(path: Path) -> pd.DataFrame:
    try:
        return _read_raw(path)
    except Exception as error:  # every reader error, whatever the library raises
        raise CandleFileError(
            f"{path}: cannot be read as {'Parquet' if 'parquet' in path.name.lower() else 'CSV'}"
            f" ({type(error).__name__}: {error}): re-export the file or move it out of the "
            "candle directory (RESNET_FILES_DIR)"
        ) from None


def _columns(raw: pd.DataFrame, path: Path, mapping: Mapping[str, str]) -> dict[str, object]:
    """{schema column: the file's column}, from the mapping first, then the known names."""
    by_norm: dict[str, object] = {}
    for col in raw.columns:
        by_norm.setdefault(_norm(col), col)
    found: dict[str, object] = {}
    for key in MAPPABLE:
        if key in mapping:
            wanted = mapping[key]
            hit = wanted if wanted in raw.columns else by_norm.get(_norm(wanted))
            if hit is None:
                raise CandleFileError(
                    f"{path}: the column mapping names {wanted!r} for {key}, but the file has "
                    f"{list(raw.columns)}: fix the mapping (RESNET_FILES_COLUMNS)"
                )
            found[key] = hit
            continue
        names = TIME_COLUMNS if key == "timestamp" else VALUE_ALIASES[key]
        hit = next((by_norm[n] for n in names if n in by_norm), None)
        if hit is not None:
            found[key] = hit
    missing = [k for k in MAPPABLE if k not in found]
    if missing:
        raise CandleFileError(
            f"{path}: no column for {', '.join(missing)} among {list(raw.columns)}; the "
            f"timestamp is read from one of {', '.join(TIME_COLUMNS)}, values from "
            f"{', '.join(VALUE_COLUMNS)}: name the columns with RESNET_FILES_COLUMNS, e.g. "
            f"{MAPPING_HINT}"
        )
    return found


def _numbers(column: pd.Series, path: Path, name: str) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = values.isna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        value = column.iloc[first]
        shown = repr(value) if isinstance(value, str) else "empty"
        raise CandleFileError(
            f"{path}: {int(bad.sum())} {name} values are empty or not numbers (first at data "
            f"row {first + 1}: {shown}): fix or re-export the file"
        )
    return values.to_numpy()


def read_candle_file(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One file as a candle frame (sorted by time, repeated minutes kept in file order)."""
    path = Path(path)
    raw = _read(path)
    found = _columns(raw, path, columns or {})
    frame = pd.DataFrame({"timestamp": parse_timestamps(raw[found["timestamp"]], str(path))})
    for col in VALUE_COLUMNS:
        frame[col] = _numbers(raw[found[col]].reset_index(drop=True), path, col)
    off_grid = frame["timestamp"].astype("int64") % 60_000_000_000 != 0
    if off_grid.any():
        raise CandleFileError(
            f"{path}: {int(off_grid.sum())} timestamps are not on the 1-minute grid "
            f"(first {frame['timestamp'][off_grid].iloc[0]}): export 1-minute candles"
        )
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def conflicting_minutes(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of repeated minutes whose values differ from the kept (last) row, with ``file``.

    ``file`` is the frame's index in ``frames``; identical repeats are not returned.
    """
    parts = [f.assign(file=i) for i, f in enumerate(frames) if len(f)]
    if not parts:
        return pd.DataFrame(columns=[*frames[0].columns, "file"] if frames else ["file"])
    stacked = pd.concat(parts, ignore_index=True)
    ns = stacked["timestamp"].astype("int64").to_numpy()
    order = np.argsort(ns, kind="stable")  # by minute, then file order, then row order
    minutes = ns[order]
    starts = np.r_[True, minutes[1:] != minutes[:-1]]
    last_of_group = np.flatnonzero(np.r_[starts[1:], True])
    values = stacked[list(VALUE_COLUMNS)].to_numpy(dtype="float64")[order]
    kept = values[last_of_group[np.cumsum(starts) - 1]]
    same = np.isclose(values, kept, rtol=_SAME_VALUE_RTOL, atol=0.0, equal_nan=True).all(axis=1)
    return stacked.iloc[order[~same]]


def _warn_conflicts(symbol: str, files: list[Path], frames: list[pd.DataFrame]) -> None:
    conflicts = conflicting_minutes(frames)
    if conflicts.empty:
        return
    first = conflicts.iloc[0]
    minutes = conflicts["timestamp"].nunique()
    names = sorted({files[int(i)].name for i in conflicts["file"]})
    warnings.warn(
        ConflictingCandlesWarning(
            f"{symbol}: {minutes} minute(s) appear more than once with different values "
            f"({len(conflicts)} overridden rows, in {', '.join(names[:5])}"
            f"{' ...' if len(names) > 5 else ''}; first {first['timestamp']:%Y-%m-%d %H:%M}, "
            f"close {first['close']} in {files[int(first['file'])].name}): kept the row of "
            "the file sorting last by path (and the last row within a file); remove the "
            "overlapping exports if that is not the one you want"
        ),
        stacklevel=3,
    )


class FilesSource:
    """All candle files of a directory, read once per symbol and sliced per request."""

    name = "files"
    page_minutes: int | None = None

    def __init__(
        self, directory: str | Path, columns: Mapping[str, str] | str | None = None
    ) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(
                f"candle files directory {str(self.directory)!r} does not exist: "
                "set RESNET_FILES_DIR to a directory of CSV/Parquet exports"
            )
        try:
            self.columns = parse_column_mapping(columns)
        except ValueError as error:
            raise CandleFileError(f"column mapping {columns!r}: {error}") from None
        self.requests = 0
        self._cache: dict[str, pd.DataFrame] = {}

    def files_for(self, symbol: str) -> list[Path]:
        word = symbol.upper()
        found = [
            p
            for p in self.directory.rglob("*")
            if p.is_file()
            and p.name.lower().endswith(SUFFIXES)
            and word in _words(p.relative_to(self.directory))
        ]
        return sorted(found)

    def _load(self, symbol: str) -> pd.DataFrame:
        if symbol not in self._cache:
            files = self.files_for(symbol)
            if not files:
                raise UnknownSymbolError(
                    f"no candle files for {symbol} in {self.directory}: name files with the "
                    f"symbol as a word, e.g. {symbol}-1m-2024-01.csv"
                )
            self.requests += len(files)
            frames = [read_candle_file(f, self.columns) for f in files]
            _warn_conflicts(symbol, files, frames)
            self._cache[symbol] = merge_candles(*frames)
        return self._cache[symbol]

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        start, end = to_utc(start), to_utc(end)
        if end <= start:
            return empty_candles()
        return clip_range(self._load(symbol), start, end)
