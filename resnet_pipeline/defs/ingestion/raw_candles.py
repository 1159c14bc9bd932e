"""`raw_candles` (symbol x month) and its data-quality checks."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import pandas as pd
from pydantic import Field

from resnet_pipeline.defs.ingestion.ingestion_failures import (
    AsOfError,
    StoredPartitionError,
    build_source,
    fetch_month,
    parse_as_of,
    permanent_failure,
    read_stored,
)
from resnet_pipeline.defs.metadata import INGESTION, OWNERS, as_series, markdown_table, plain
from resnet_pipeline.layout import Layout
from resnet_pipeline.market.ingest import IngestResult
from resnet_pipeline.market.minute_ranges import MINUTE, GapSummary, gap_summary, month_bounds
from resnet_pipeline.market.quality_rules import QUALITY_RULES
from resnet_pipeline.partitions import Partitions, split_key
from resnet_pipeline.resources.candle_source import CandleSourceResource
from resnet_pipeline.resources.io_manager import MERGE_ON_WRITE, DataStore

ASSET = "raw_candles"
MAX_RETRIES_TAG = {"dagster/max_retries": "2"}
EXCHANGE_TAG = {"resnet_pipeline/resource": "exchange"}


def run_tags(source_kind: str) -> dict[str, str]:
    """Ingestion runs retry; runs that talk to the exchange share its concurrency limit."""
    return {**MAX_RETRIES_TAG, **(EXCHANGE_TAG if source_kind == "bybit" else {})}


class RawCandlesConfig(dg.Config):
    as_of: str | None = Field(
        default=None,
        description="Ingest as if it were this UTC time (ISO-8601), e.g. to reproduce a past "
        "run; default: now. Candles after it are not fetched.",
    )


def _preview(df: pd.DataFrame, n: int = 5) -> str:
    if df.empty:
        return "_no candles_"
    if len(df) <= 2 * n:
        return markdown_table(df)
    return markdown_table(df.head(n)) + "\n\n…\n\n" + markdown_table(df.tail(n))


def _gap_metadata(summary: GapSummary) -> dict[str, object]:
    """How complete a month's candles are: the asset's and its completeness check's figures."""
    return {
        "missing_minutes": summary.missing_minutes,
        "share_present": round(summary.share_present, 6),
        "gaps": summary.gaps,
        "gap_minutes": summary.gap_minutes,
        "longest_gap_minutes": summary.longest_gap_minutes,
        "gap_list": dg.MetadataValue.md(gap_table(summary)),
        "minutes_before_first_candle": summary.before_first_minutes,
        "minutes_after_last_candle": summary.after_last_minutes,
    }


def _metadata(result: IngestResult, source: str, path: object) -> dict[str, object]:
    candles, summary = result.candles, result.summary
    return as_series(
        {
            "dagster/row_count": len(candles),
            "first_timestamp": plain(candles["timestamp"].iloc[0]) if len(candles) else None,
            "last_timestamp": plain(candles["timestamp"].iloc[-1]) if len(candles) else None,
            "expected_minutes": summary.expected_minutes,
            "present_minutes": summary.present_minutes,
            **_gap_metadata(summary),
            "new_rows": result.new_rows,
            "month_closed": result.closed,
            "source": source,
            "requests": result.requests,
            "fetched_ranges": [
                f"{a.isoformat()} .. {b.isoformat()}" for a, b in result.fetched[:20]
            ]
            + ([f"... {len(result.fetched) - 20} more"] if len(result.fetched) > 20 else []),
            "notes": dg.MetadataValue.text("\n".join(result.notes) or "-"),
            "path": dg.MetadataValue.path(str(path)),
            "preview": dg.MetadataValue.md(_preview(candles)),
        }
    )


GAPS_SHOWN = 20


def gap_table(summary: GapSummary, limit: int = GAPS_SHOWN) -> str:
    """The gaps between candles as a table (the first ``limit``; the count covers all)."""
    if not summary.gap_ranges:
        return "_no gap between the first and the newest candle_"
    rows = pd.DataFrame(
        [
            {"start": plain(a), "end": plain(b), "minutes": int((b - a) / MINUTE)}
            for a, b in summary.gap_ranges[:limit]
        ]
    )
    more = len(summary.gap_ranges) - limit
    return markdown_table(rows) + (f"\n\n… and {more} more gaps" if more > 0 else "")


def raw_candles(
    context: dg.AssetExecutionContext,
    config: RawCandlesConfig,
    store: DataStore,
    candle_source: CandleSourceResource,
) -> dg.Output[pd.DataFrame]:
    symbol, month = split_key(context.partition_key)
    path = store.layout.partition(ASSET, symbol, month)
    now = pd.Timestamp.now(tz="UTC")
    try:
        stored = read_stored(path, context.partition_key)
        if config.as_of:  # the past only: candles after the real now do not exist yet
            now = min(now, parse_as_of(config.as_of))
    except (StoredPartitionError, AsOfError) as error:
        raise permanent_failure(context, str(error), source=candle_source.kind) from None
    source = build_source(context, candle_source)
    result = fetch_month(context, source, candle_source.kind, now, stored)
    for note in result.notes:
        context.log.info(f"{symbol} {month:%Y-%m}: {note}")
    return dg.Output(result.candles, metadata=_metadata(result, candle_source.kind, path))


# -- checks: they read the stored partition, so a bad file on disk is caught too ---------------

COMPLETENESS = "month_complete"


def _completeness(df: pd.DataFrame | None, month: date, now: pd.Timestamp) -> dg.AssetCheckResult:
    """A warning, never an error: an exchange outage is a fact the data reports. Every result
    carries WARN (the UI colours a partitioned check by its latest result's severity, so one
    ERROR-severity pass would paint the other months' warnings as failures)."""
    start, end = month_bounds(month)
    if now < end:
        return dg.AssetCheckResult(
            check_name=COMPLETENESS,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{month:%Y-%m} is the running month: completeness is assessed once "
            "it closes",
        )
    frame = (
        df
        if df is not None
        else pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]")})
    )
    summary = gap_summary(frame, start, end)
    missing = summary.missing_minutes
    detail = (
        f"{summary.gaps} gap(s) between candles ({summary.gap_minutes} min), "
        f"{summary.before_first_minutes} min before the first candle, "
        f"{summary.after_last_minutes} min after the newest; "
        f"{summary.share_present:.4%} of {summary.expected_minutes:,} minutes present"
    )
    return dg.AssetCheckResult(
        check_name=COMPLETENESS,
        passed=missing == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"warning: {missing:,} minutes missing in {month:%Y-%m} (exchange outage, not "
            f"filled): {detail}"
            if missing
            else f"{month:%Y-%m} complete: all {summary.expected_minutes:,} minutes present"
        ),
        metadata=_gap_metadata(summary),
    )


def evaluate_checks(
    df: pd.DataFrame | None, month: date, now: pd.Timestamp
) -> list[dg.AssetCheckResult]:
    """Every check of one stored partition (``df`` None: nothing is stored)."""
    results = []
    for rule in QUALITY_RULES:
        if df is None:
            results.append(
                dg.AssetCheckResult(
                    check_name=rule.name, passed=False, description="no stored partition"
                )
            )
            continue
        outcome = rule.check(df, month)
        results.append(
            dg.AssetCheckResult(
                check_name=rule.name,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=outcome.description,
                metadata={
                    "failing_rows": outcome.failing_rows,
                    "first_failure": outcome.example or "-",
                },
            )
        )
    results.append(_completeness(df, month, now))
    return results


def raw_candles_quality(
    context: dg.AssetCheckExecutionContext, store: DataStore
) -> Iterator[dg.AssetCheckResult]:
    yield from check_partition(store.layout, context.partition_key, pd.Timestamp.now(tz="UTC"))


def check_partition(
    layout: Layout, partition_key: str, now: pd.Timestamp
) -> list[dg.AssetCheckResult]:
    """The checks of one stored partition (the body of the asset check)."""
    symbol, month = split_key(partition_key)
    path = layout.partition(ASSET, symbol, month)
    try:
        stored = read_stored(path, partition_key)
    except StoredPartitionError as error:  # every check fails, saying which file and the fix
        return [
            dg.AssetCheckResult(
                check_name=name,
                passed=False,
                description=str(error),
                severity=dg.AssetCheckSeverity.WARN
                if name == COMPLETENESS
                else dg.AssetCheckSeverity.ERROR,
            )
            for name in [*(rule.name for rule in QUALITY_RULES), COMPLETENESS]
        ]
    return evaluate_checks(stored, month, now)


def build(partitions: Partitions) -> dg.Definitions:
    """raw_candles and its checks on this build's symbol x month partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol_month,
        group_name=INGESTION,
        kinds={"parquet"},
        owners=OWNERS,
        code_version="1",
        description="Closed 1-minute OHLCV candles of one symbol for one UTC month (SPEC 3). "
        "Incremental: only missing minutes are fetched; the forming candle is never stored. "
        f"Months end at {partitions.months.last:%Y-%m}: {partitions.months.last_reason}.",
        # Two runs of one month (a slow backfill, the schedule) may overlap: the IO manager merges
        # with what is stored at write time under the file's lock, so no stored candle is lost.
        metadata={MERGE_ON_WRITE: "timestamp"},
    )(raw_candles)
    checks = dg.multi_asset_check(
        name="raw_candles_quality",
        specs=[
            *(
                dg.AssetCheckSpec(
                    rule.name,
                    asset=ASSET,
                    description=rule.description,
                    blocking=True,
                    partitions_def=partitions.symbol_month,
                )
                for rule in QUALITY_RULES
            ),
            dg.AssetCheckSpec(
                COMPLETENESS,
                asset=ASSET,
                description="Closed months: the minutes without a candle (a warning: exchange "
                "outages are real gaps and are never filled). Per month over time: raw_candles' "
                "Plots tab, missing_minutes (x axis: the partition).",
                partitions_def=partitions.symbol_month,
            ),
        ],
        description="Data quality of one stored raw_candles partition (SPEC 3).",
    )(raw_candles_quality)
    return dg.Definitions(assets=[asset], asset_checks=[checks])
