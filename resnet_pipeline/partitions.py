"""The partition schemes (docs/DESIGN.md): symbol x month up to labels, symbol after, and the
experiments' dynamic keys (a trial per experiment, symbol and variant; a report per experiment
and symbol), which experiment files add (``resnet_pipeline.experiments``)."""

from __future__ import annotations

from datetime import date

import dagster as dg

from resnet_pipeline.settings import Settings

MONTH_DIM = "month"
SYMBOL_DIM = "symbol"
TRIAL_DIM = "trial"
EXPERIMENT_TRIALS = dg.DynamicPartitionsDefinition(name="experiment_trials")
EXPERIMENT_REPORTS = dg.DynamicPartitionsDefinition(name="experiment_reports")


def month_partitions(settings: Settings) -> dg.MonthlyPartitionsDefinition:
    """From RESNET_FIRST_MONTH to the running month (``end_offset=1``)."""
    return dg.MonthlyPartitionsDefinition(
        start_date=settings.first_month.strftime("%Y-%m-%d"), end_offset=1
    )


def symbol_month_partitions(settings: Settings) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {
            MONTH_DIM: month_partitions(settings),
            SYMBOL_DIM: dg.StaticPartitionsDefinition(list(settings.symbols)),
        }
    )


def experiment_fold_partitions(settings: Settings) -> dg.MultiPartitionsDefinition:
    """month x trial: keys like ``2024-02-01|horizons:BTCUSDT:spec-default``."""
    return dg.MultiPartitionsDefinition(
        {MONTH_DIM: month_partitions(settings), TRIAL_DIM: EXPERIMENT_TRIALS}
    )


def symbol_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(list(settings.symbols))


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
