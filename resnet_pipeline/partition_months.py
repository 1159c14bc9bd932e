"""Which months the month partitions span, without Dagster (``experiments check`` reads it
in a light process; ``partitions`` builds the partitions from it).

The months run from ``RESNET_FIRST_MONTH`` to the last month the configured source can
have: the running month for Bybit and the synthetic market, the newest file's month for the
files source (read from the file names' dates and the files index, never by reading a file:
the definitions load reads only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd

from resnet_pipeline.market.file_periods import named_period
from resnet_pipeline.market.files import CandleFileError, FilesSource
from resnet_pipeline.market.files_index import FileStamp
from resnet_pipeline.settings import Settings, SettingsError


@dataclass(frozen=True)
class MonthSpan:
    """The first and last month partitions, and why the last is the last."""

    first: date
    last: date
    last_reason: str


def _month(ns: int) -> date:
    return pd.Timestamp(ns, tz="UTC").date().replace(day=1)


def files_last_month(settings: Settings) -> date | None:
    """The month of the newest candle any symbol's files hold, from dated names and the
    index of undated files; None when it cannot be known without reading a file (an undated
    file not indexed yet, no files, no directory)."""
    try:
        source = FilesSource(str(settings.files_dir), dict(settings.files_columns))
    except (FileNotFoundError, CandleFileError):
        return None
    newest = None
    for symbol in settings.symbols:
        for path in source.files_for(symbol):
            period = named_period(path.name)
            if period is not None:
                last = period[1].value - 1
            else:
                entry = source.index.get(path, FileStamp.of(path.stat()))
                if entry is None or entry.last_ns is None:
                    return None
                last = entry.last_ns
            newest = last if newest is None else max(newest, last)
    return None if newest is None else _month(newest)


def last_month(settings: Settings, today: date | None = None) -> tuple[date, str]:
    """The last month partition and why it is the last."""
    running = (today or datetime.now(UTC).date()).replace(day=1)
    if settings.source != "files":
        return running, f"the running month ({settings.source} source)"
    newest = files_last_month(settings)
    if newest is None or newest >= running:
        return running, "the running month (the newest candle file's month is not known)"
    if newest < settings.first_month:
        raise SettingsError(
            f"RESNET_FIRST_MONTH={settings.first_month:%Y-%m} is after the newest month of "
            f"the candle files in RESNET_FILES_DIR ({newest:%Y-%m}): there would be no month "
            f"partition. Set RESNET_FIRST_MONTH={newest:%Y-%m} or earlier, or add newer files"
        )
    return newest, f"the newest month of the candle files in {settings.files_dir}"


def month_span(settings: Settings, today: date | None = None) -> MonthSpan:
    """The months the month partitions of ``settings`` run over."""
    last, reason = last_month(settings, today)
    return MonthSpan(settings.first_month, last, reason)
