"""The two partition schemes (docs/DESIGN.md): symbol x month up to labels, symbol after."""

from __future__ import annotations

from datetime import date

import dagster as dg

from resnet_pipeline.settings import Settings

MONTH_DIM = "month"
SYMBOL_DIM = "symbol"


def symbol_month_partitions(settings: Settings) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition(
        {
            MONTH_DIM: dg.MonthlyPartitionsDefinition(
                start_date=settings.first_month.strftime("%Y-%m-%d"), end_offset=1
            ),
            SYMBOL_DIM: dg.StaticPartitionsDefinition(list(settings.symbols)),
        }
    )


def symbol_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(list(settings.symbols))


def split_key(key: str | dg.MultiPartitionKey) -> tuple[str, date]:
    """'2024-01-01|BTCUSDT' (or a MultiPartitionKey) -> ('BTCUSDT', date(2024, 1, 1))."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        month, symbol = dims[MONTH_DIM], dims[SYMBOL_DIM]
    else:
        month, symbol = str(key).split("|")
    return symbol, date.fromisoformat(month)
