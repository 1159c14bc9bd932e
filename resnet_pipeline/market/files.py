"""Candles from a directory of CSV or Parquet files, as exchanges export them.

Naming convention: a file belongs to a symbol when the symbol appears as a whole word in
its path relative to the directory (words are split on anything that is not a letter or a
digit, case-insensitive): ``BTCUSDT-1m-2024-01.csv``, ``bybit_BTCUSDT_1m.parquet`` and
``BTCUSDT/2024.csv`` are BTCUSDT's; ``XBTCUSDT.csv`` is not. A date in the file name
(``file_periods``) says which UTC day or month the file holds; a fetch reads only the files
whose name or recorded time range (``files_index``) overlaps it.

Columns are matched by name, case-insensitive, spaces and dashes read as ``_``: the
timestamp is the first of ``TIME_COLUMNS`` present, each value column the first of its
``VALUE_ALIASES``; a column mapping (``timestamp=OpenTime,open=o``) names any other column.
Timestamps are candle open times on the 1-minute grid: ISO-8601 strings (naive ones are
UTC) or epoch numbers whose unit (s, ms, us, ns) follows from their magnitude, the ranges
for dates 2009..2099 being disjoint. CSVs are separated by commas, semicolons or tabs
(``file_tables``); in semicolon and tab separated files a decimal comma (``1,5``) is read as
a decimal point. Header-less CSVs in the Binance/Bybit export order (open time, open, high,
low, close, volume, ...) are read too.

Order flow (taker-buy base volume, number of trades) is read where a file has it: columns
named as in ``ORDER_FLOW_ALIASES`` (Binance's ``taker_buy_volume``, ``count``, ...), a
mapping (``trades=n``), or fields 9 and 10 of a header-less 12-field Binance kline export. A
fetch returns those columns when any fetched row has them (rows of files without them hold
NaN); empty values there are nulls, not errors.

Duplicates: a minute present in several files (or twice in one) keeps the row of the file
sorting last by path, and within one file the last row. Identical repeats are silent;
repeats whose values differ (among the fetched minutes) raise a ``ConflictingCandlesWarning``
with counts.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from resnet_pipeline.market.file_periods import FIRST_YEAR, LAST_YEAR, Period, named_period
from resnet_pipeline.market.file_tables import PARQUET_SUFFIXES, is_parquet, read_table
from resnet_pipeline.market.files_index import FileRange, FilesIndex, FileStamp, default_index_path
from resnet_pipeline.market.merge import merge_candles
from resnet_pipeline.market.minute_ranges import MINUTE_NS, to_utc
from resnet_pipeline.market.schema import (
    ORDER_FLOW_COLUMNS,
    TIMESTAMP_DTYPE,
    VALUE_COLUMNS,
    empty_candles,
)
from resnet_pipeline.market.source import UnknownSymbolError

SUFFIXES = (".csv", ".csv.gz", *PARQUET_SUFFIXES)
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
ORDER_FLOW_ALIASES: dict[str, tuple[str, ...]] = {
    "taker_buy_volume": (
        "taker_buy_volume",
        "taker_buy_base_volume",
        "taker_buy_base_asset_volume",
        "taker_buy_base",
    ),
    "trades": ("trades", "number_of_trades", "num_trades", "trade_count", "count"),
}
# Every value a file row yields, in this order: the candle's values, then its order flow.
FILE_VALUES = (*VALUE_COLUMNS, *ORDER_FLOW_COLUMNS)
REQUIRED = ("timestamp", *VALUE_COLUMNS)
MAPPABLE = (*REQUIRED, *ORDER_FLOW_COLUMNS)
MAPPING_HINT = "timestamp=OpenTime,open=o,high=h,low=l,close=c,volume=v"
# Epoch seconds of the first and after the last candle year: times 10**3k they bound s, ms,
# us and ns.
_FIRST_S = int(pd.Timestamp(FIRST_YEAR, 1, 1, tz="UTC").timestamp())
_END_S = int(pd.Timestamp(LAST_YEAR + 1, 1, 1, tz="UTC").timestamp())
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


def _epoch_ns(ints: np.ndarray, where: str) -> np.ndarray:
    """Epoch numbers of one unit (found from their magnitude) as epoch nanoseconds."""
    if not len(ints):
        return ints.astype("int64")
    low, high = int(ints.min()), int(ints.max())
    unit = epoch_unit(low, high)
    if unit is None:
        raise CandleFileError(
            f"{where}: epoch timestamps {low}..{high} are not seconds, milliseconds, "
            f"microseconds or nanoseconds of dates in {FIRST_YEAR}..{LAST_YEAR} (one unit per "
            "column): export candle open times as epoch milliseconds or ISO-8601"
        )
    return ints.astype("int64") * (10**9 // dict(EPOCH_UNITS)[unit])  # exact, unlike floats


def _utc_times(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.astype("int64").view("datetime64[ns]"), tz="UTC")


def _epoch_timestamps(values: pd.Series, where: str) -> pd.DatetimeIndex:
    if values.isna().any():
        raise CandleFileError(f"{where}: {int(values.isna().sum())} empty timestamps")
    if pd.api.types.is_integer_dtype(values.dtype):
        ints = values.to_numpy(dtype="int64")
    else:  # floats: exact below 2**53, so for s, ms and us
        ints = np.rint(values.to_numpy(dtype="float64")).astype("int64")
    return _utc_times(_epoch_ns(ints, where))


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


def _read(path: Path) -> tuple[pa.Table, str]:
    try:
        return read_table(path)
    except Exception as error:  # every reader error, whatever the library raises
        raise CandleFileError(
            f"{path}: cannot be read as {'Parquet' if is_parquet(path) else 'CSV'}"
            f" ({type(error).__name__}: {error}): re-export the file or move it out of the "
            "candle directory (RESNET_FILES_DIR)"
        ) from None


def _columns(names: list[str], path: Path, mapping: Mapping[str, str]) -> dict[str, int]:
    """{schema column: the file's column number}, from the mapping first, then known names;
    order-flow columns only where the file has them."""
    by_norm: dict[str, int] = {}
    for number, name in enumerate(names):
        by_norm.setdefault(_norm(name), number)
    found: dict[str, int] = {}
    for key in MAPPABLE:
        if key in mapping:
            wanted = mapping[key]
            hit = names.index(wanted) if wanted in names else by_norm.get(_norm(wanted))
            if hit is None:
                raise CandleFileError(
                    f"{path}: the column mapping names {wanted!r} for {key}, but the file has "
                    f"{names}: fix the mapping (RESNET_FILES_COLUMNS)"
                )
            found[key] = hit
            continue
        aliases = (
            TIME_COLUMNS
            if key == "timestamp"
            else VALUE_ALIASES.get(key) or ORDER_FLOW_ALIASES[key]
        )
        hit = next((by_norm[n] for n in aliases if n in by_norm), None)
        if hit is not None:
            found[key] = hit
    missing = [k for k in REQUIRED if k not in found]
    if missing:
        raise CandleFileError(
            f"{path}: no column for {', '.join(missing)} among {names}; the "
            f"timestamp is read from one of {', '.join(TIME_COLUMNS)}, values from "
            f"{', '.join(VALUE_COLUMNS)}: name the columns with RESNET_FILES_COLUMNS, e.g. "
            f"{MAPPING_HINT}"
        )
    return found


def _plain(column: pa.ChunkedArray) -> bool:
    """Numbers without empty values: read straight into numpy."""
    kind = column.type
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and column.null_count == 0


def _time_ns(column: pa.ChunkedArray, where: str) -> np.ndarray:
    if pa.types.is_integer(column.type) and column.null_count == 0:
        return _epoch_ns(column.to_numpy(), where)
    return parse_timestamps(column.to_pandas(), where).astype("int64").to_numpy()


def _decimal_commas(column: pd.Series) -> pd.Series:
    """``1,5`` -> ``1.5``; a value with both marks (``1.234,5``) becomes empty (refused)."""
    text = column.astype("string").str.strip()
    both = text.str.contains(".", regex=False) & text.str.contains(",", regex=False)
    return text.mask(both.fillna(False)).str.replace(",", ".", regex=False)


def _numbers(
    column: pa.ChunkedArray, path: Path, name: str, sep: str, nullable: bool = False
) -> np.ndarray:
    """The column as float64; an empty value is refused unless ``nullable`` (then NaN)."""
    if _plain(column):
        return column.to_numpy().astype("float64")
    given = column.to_pandas()
    decimal_commas = sep != "," and not pd.api.types.is_numeric_dtype(given.dtype)
    readable = _decimal_commas(given) if decimal_commas else given
    values = pd.to_numeric(readable, errors="coerce").astype("float64")
    bad = values.isna().to_numpy()
    if nullable:
        bad = bad & given.astype("string").str.strip().fillna("").ne("").to_numpy(bool)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        value = given.iloc[first]
        shown = repr(value) if isinstance(value, str) else "empty"
        marks = (
            "; decimals take a point or a comma, never a thousands separator" if sep != "," else ""
        )
        raise CandleFileError(
            f"{path}: {int(bad.sum())} {name} values are empty or not numbers (first at data "
            f"row {first + 1}: {shown}{marks}): fix or re-export the file"
        )
    return values.to_numpy()


def read_candle_arrays(
    path: Path, columns: Mapping[str, str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One file as (open times in epoch ns, rows of ``FILE_VALUES``, order flow NaN where the
    file has none), sorted by time with repeated minutes kept in file order:
    ``read_candle_file`` without building a frame."""
    table, sep = _read(path)
    found = _columns(table.column_names, path, columns or {})
    ns = _time_ns(table.column(found["timestamp"]), str(path))
    off_grid = ns % MINUTE_NS != 0
    if off_grid.any():
        first = pd.Timestamp(int(ns[off_grid][0]), tz="UTC")
        raise CandleFileError(
            f"{path}: {int(off_grid.sum())} timestamps are not on the 1-minute grid "
            f"(first {first}): export 1-minute candles"
        )
    values = np.column_stack(
        [_numbers(table.column(found[col]), path, col, sep) for col in VALUE_COLUMNS]
        + [
            _numbers(table.column(found[col]), path, col, sep, nullable=True)
            if col in found
            else np.full(len(ns), np.nan)
            for col in ORDER_FLOW_COLUMNS
        ]
    )
    if (np.diff(ns) < 0).any():
        order = np.argsort(ns, kind="stable")
        ns, values = ns[order], values[order]
    return ns, values


def candle_frame(ns: np.ndarray, values: np.ndarray, **extra: np.ndarray) -> pd.DataFrame:
    """Open times (epoch ns) and rows of ``FILE_VALUES`` as a frame in the candle schema, with
    each order-flow column that any row holds."""
    data: dict[str, object] = {"timestamp": _utc_times(ns)}
    data.update(
        {
            col: values[:, i]
            for i, col in enumerate(FILE_VALUES)
            if col in VALUE_COLUMNS or not np.isnan(values[:, i]).all()
        }
    )
    return pd.DataFrame(data | extra)


def read_candle_file(path: str | Path, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One file as a candle frame (sorted by time, repeated minutes kept in file order)."""
    return candle_frame(*read_candle_arrays(Path(path), columns))


def _conflicts_in(stacked: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``stacked`` (frames in order, with ``file``) that lose to a differing row."""
    ns = stacked["timestamp"].astype("int64").to_numpy()
    order = np.argsort(ns, kind="stable")  # by minute, then file order, then row order
    minutes = ns[order]
    starts = np.r_[True, minutes[1:] != minutes[:-1]]
    last_of_group = np.flatnonzero(np.r_[starts[1:], True])
    compared = [c for c in FILE_VALUES if c in stacked.columns]
    values = stacked[compared].to_numpy(dtype="float64")[order]
    kept = values[last_of_group[np.cumsum(starts) - 1]]
    same = np.isclose(values, kept, rtol=_SAME_VALUE_RTOL, atol=0.0, equal_nan=True).all(axis=1)
    return stacked.iloc[order[~same]]


def conflicting_minutes(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of repeated minutes whose values differ from the kept (last) row, with ``file``.

    ``file`` is the frame's index in ``frames``; identical repeats are not returned.
    """
    parts = [f.assign(file=i) for i, f in enumerate(frames) if len(f)]
    if not parts:
        return pd.DataFrame(columns=[*frames[0].columns, "file"] if frames else ["file"])
    return _conflicts_in(pd.concat(parts, ignore_index=True))


def _warn_conflicts(symbol: str, files: list[Path], stacked: pd.DataFrame) -> None:
    conflicts = _conflicts_in(stacked)
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


def _check_named_period(path: Path, ns: np.ndarray, period: Period) -> None:
    """A dated name is a promise: the file is skipped for every other period."""
    if not len(ns) or (period[0].value <= ns[0] and ns[-1] < period[1].value):
        return
    first, last = (pd.Timestamp(int(v), tz="UTC") for v in (ns[0], ns[-1]))
    raise CandleFileError(
        f"{path}: its name dates it {period[0]:%Y-%m-%d %H:%M} to {period[1]:%Y-%m-%d %H:%M} "
        f"UTC but it holds candles from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}: "
        "the files source reads a dated file only for the period in its name (YYYY-MM-DD, "
        "YYYYMMDD or YYYY-MM as UTC days and months); export UTC days or months, or rename "
        "the file without a date so that it is placed by its content"
    )


class FilesSource:
    """Candle files of a directory; a fetch reads only the files that can hold its minutes.

    A dated file (``file_periods``) is read when its name's period overlaps [start, end), and
    refused when it holds minutes outside that period (so skipping it elsewhere loses none).
    An undated file is read when its recorded time range (``files_index``) overlaps, or when
    none is recorded for this version of the file; it then stays in memory for the source's
    life, so each is read once per source. ``files_read`` lists every file read, in order;
    ``requests`` (the ingestion metadata's cost figure) is its length.
    """

    name = "files"
    page_minutes: int | None = None

    def __init__(
        self,
        directory: str | Path,
        columns: Mapping[str, str] | str | None = None,
        index_path: str | Path | None = None,
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
        where = (
            default_index_path(self.directory, self.columns) if index_path is None else index_path
        )
        self.index = FilesIndex(Path(where), self.directory)
        self.files_read: list[Path] = []
        self._undated: dict[Path, tuple[FileStamp, tuple[np.ndarray, np.ndarray]]] = {}

    @property
    def requests(self) -> int:
        return len(self.files_read)

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

    def _read_dated(self, path: Path, period: Period) -> tuple[np.ndarray, np.ndarray]:
        ns, values = read_candle_arrays(path, self.columns)
        self.files_read.append(path)
        _check_named_period(path, ns, period)
        return ns, values

    def _read_undated(self, path: Path, stamp: FileStamp) -> tuple[np.ndarray, np.ndarray]:
        cached = self._undated.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        ns, values = read_candle_arrays(path, self.columns)
        self.files_read.append(path)
        self._undated[path] = (stamp, (ns, values))
        first, last = (int(ns[0]), int(ns[-1])) if len(ns) else (None, None)
        self.index.put(path, FileRange(stamp, first, last))
        return ns, values

    def _holding(self, path: Path, span: Period) -> tuple[np.ndarray, np.ndarray] | None:
        """The file's candles when it may hold minutes of ``span``, else None (not read)."""
        period = named_period(path.name)
        if period is not None:
            overlaps = period[0] < span[1] and period[1] > span[0]
            return self._read_dated(path, period) if overlaps else None
        stamp = FileStamp.of(path.stat())
        known = self.index.get(path, stamp)
        if known is not None and not known.overlaps(span[0].value, span[1].value):
            return None
        return self._read_undated(path, stamp)

    def _stacked(
        self, files: list[Path], span: Period
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open times, values and file numbers of the rows in ``span``, in file order."""
        times, rows, numbers = [np.empty(0, "int64")], [np.empty((0, len(FILE_VALUES)))], []
        for number, path in enumerate(files):
            held = self._holding(path, span)
            if held is not None:
                times.append(held[0])
                rows.append(held[1])
                numbers.append(np.full(len(held[0]), number))
        ns, values = np.concatenate(times), np.concatenate(rows)
        file = np.concatenate([np.empty(0, "int64"), *numbers])
        inside = (ns >= span[0].value) & (ns < span[1].value)
        return ns[inside], values[inside], file[inside]

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        start, end = to_utc(start), to_utc(end)
        if end <= start:
            return empty_candles()
        files = self.files_for(symbol)
        if not files:
            raise UnknownSymbolError(
                f"no candle files for {symbol} in {self.directory}: name files with the "
                f"symbol as a word, e.g. {symbol}-1m-2024-01.csv"
            )
        ns, values, file = self._stacked(files, (start, end))
        self.index.save()
        if (np.diff(ns) > 0).all():  # sorted, no minute twice: merging would change nothing
            return candle_frame(ns, values)
        stacked = candle_frame(ns, values, file=file)
        _warn_conflicts(symbol, files, stacked)
        return merge_candles(stacked)
