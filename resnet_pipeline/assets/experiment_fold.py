"""`experiment_fold` (month x trial): one variant's walk-forward fold for month M (SPEC 13, 14).

Trains the fold model (warm-started from the same trial's M-1 fold when the variant asks),
fits its temperature on the validation split, fits the three baselines on the fold's training
rows and predicts every eligible minute of M (``experiments.variant_fold``), with labels of the
variant's rule computed from the stored candles. Files go under the trial's folder, keyed by the
configuration's hash (``Layout.experiment(E, S).trial(hash).fold(M)``): model.pt, fold.json,
predictions.parquet; then the trial enters the ledger and the fold is logged to MLflow.

Runs in the ``trainer`` pool under ``one_training_at_a_time``: one training at a time on one
machine; on Celery workers sharing a Postgres instance, folds run in parallel up to the pool's
limit. A range of months of a trial is one run (``BackfillPolicy.single_run()``), oldest first,
so a warm start finds the previous month's model.
"""

import time
from datetime import date

import dagster as dg
import pandas as pd

from resnet_pipeline.artifacts import write_json_atomic
from resnet_pipeline.assets.common import OWNERS, markdown_table, plain
from resnet_pipeline.assets.experiment_common import (
    EXPERIMENT_FOLDS,
    EXPERIMENTS,
    resolve_trial,
)
from resnet_pipeline.assets.experiment_fold_steps import (
    fold_fingerprint,
    read_fold_data,
    track_fold,
    warm_model,
    write_fold,
)
from resnet_pipeline.assets.fold_common import sorted_folds
from resnet_pipeline.commands import ingest_month, month_key
from resnet_pipeline.defs.training.training_config import plan_of, runs_in_progress
from resnet_pipeline.experiments.variant_fold import (
    Stopwatch,
    run_variant_fold,
    variant_samples,
)
from resnet_pipeline.ml.data.lineage import FINGERPRINT_KEY
from resnet_pipeline.ml.folds.fold_identity import (
    MODEL_DIGEST_KEY,
    run_data_version,
)
from resnet_pipeline.ml.folds.monthly_folds import build_fold
from resnet_pipeline.ml.training.trainer import progress_line
from resnet_pipeline.partitions import MONTH_DIM, SYMBOL_DIM, TRIAL_DIM
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.training_lock import TRAINER_POOL, one_training_at_a_time


def _months_mapping(start: int, end: int) -> dg.MultiPartitionMapping:
    """Months M+start..M+end of every symbol: Dagster cannot map a trial key to its symbol,
    so the UI links a fold to those months of each symbol (the fold reads its own)."""
    return dg.MultiPartitionMapping(
        {
            MONTH_DIM: dg.DimensionPartitionMapping(
                MONTH_DIM,
                dg.TimeWindowPartitionMapping(
                    start_offset=start, end_offset=end, allow_nonexistent_upstream_partitions=True
                ),
            ),
            SYMBOL_DIM: dg.DimensionPartitionMapping(TRIAL_DIM, dg.AllPartitionMapping()),
        }
    )


_TABLE = ("trial", "month", "start", "train_samples", "epochs_run", "wall_s", "temperature")


def _fold_one(context, store, experiments, venue, mlflow, key: str, month: date) -> dict:
    layout = store.layout
    trial = resolve_trial(key, experiments, layout, venue.market)
    experiment, config = trial.experiment, trial.config
    if month not in experiment.months:
        raise dg.Failure(
            f"{month:%Y-%m} is not a month of {experiment.path} (its months: "
            f"{[f'{m:%Y-%m}' for m in experiment.months]}): pick one of them, or add the month "
            "to the file (every variant then needs it)"
        )
    symbol, digest = trial.key.symbol, config.config_hash
    trial_files = layout.experiment(experiment.name, symbol).trial(digest)
    clock = Stopwatch()
    with clock("data"):  # reading, the variant's labels, samples and the fold's normalizer
        months, features, candles, inputs = read_fold_data(layout, trial, month)
        try:
            samples = variant_samples(features, candles, config)
            fold = build_fold(samples, month, config.folds)
        except ValueError as error:
            raise dg.Failure(f"{key} {month:%Y-%m}: {error}") from error
    plan = plan_of(config.model, config.train, config.run, runs_in_progress(context))
    warm = warm_model(trial_files, month, context.log) if config.warm.warm_start else None
    code = context.assets_def.code_versions_by_key.get(context.asset_key)
    fingerprint = fold_fingerprint(symbol, inputs, digest, fold, code)

    def report(record: dict) -> None:
        level, line = progress_line(record, plan.train.epochs)
        getattr(context.log, level)(f"{key} {month:%Y-%m} {line}")

    try:
        run = run_variant_fold(
            fold,
            samples,
            config,
            plan.train,
            plan.augment,
            candles,
            warm[:2] if warm else None,
            report,
            state_path=trial_files.fold(month).training_state,
            identity={
                FINGERPRINT_KEY: fingerprint,
                "warm_start_from": warm and {"month": warm[0], "sha256": warm[2]},
            },
        )
    except ValueError as error:  # a state of another training, NaN loss, too few samples
        raise dg.Failure(f"{key} {month:%Y-%m}: {error}") from error
    if run.predictions.empty:
        raise dg.Failure(
            f"{symbol} {month:%Y-%m} has no labelled minute with a full window under variant "
            f"{trial.key.variant!r}: materialize its features and candles "
            f"({ingest_month(symbol, month)})"
        )
    lineage = {
        FINGERPRINT_KEY: fingerprint,
        "symbol": symbol,
        "fold_month": f"{month:%Y-%m}",
        "experiment": experiment.name,
        "variant": trial.key.variant,
        "config_hash": digest,
        "train_last": fold.info["train_last"],
        "val_last": fold.info["val_last"],
        "training_months": [f"{m:%Y-%m}" for m in months[:-1]],
        "training_data_sha256": inputs,
        "run_id": context.run.run_id,
        "code_version": code,
        "start": run.trained.start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with clock("write"):
        info = write_fold(layout, trial, run, lineage)
    with clock("mlflow"):
        outcome = track_fold(layout, trial, run, mlflow, context.log)
    seconds = {k: round(v, 2) for k, v in (clock.seconds | run.seconds).items()}
    write_json_atomic(trial_files.fold(month).info, plain(info | {"seconds": seconds}))
    context.log.info(
        f"{key} {month:%Y-%m}: {run.trained.start}, {run.trained.epochs_run} epochs, T = "
        f"{run.calibration.temperature:.3g}; seconds {seconds}"
    )
    return info | {"seconds": seconds} | outcome.metadata()


@dg.asset(
    partitions_def=EXPERIMENT_FOLDS,
    group_name=EXPERIMENTS,
    kinds={"pytorch", "mlflow"},
    owners=OWNERS,
    code_version="1",
    pool=TRAINER_POOL,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="One variant's walk-forward fold for month M: labels of the variant's rule "
    "from stored candles, the fold model (warm start optional), its temperature, the majority, "
    "logistic and trees baselines and the month's predictions, stored by configuration hash "
    "and logged to MLflow. A range of months is one run.",
    deps=[
        dg.AssetDep(
            "experiment_variant",
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                partition_dimension_name=TRIAL_DIM
            ),
        ),
        dg.AssetDep("features", partition_mapping=_months_mapping(-1, 0)),
        dg.AssetDep("raw_candles", partition_mapping=_months_mapping(-1, 1)),
    ],
)
def experiment_fold(
    context: dg.AssetExecutionContext,
    store: DataStore,
    experiments: ExperimentDirectory,
    venue: TradingVenue,
    mlflow: MlflowTracking,
) -> dg.MaterializeResult:
    with one_training_at_a_time(context):
        folds = [
            _fold_one(context, store, experiments, venue, mlflow, key, month)
            for key, month in sorted_folds(context)
        ]
    keys = {month_key(f["trial"], date.fromisoformat(f"{f['month']}-01")): f for f in folds}
    for partition, fold in keys.items():
        context.add_asset_metadata(
            {
                MODEL_DIGEST_KEY: fold[MODEL_DIGEST_KEY],
                "config_hash": fold["config_hash"],
                "temperature": fold["temperature"],
                **{k: v for k, v in plain(fold["scores"]).items() if isinstance(v, int | float)},
            },
            partition_key=partition,
        )
    rows = [{k: f[k] for k in _TABLE} for f in folds]
    return dg.MaterializeResult(
        metadata={
            "folds": len(folds),
            "fold_table": dg.MetadataValue.md(markdown_table(pd.DataFrame(rows))),
            "wall_time_s": round(sum(f["wall_s"] for f in folds), 1),
            "mlflow": ", ".join(sorted({f["mlflow_status"] for f in folds})),
        },
        data_version=dg.DataVersion(
            run_data_version((k, f[MODEL_DIGEST_KEY]) for k, f in keys.items())
        ),
    )


experiment_job = dg.define_asset_job(
    "experiment_job",
    selection=[experiment_fold],
    description="Train, calibrate and predict variant folds (one trial's months oldest first).",
)

defs = dg.Definitions(assets=[experiment_fold], jobs=[experiment_job])
