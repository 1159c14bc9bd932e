"""The raw table of one candle export file: Parquet, or CSV read with pyarrow.

A CSV's separator is the first of tab, semicolon and comma present in its first line (a header
holds no commas when semicolons separate it, and exports whose decimals are commas separate
fields with semicolons or tabs). The first line is a header unless its first field is a number:
header-less files are exchange exports whose first six columns are open time, open, high,
low, close and volume (Binance and Bybit order). Of the later columns only Binance's order flow
is read: in its 12-column kline export, column 9 is the number of trades and column 10 the
taker-buy base volume (counting from 1); other layouts' later columns are not read.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pyarrow as pa
from pyarrow import csv as pacsv
from pyarrow import parquet as pq

from resnet_pipeline.market.schema import CANDLE_COLUMNS

SEPARATORS = ("\t", ";", ",")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Binance kline exports: open time, open, high, low, close, volume, close time, quote volume,
# number of trades, taker-buy base volume, taker-buy quote volume, ignore.
BINANCE_KLINE_FIELDS = 12
BINANCE_ORDER_FLOW = {8: "trades", 9: "taker_buy_volume"}  # 0-based field -> candle column
_NUMBER = re.compile(r"\d+(\.\d+)?")


def is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(PARQUET_SUFFIXES)


def first_line(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as handle:
        return handle.readline()


def csv_separator(line: str) -> str:
    """The first of ``SEPARATORS`` present in ``line`` (a comma when none is)."""
    return next((sep for sep in SEPARATORS if sep in line), ",")


def has_header(line: str, sep: str) -> bool:
    return not _NUMBER.fullmatch(line.split(sep, 1)[0].strip().strip('"').strip())


def headerless_fields(line: str, sep: str) -> dict[int, str]:
    """{0-based field: candle column} read from a header-less export whose first line is
    ``line``: the six candle columns, and Binance's order flow in its 12-field layout."""
    fields = dict(enumerate(CANDLE_COLUMNS))
    if len(line.rstrip("\r\n").split(sep)) == BINANCE_KLINE_FIELDS:
        fields |= BINANCE_ORDER_FLOW
    return fields


def _read_headerless(
    path: Path, parse: pacsv.ParseOptions, fields: dict[int, str], types: dict[str, pa.DataType]
) -> pa.Table:
    names = [f"f{i}" for i in fields]
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(autogenerate_column_names=True),
        parse_options=parse,
        convert_options=pacsv.ConvertOptions(include_columns=names, column_types=types),
    )
    return table.rename_columns(list(fields.values()))


def read_table(path: Path) -> tuple[pa.Table, str]:
    """The file's columns as found (header-less exports: the candle columns) and its separator
    (``","`` for Parquet)."""
    if is_parquet(path):
        return pq.read_table(path), ","
    line = first_line(path)
    sep = csv_separator(line)
    parse = pacsv.ParseOptions(delimiter=sep)
    if has_header(line, sep):
        return pacsv.read_csv(path, parse_options=parse), sep
    fields = headerless_fields(line, sep)
    if sep == ",":  # values are plain numbers: parsed as such, without inferring their type
        floats = {f"f{i}": pa.float64() for i in fields if i > 0}
        try:
            return _read_headerless(path, parse, fields, floats), sep
        except pa.ArrowInvalid:  # a value that is no number: read as found, and named later
            pass
    return _read_headerless(path, parse, fields, {}), sep
