"""`raw_candles` (symbol x month), its data-quality checks, the ingestion job and schedule."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import pandas as pd
from pydantic import Field

from resnet_pipeline.assets.common import (
    FEATURES,
    INGESTION,
    OWNERS,
    SETTINGS,
    SYMBOL_MONTH,
    markdown_table,
    plain,
)
from resnet_pipeline.market.ingest import FutureMonthError, IngestResult, ingest_month
from resnet_pipeline.market.schema import (
    CandleValidationError,
    check_no_nan,
    check_ohlc,
    check_positive_prices,
    check_timestamps,
    check_volume,
    gap_summary,
    month_bounds,
    to_utc,
)
from resnet_pipeline.market.source import SourceError
from resnet_pipeline.partitions import month_key, split_key
from resnet_pipeline.resources.candle_source import CandleSourceResource
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import partition_path, read_parquet

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


def _metadata(result: IngestResult, source: str, path: object) -> dict[str, object]:
    candles, summary = result.candles, result.summary
    return {
        "dagster/row_count": len(candles),
        "first_timestamp": plain(candles["timestamp"].iloc[0]) if len(candles) else None,
        "last_timestamp": plain(candles["timestamp"].iloc[-1]) if len(candles) else None,
        "expected_minutes": summary.expected_minutes,
        "present_minutes": summary.present_minutes,
        "share_present": round(summary.share_present, 6),
        "gaps": summary.gaps,
        "longest_gap_minutes": summary.longest_gap_minutes,
        "new_rows": result.new_rows,
        "month_closed": result.closed,
        "source": source,
        "requests": result.requests,
        "fetched_ranges": [f"{a.isoformat()} .. {b.isoformat()}" for a, b in result.fetched[:20]]
        + ([f"... {len(result.fetched) - 20} more"] if len(result.fetched) > 20 else []),
        "notes": dg.MetadataValue.text("\n".join(result.notes) or "-"),
        "path": dg.MetadataValue.path(str(path)),
        "preview": dg.MetadataValue.md(_preview(candles)),
    }


@dg.asset(
    partitions_def=SYMBOL_MONTH,
    group_name=INGESTION,
    kinds={"parquet"},
    owners=OWNERS,
    code_version="1",
    description="Closed 1-minute OHLCV candles of one symbol for one UTC month (SPEC 3). "
    "Incremental: only missing minutes are fetched; the forming candle is never stored.",
)
def raw_candles(
    context: dg.AssetExecutionContext,
    config: RawCandlesConfig,
    store: DataStore,
    candle_source: CandleSourceResource,
) -> dg.Output[pd.DataFrame]:
    symbol, month = split_key(context.partition_key)
    path = partition_path(store.path, ASSET, symbol, month)
    stored = read_parquet(path) if path.exists() else None
    now = pd.Timestamp.now(tz="UTC")
    if config.as_of:  # the past only: candles after the real now do not exist yet
        now = min(now, to_utc(config.as_of))
    source = candle_source.build()
    try:
        result = ingest_month(source, symbol, month, now, stored)
    except CandleValidationError as error:
        raise dg.Failure(
            description=f"{symbol} {month:%Y-%m}: {error}. Stored file {path} left unchanged; "
            "if the stored partition is the invalid part, delete it and re-materialize.",
            metadata={"requests": source.requests, "source": candle_source.kind},
        ) from error
    except (FutureMonthError, SourceError) as error:
        raise dg.Failure(
            description=f"{symbol} {month:%Y-%m}: {error}",
            metadata={"requests": source.requests, "source": candle_source.kind},
        ) from error
    for note in result.notes:
        context.log.info(f"{symbol} {month:%Y-%m}: {note}")
    return dg.Output(result.candles, metadata=_metadata(result, candle_source.kind, path))


# -- checks: they read the stored partition, so a bad file on disk is caught too ---------------

BLOCKING_RULES = {
    "timestamps_valid": (
        "Unique, sorted timestamps on the 1-minute grid, all inside the partition's month.",
        check_timestamps,
    ),
    "ohlc_consistent": ("low <= open, close <= high.", lambda df, _m: check_ohlc(df)),
    "prices_positive": ("Every price is > 0.", lambda df, _m: check_positive_prices(df)),
    "volume_non_negative": ("Volume is >= 0.", lambda df, _m: check_volume(df)),
    "no_nan": ("No missing value in any column.", lambda df, _m: check_no_nan(df)),
}
COMPLETENESS = "month_complete"


def _completeness(df: pd.DataFrame | None, month: date, now: pd.Timestamp) -> dg.AssetCheckResult:
    start, end = month_bounds(month)
    if now < end:
        return dg.AssetCheckResult(
            check_name=COMPLETENESS,
            passed=True,
            description="running month: completeness is assessed once it closes",
        )
    frame = (
        df
        if df is not None
        else pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]")})
    )
    summary = gap_summary(frame, start, end)
    return dg.AssetCheckResult(
        check_name=COMPLETENESS,
        passed=summary.missing_minutes == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{summary.share_present:.4%} of {summary.expected_minutes} minutes present",
        metadata={
            "share_present": round(summary.share_present, 6),
            "missing_minutes": summary.missing_minutes,
            "gaps": summary.gaps,
            "longest_gap_minutes": summary.longest_gap_minutes,
        },
    )


def evaluate_checks(
    df: pd.DataFrame | None, month: date, now: pd.Timestamp
) -> list[dg.AssetCheckResult]:
    """Every check of one stored partition (``df`` None: nothing is stored)."""
    results = []
    for name, (_, rule) in BLOCKING_RULES.items():
        if df is None:
            results.append(
                dg.AssetCheckResult(
                    check_name=name, passed=False, description="no stored partition"
                )
            )
            continue
        outcome = rule(df, month)
        results.append(
            dg.AssetCheckResult(
                check_name=name,
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


@dg.multi_asset_check(
    name="raw_candles_quality",
    specs=[
        *(
            dg.AssetCheckSpec(
                name,
                asset=ASSET,
                description=text,
                blocking=True,
                partitions_def=SYMBOL_MONTH,
            )
            for name, (text, _) in BLOCKING_RULES.items()
        ),
        dg.AssetCheckSpec(
            COMPLETENESS,
            asset=ASSET,
            description="Closed months: share of the month's minutes that have a candle (a "
            "warning: exchange outages are real gaps and are never filled).",
            partitions_def=SYMBOL_MONTH,
        ),
    ],
    description="Data quality of one stored raw_candles partition (SPEC 3).",
)
def raw_candles_quality(
    context: dg.AssetCheckExecutionContext, store: DataStore
) -> Iterator[dg.AssetCheckResult]:
    yield from check_partition(store.path, context.partition_key, pd.Timestamp.now(tz="UTC"))


def check_partition(
    root: object, partition_key: str, now: pd.Timestamp
) -> list[dg.AssetCheckResult]:
    """The checks of one stored partition, read from ``root`` (the body of the asset check)."""
    symbol, month = split_key(partition_key)
    path = partition_path(root, ASSET, symbol, month)
    return evaluate_checks(read_parquet(path) if path.exists() else None, month, now)


# -- job and schedule --------------------------------------------------------------------------

# raw_candles and what follows it on the ingestion side (features, labels), named by group so
# the job picks them up when they exist and never reaches into training.
INGESTION_SELECTION = dg.AssetSelection.assets(ASSET) | (
    dg.AssetSelection.assets(ASSET).downstream() & dg.AssetSelection.groups(INGESTION, FEATURES)
)

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=INGESTION_SELECTION,
    tags=run_tags(SETTINGS.source),
    description="Ingest candles for one symbol-month (and refresh features/labels).",
)


def scheduled_months(day: date, first_month: date) -> list[date]:
    """The running month, and on the 1st the month that just closed (oldest first)."""
    running = day.replace(day=1)
    months = [running]
    if day.day == 1:
        months.insert(0, (pd.Timestamp(running) - pd.offsets.MonthBegin(1)).date())
    return [m for m in months if m >= first_month]


@dg.schedule(
    name="daily_candles",
    cron_schedule="10 0 * * *",
    execution_timezone="UTC",
    job=ingestion_job,
    # Users rely on it unattended: it runs as soon as the daemon does (`dagster dev`).
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="00:10 UTC: every symbol's running month; on the 1st also the month just closed.",
)
def daily_candles(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
    when = context.scheduled_execution_time or pd.Timestamp.now(tz="UTC").to_pydatetime()
    day = pd.Timestamp(when).tz_convert("UTC").date() if pd.Timestamp(when).tzinfo else when.date()
    for month in scheduled_months(day, SETTINGS.first_month):
        for symbol in SETTINGS.symbols:
            key = month_key(symbol, month)
            yield dg.RunRequest(
                run_key=f"daily_candles:{day.isoformat()}:{key}",
                partition_key=key,
                tags=run_tags(SETTINGS.source),
            )


defs = dg.Definitions(
    assets=[raw_candles],
    asset_checks=[raw_candles_quality],
    jobs=[ingestion_job],
    schedules=[daily_candles],
)
