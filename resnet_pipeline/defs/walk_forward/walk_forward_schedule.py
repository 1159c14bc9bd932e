"""`walk_forward_job` and `monthly_walk_forward`: when a month closes, predict it with its fold
model (now complete) and train the new month's fold, per symbol. Off by default."""

from datetime import date

import dagster as dg

from resnet_pipeline.commands import month_key
from resnet_pipeline.ml.folds.monthly_folds import add_months
from resnet_pipeline.settings import Settings

WF_MODEL, WF_PREDICTIONS = dg.AssetKey("wf_model"), dg.AssetKey("wf_predictions")
walk_forward_job = dg.define_asset_job(
    "walk_forward_job",
    selection=dg.AssetSelection.assets(WF_MODEL, WF_PREDICTIONS),
    tags={"resnet_pipeline/resource": "trainer"},
    description="Train a fold and predict its month (one symbol-month, or a range in one run).",
)


def monthly_requests(month: date, symbols: tuple[str, ...]) -> list[dg.RunRequest]:
    """On the 1st of ``month``: predict the month that closed, train the new month's fold."""
    closed = add_months(month, -1)
    requests = []
    for symbol in symbols:
        requests.append(
            dg.RunRequest(
                run_key=f"wf_predictions|{symbol}|{closed:%Y-%m}",
                partition_key=month_key(symbol, closed),
                asset_selection=[WF_PREDICTIONS],
            )
        )
        requests.append(
            dg.RunRequest(
                run_key=f"wf_model|{symbol}|{month:%Y-%m}",
                partition_key=month_key(symbol, month),
                asset_selection=[WF_MODEL],
            )
        )
    return requests


def build(settings: Settings) -> dg.Definitions:
    """The walk-forward job and its monthly schedule over this build's symbols."""

    @dg.schedule(
        job=walk_forward_job,
        cron_schedule="30 0 1 * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="When a month closes: predict it with its fold model (now complete) and "
        "train the new month's fold, per symbol. Off by default.",
    )
    def monthly_walk_forward(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time
        yield from monthly_requests(date(now.year, now.month, 1), settings.symbols)

    return dg.Definitions(jobs=[walk_forward_job], schedules=[monthly_walk_forward])
