"""What the month assets share: the raw_candles months around a partition, and checks that
read a stored month partition (so a bad file on disk is caught, not only a bad run)."""

from datetime import date, timedelta

import dagster as dg
import pandas as pd

from resnet_pipeline.commands import materialize
from resnet_pipeline.layout import Layout
from resnet_pipeline.partitions import MONTH_DIM, SYMBOL_DIM, split_key
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import read_parquet

# automation looks at the running month *and the one before*: labels of the closed month fill
# in when the new month's first candles arrive
RECENT = dg.AutomationCondition.in_latest_time_window(timedelta(days=62))


def months_mapping(start_offset: int, end_offset: int) -> dg.MultiPartitionMapping:
    """Same symbol, a range of months around this one (missing months are allowed)."""
    return dg.MultiPartitionMapping(
        {
            MONTH_DIM: dg.DimensionPartitionMapping(
                MONTH_DIM,
                dg.TimeWindowPartitionMapping(
                    start_offset=start_offset,
                    end_offset=end_offset,
                    allow_nonexistent_upstream_partitions=True,
                ),
            ),
            SYMBOL_DIM: dg.DimensionPartitionMapping(SYMBOL_DIM, dg.IdentityPartitionMapping()),
        }
    )


def raw_by_month(raw: dict[str, pd.DataFrame], key: str) -> tuple[str, pd.DataFrame]:
    symbol, month = split_key(key)
    own = raw.get(month.isoformat())
    if own is None:
        raise dg.Failure(
            description=f"raw_candles {key} is not materialized, so there is nothing to compute "
            f"for {symbol} {month:%Y-%m}. Materialize it first: "
            f"{materialize('raw_candles', key)}. (A backfill "
            "of month M also targets this asset for M+1, which fails like this until M+1's "
            "candles exist.)"
        )
    return month.isoformat(), own


def check_stored(layout: Layout, asset: str, partition_key: str, rule) -> dg.AssetCheckResult:
    """Apply ``rule`` to the stored partition (the body of the asset checks below)."""
    symbol, month = split_key(partition_key)
    path = layout.partition(asset, symbol, month)
    if not path.exists():
        return dg.AssetCheckResult(passed=False, description=f"nothing stored at {path}")
    problems = rule(read_parquet(path))
    return dg.AssetCheckResult(passed=not problems, description="; ".join(problems) or "ok")


def stored_partition_check(
    partitions_def: dg.PartitionsDefinition, asset: str, name: str, description: str, rule
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=name,
        description=description,
        blocking=True,
        partitions_def=partitions_def,
    )
    def _run(context: dg.AssetCheckExecutionContext, store: DataStore) -> dg.AssetCheckResult:
        return check_stored(store.layout, asset, context.partition_key, rule)

    return _run


def sorted_folds(context: dg.AssetExecutionContext) -> list[tuple[str, date]]:
    """(symbol or trial, month) of every partition of this run, oldest month first: a range of
    folds runs in one run (``BackfillPolicy.single_run()``), so a warm start finds the previous
    month's model of the same run."""
    return sorted((split_key(k) for k in context.partition_keys), key=lambda sm: (sm[0], sm[1]))
