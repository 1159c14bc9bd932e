"""The period of time a candle file's name says it holds, so a fetch can skip other files.

Only the file name is read (not its folders). Runs of digits joined by ``-`` or ``_`` are
scanned for dates, left to right:

- a day: ``YYYY-MM-DD``, ``YYYY_MM_DD`` or ``YYYYMMDD`` (exactly eight digits);
- a month: ``YYYY-MM`` or ``YYYY_MM`` ending the digit group or followed by another date;
- years 2009..2099; every other run of digits (``1m``'s 1, epoch numbers, six-digit
  ``YYYYMM``, times of day) is not a date.

One date gives that UTC day or month (``BTCUSDT-1m-2024-01-15.csv``, ``BTCUSDT-1m-2024-01.csv``,
``BTCUSDT_20240115.csv.gz``); two dates in order give the span from the first to the end of the
second (``BTCUSDT_2024-01-01_2024-03-31.parquet``). No date, more than two, two out of order or
a digit group that looks like a date but is none (``2024-13``, ``2024-02-30``): the name says
nothing, and the file is placed by its content instead.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

Period = tuple[pd.Timestamp, pd.Timestamp]  # [start, end) in UTC

FIRST_YEAR, LAST_YEAR = 2009, 2099  # the years candle files can hold (epoch units rest on it)
_DAY = pd.Timedelta(days=1)
_DIGIT_GROUPS = re.compile(r"[0-9]+(?:[-_][0-9]+)*")


class _NotADate(ValueError):
    """Digits shaped like a date that name no calendar day or month."""


def _day(year: str, month: str, day: str) -> Period:
    try:
        start = pd.Timestamp(date(int(year), int(month), int(day)), tz="UTC")
    except ValueError:
        raise _NotADate from None
    return start, start + _DAY


def _month(year: str, month: str) -> Period:
    if not 1 <= int(month) <= 12:
        raise _NotADate
    start = pd.Timestamp(int(year), int(month), 1, tz="UTC")
    return start, start + pd.offsets.MonthBegin(1)


def _is_year(part: str) -> bool:
    return len(part) == 4 and FIRST_YEAR <= int(part) <= LAST_YEAR


def _starts_a_date(parts: list[str]) -> bool:
    return bool(parts) and (_is_year(parts[0]) or (len(parts[0]) == 8 and _is_year(parts[0][:4])))


def _dates_in(parts: list[str]) -> list[Period]:
    """Dates in one group of digit runs (``["1", "2024", "01", "15"]``), left to right."""
    found: list[Period] = []
    i = 0
    while i < len(parts):
        part, after = parts[i], parts[i + 1 : i + 3]
        if len(part) == 8 and _is_year(part[:4]):
            found.append(_day(part[:4], part[4:6], part[6:]))
            i += 1
        elif _is_year(part) and len(after) == 2 and all(len(p) == 2 for p in after):
            found.append(_day(part, *after))
            i += 3
        elif (
            _is_year(part)
            and after
            and len(after[0]) == 2
            and (len(parts) == i + 2 or _starts_a_date(parts[i + 2 :]))
        ):
            found.append(_month(part, after[0]))
            i += 2
        else:
            i += 1
    return found


def named_period(name: str) -> Period | None:
    """The UTC period a file name dates (see the module doc), None when it says nothing."""
    periods: list[Period] = []
    try:
        for group in _DIGIT_GROUPS.findall(name):
            periods += _dates_in(re.split(r"[-_]", group))
    except _NotADate:
        return None
    if len(periods) == 1:
        return periods[0]
    if len(periods) == 2 and periods[0][0] <= periods[1][0]:
        return periods[0][0], periods[1][1]
    return None
