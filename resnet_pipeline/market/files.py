"""Candles from a directory of CSV or Parquet files, as exchanges export them.

Naming convention: a file belongs to a symbol when the symbol appears as a whole word in
its path relative to the directory (words are split on anything that is not a letter or a
digit, case-insensitive): ``BTCUSDT-1m-2024-01.csv``, ``bybit_BTCUSDT_1m.parquet`` and
``BTCUSDT/2024.csv`` are BTCUSDT's; ``XBTCUSDT.csv`` is not. Files may overlap: rows are
merged and de-duplicated by timestamp, the file sorting last by name winning.

Columns: ``open, high, low, close, volume`` and a timestamp column named one of
``timestamp, open_time, time, datetime, date, ts, start, starttime`` (case-insensitive),
holding epoch milliseconds (seconds and microseconds are recognised by magnitude) or
ISO-8601 strings (naive ones are UTC). Header-less CSVs in the Binance/Bybit export order
(open time, open, high, low, close, volume, ...) are read too. Timestamps are candle open
times on the 1-minute grid.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from resnet_pipeline.market.schema import (
    TIMESTAMP_DTYPE,
    VALUE_COLUMNS,
    clip_range,
    empty_candles,
    merge_candles,
    to_utc,
)
from resnet_pipeline.market.source import UnknownSymbolError

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
TIME_COLUMNS = ("timestamp", "open_time", "time", "datetime", "date", "ts", "start", "starttime")


class CandleFileError(ValueError):
    """A file in the candle directory cannot be read as 1-minute candles."""


def _words(path: Path) -> set[str]:
    return {w for w in re.split(r"[^A-Za-z0-9]+", str(path).upper()) if w}


def parse_timestamps(values: pd.Series, where: str) -> pd.Series:
    """Epoch numbers (s, ms or us by magnitude) or ISO-8601 strings -> UTC timestamps."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        ts = pd.to_datetime(values, utc=True)
    elif pd.api.types.is_numeric_dtype(values.dtype):
        nums = values.to_numpy(dtype="float64")
        top = np.nanmax(np.abs(nums)) if len(nums) else 0.0
        unit = "s" if top < 1e11 else "ms" if top < 1e14 else "us"
        ts = pd.to_datetime(nums.astype("int64"), unit=unit, utc=True)
    else:
        text = values.astype("string").str.strip()
        if text.str.fullmatch(r"\d+").all():
            return parse_timestamps(text.astype("int64"), where)
        try:
            ts = pd.to_datetime(text, utc=True, format="ISO8601")
        except (ValueError, TypeError) as error:
            raise CandleFileError(
                f"{where}: timestamps are neither epoch numbers nor ISO-8601 ({error})"
            ) from error
    return pd.Series(ts).astype(TIMESTAMP_DTYPE).reset_index(drop=True)


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


def read_candle_file(path: str | Path) -> pd.DataFrame:
    """One file as a candle frame (sorted, not yet de-duplicated)."""
    path = Path(path)
    raw = _read_raw(path)
    by_lower = {str(c).strip().lower(): c for c in raw.columns}
    time_col = next((by_lower[c] for c in TIME_COLUMNS if c in by_lower), None)
    missing = [c for c in VALUE_COLUMNS if c not in by_lower]
    if time_col is None or missing:
        raise CandleFileError(
            f"{path}: needs a timestamp column (one of {', '.join(TIME_COLUMNS)}) and columns "
            f"{', '.join(VALUE_COLUMNS)}; missing {missing or ['timestamp']}, "
            f"found {list(raw.columns)}"
        )
    frame = pd.DataFrame({"timestamp": parse_timestamps(raw[time_col], str(path))})
    for col in VALUE_COLUMNS:
        frame[col] = pd.to_numeric(raw[by_lower[col]], errors="coerce").astype("float64").to_numpy()
    off_grid = frame["timestamp"].astype("int64") % 60_000_000_000 != 0
    if off_grid.any():
        raise CandleFileError(
            f"{path}: {int(off_grid.sum())} timestamps are not on the 1-minute grid "
            f"(first {frame['timestamp'][off_grid].iloc[0]}): export 1-minute candles"
        )
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


class FilesSource:
    """All candle files of a directory, read once per symbol and sliced per request."""

    name = "files"
    page_minutes: int | None = None

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(
                f"candle files directory {str(self.directory)!r} does not exist: "
                "set RESNET_FILES_DIR to a directory of CSV/Parquet exports"
            )
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
            self._cache[symbol] = merge_candles(*(read_candle_file(f) for f in files))
        return self._cache[symbol]

    def fetch(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        start, end = to_utc(start), to_utc(end)
        if end <= start:
            return empty_candles()
        return clip_range(self._load(symbol), start, end)
