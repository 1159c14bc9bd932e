"""The ingestion job and the daily schedule that runs it for every symbol."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import pandas as pd

from resnet_pipeline.commands import month_key
from resnet_pipeline.defs.ingestion.raw_candles import ASSET, COMPLETENESS, run_tags
from resnet_pipeline.defs.metadata import FEATURES, INGESTION
from resnet_pipeline.market.quality_rules import QUALITY_RULES
from resnet_pipeline.settings import Settings

# raw_candles and what follows it on the ingestion side (features, labels), named by group so
# the job picks them up when they exist and never reaches into training.
INGESTION_SELECTION = dg.AssetSelection.assets(ASSET) | (
    dg.AssetSelection.assets(ASSET).downstream() & dg.AssetSelection.groups(INGESTION, FEATURES)
)


def scheduled_months(day: date, first_month: date) -> list[date]:
    """The running month, and on the 1st the month that just closed (oldest first)."""
    running = day.replace(day=1)
    months = [running]
    if day.day == 1:
        months.insert(0, (pd.Timestamp(running) - pd.offsets.MonthBegin(1)).date())
    return [m for m in months if m >= first_month]


def _candles_only() -> dict[str, object]:
    """A run of raw_candles and its checks only: features and labels follow by automation."""
    checks = [*(rule.name for rule in QUALITY_RULES), COMPLETENESS]
    return {
        "asset_selection": [dg.AssetKey(ASSET)],
        "asset_check_keys": sorted(
            (dg.AssetCheckKey(dg.AssetKey(ASSET), name) for name in checks), key=str
        ),
    }


def daily_requests(day: date, settings: Settings) -> list[dg.RunRequest]:
    """The schedule's runs for ``day``, the month that closed first.

    On the 1st, the running month's run ingests candles only. Its features warm up on the
    closed month's last 400 candles, which that month's own run is still completing; they
    are computed by ``follow_new_candles``, which waits while raw_candles of either month is
    in progress (``any_deps_in_progress``): the closed month's run exists before the running
    month's candles can land, so features(M) never read an incomplete raw(M-1).
    """
    months = scheduled_months(day, settings.first_month)
    requests = []
    for month in months:
        closing = len(months) > 1 and month == months[-1]
        for symbol in settings.symbols:
            key = month_key(symbol, month)
            requests.append(
                dg.RunRequest(
                    run_key=f"daily_candles:{day.isoformat()}:{key}",
                    partition_key=key,
                    tags=run_tags(settings.source),
                    **(_candles_only() if closing else {}),
                )
            )
    return requests


def build(settings: Settings) -> dg.Definitions:
    """The ingestion job (tagged for the configured source) and its daily schedule."""
    ingestion_job = dg.define_asset_job(
        "ingestion_job",
        selection=INGESTION_SELECTION,
        tags=run_tags(settings.source),
        description="Ingest candles for one symbol-month (and refresh features/labels).",
    )

    @dg.schedule(
        name="daily_candles",
        cron_schedule="10 0 * * *",
        execution_timezone="UTC",
        job=ingestion_job,
        # Users rely on it unattended: it runs as soon as the daemon does (`dagster dev`).
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="00:10 UTC: every symbol's running month; on the 1st first the month just "
        "closed, and the running month's candles only (features follow once both are stored).",
    )
    def daily_candles(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        when = context.scheduled_execution_time or pd.Timestamp.now(tz="UTC").to_pydatetime()
        stamp = pd.Timestamp(when)
        day = stamp.tz_convert("UTC").date() if stamp.tzinfo else when.date()
        yield from daily_requests(day, settings)

    return dg.Definitions(jobs=[ingestion_job], schedules=[daily_candles])
