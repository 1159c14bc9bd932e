"""`walk_forward_job` and `monthly_walk_forward`: when a month closes, predict it with its fold
model (now complete) and train the new month's fold, per symbol. Off by default."""

from datetime import date

import dagster as dg

from resnet_pipeline.assets.common import SYMBOL
from resnet_pipeline.assets.fold_models import wf_model
from resnet_pipeline.assets.fold_predictions import wf_predictions
from resnet_pipeline.commands import month_key
from resnet_pipeline.ml.folds.monthly_folds import add_months

walk_forward_job = dg.define_asset_job(
    "walk_forward_job",
    selection=dg.AssetSelection.assets(wf_model, wf_predictions),
    tags={"resnet_pipeline/resource": "trainer"},
    description="Train a fold and predict its month (one symbol-month, or a range in one run).",
)


@dg.schedule(
    job=walk_forward_job,
    cron_schedule="30 0 1 * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="When a month closes: predict it with its fold model (now complete) and train "
    "the new month's fold, per symbol. Off by default.",
)
def monthly_walk_forward(context: dg.ScheduleEvaluationContext):
    now = context.scheduled_execution_time
    new = date(now.year, now.month, 1)
    closed = add_months(new, -1)
    for symbol in SYMBOL.get_partition_keys():
        yield dg.RunRequest(
            run_key=f"wf_predictions|{symbol}|{closed:%Y-%m}",
            partition_key=month_key(symbol, closed),
            asset_selection=[wf_predictions.key],
        )
        yield dg.RunRequest(
            run_key=f"wf_model|{symbol}|{new:%Y-%m}",
            partition_key=month_key(symbol, new),
            asset_selection=[wf_model.key],
        )


defs = dg.Definitions(jobs=[walk_forward_job], schedules=[monthly_walk_forward])
