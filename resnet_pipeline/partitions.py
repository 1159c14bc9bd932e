"""The partition schemes (docs/DESIGN.md): symbol x month up to labels, symbol after, and the
experiments' keys: a trial per experiment, symbol and variant, a fold month per month some
experiment runs (a fold is month x trial) and a report per experiment and symbol, which
experiment files add (``resnet_pipeline.experiments.registration``). The experiments' months are
dynamic, not the time window of the data: the UI lists only the months experiments run, in
calendar order (``registration.month_requests`` keeps that order, so a partition range is a
span of months).

The months run from ``RESNET_FIRST_MONTH`` to the last month the configured source can
have (``partition_months``). A new month of files appears after the code location is
reloaded (UI: Deployment, Reload).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd

from resnet_pipeline.partition_months import MonthSpan, last_month, month_span
from resnet_pipeline.settings import Settings

MONTH_DIM = "month"
SYMBOL_DIM = "symbol"
TRIAL_DIM = "trial"
EXPERIMENT_TRIALS = dg.DynamicPartitionsDefinition(name="experiment_trials")
EXPERIMENT_REPORTS = dg.DynamicPartitionsDefinition(name="experiment_reports")
EXPERIMENT_MONTHS = dg.DynamicPartitionsDefinition(name="experiment_months")
# month x trial: keys like ``2024-02-01|horizons:BTCUSDT:spec-default``
EXPERIMENT_FOLDS = dg.MultiPartitionsDefinition(
    {MONTH_DIM: EXPERIMENT_MONTHS, TRIAL_DIM: EXPERIMENT_TRIALS}
)


def fold_month_key(month: date) -> str:
    """A fold month's key, spelled as the data's month partitions spell it (``2024-02-01``),
    so the fold's month maps to the features' month by name."""
    return f"{month:%Y-%m-%d}"


def month_partitions(
    settings: Settings, today: date | None = None
) -> dg.MonthlyPartitionsDefinition:
    last, _ = last_month(settings, today)
    start = settings.first_month.strftime("%Y-%m-%d")
    if last == (today or datetime.now(UTC).date()).replace(day=1):
        return dg.MonthlyPartitionsDefinition(start_date=start, end_offset=1)
    end = (pd.Timestamp(last) + pd.offsets.MonthBegin(1)).strftime("%Y-%m-%d")
    return dg.MonthlyPartitionsDefinition(start_date=start, end_date=end)


def symbol_month_partitions(settings: Settings) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {
            MONTH_DIM: month_partitions(settings),
            SYMBOL_DIM: dg.StaticPartitionsDefinition(list(settings.symbols)),
        }
    )


def symbol_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(list(settings.symbols))


@dataclass(frozen=True)
class Partitions:
    """The partition schemes of one definitions build, made from its settings (nothing is read
    from the environment here: ``build_definitions(settings)`` passes them in)."""

    symbol_month: dg.MultiPartitionsDefinition
    symbol: dg.StaticPartitionsDefinition
    months: MonthSpan

    @classmethod
    def of(cls, settings: Settings, today: date | None = None) -> Partitions:
        return cls(
            symbol_month=symbol_month_partitions(settings),
            symbol=symbol_partitions(settings),
            months=month_span(settings, today),
        )


def split_key(key: str | dg.MultiPartitionKey) -> tuple[str, date]:
    """'2024-01-01|BTCUSDT' (or a MultiPartitionKey) -> ('BTCUSDT', date(2024, 1, 1)); the
    other dimension may be a trial ('2024-02-01|horizons:BTCUSDT:spec-default')."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = dict(key.keys_by_dimension)
        month = dims.pop(MONTH_DIM)
        (other,) = dims.values()
    else:
        month, other = str(key).split("|")
    return other, date.fromisoformat(month)
