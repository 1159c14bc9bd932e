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
from dataclasses import asdict
from datetime import date

import dagster as dg
import pandas as pd

from resnet_pipeline.artifacts import exists, file_sha256, remove, write_json_atomic
from resnet_pipeline.assets.common import OWNERS, markdown_table, plain
from resnet_pipeline.assets.experiment_common import (
    EXPERIMENT_FOLDS,
    EXPERIMENTS,
    ResolvedTrial,
    resolve_trial,
)
from resnet_pipeline.assets.fold_common import sorted_folds
from resnet_pipeline.assets.training_config import plan_of, runs_in_progress
from resnet_pipeline.commands import ingest_month, month_key
from resnet_pipeline.experiments.ledger import new_record, record_trial
from resnet_pipeline.experiments.variant_fold import FoldRun, run_variant_fold, variant_samples
from resnet_pipeline.layout import Layout, TrialFiles
from resnet_pipeline.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from resnet_pipeline.ml.fold_identity import (
    MODEL_DIGEST_KEY,
    PREDICTIONS_DIGEST_COLUMN,
    run_data_version,
)
from resnet_pipeline.ml.lineage import FINGERPRINT_KEY, dataset_fingerprint
from resnet_pipeline.ml.monthly_folds import add_months, build_fold, training_months
from resnet_pipeline.ml.trainer import progress_line
from resnet_pipeline.partitions import MONTH_DIM, SYMBOL_DIM, TRIAL_DIM
from resnet_pipeline.reports.experiment_page import reliability_plot
from resnet_pipeline.reports.plots import training_curves
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import read_partitions, stored_months, write_parquet_atomic
from resnet_pipeline.tracking import FoldScores, VariantFold, log_variant_fold
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


def _read(layout: Layout, trial: ResolvedTrial, month: date):
    """The months the fold reads: features of the training months and M, raw candles of those
    and their neighbours (labels' history and tails)."""
    symbol, folds = trial.key.symbol, trial.config.folds
    stored = stored_months(layout, "features", symbol)
    months = training_months(stored, month, folds)
    if month not in stored or not months:
        missing = month if month not in stored else add_months(month, -1)
        raise dg.Failure(
            f"{symbol}: a fold for {month:%Y-%m} needs stored features of {month:%Y-%m} and of "
            f"earlier months; materialize them, e.g. {ingest_month(symbol, missing)}"
        )
    months.append(month)
    nearby = set(months) | {add_months(months[0], -1), add_months(month, 1)}
    raw = [m for m in stored_months(layout, "raw_candles", symbol) if m in nearby]
    features = read_partitions(layout, "features", symbol, months)
    candles = read_partitions(layout, "raw_candles", symbol, raw)
    digests = {
        f"{asset}/{m:%Y-%m}": file_sha256(layout.partition(asset, symbol, m))
        for asset, read in (("features", months), ("raw_candles", raw))
        for m in read
    }
    return months, features, candles, digests


def _warm_model(files: TrialFiles, month: date, log) -> tuple[str, dict, str] | None:
    """(month, state_dict, digest) of this trial's M-1 fold model, when there is one."""
    previous = add_months(month, -1)
    path = files.fold(previous).model
    if not exists(path):
        log.info(f"no fold model of this trial for {previous:%Y-%m}: training cold")
        return None
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as error:
        log.warning(f"{error}; training cold")
        return None
    return f"{previous:%Y-%m}", checkpoint.model.state_dict(), checkpoint.sha256


def _scores(run: FoldRun) -> FoldScores:
    s = run.scores
    return FoldScores(
        accuracy=s.get("model_accuracy"),
        macro_f1=s.get("model_macro_f1"),
        auc_roc_ovr=s.get("model_auc_roc_ovr"),
        log_loss=s.get("model_log_loss"),
        ece_before=s.get("ece_before"),
        ece_after=s.get("ece_after"),
        epochs=run.trained.epochs_run,
        wall_s=run.trained.wall_s,
        sharpe_after_costs=s.get("sharpe_after_costs"),
    )


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
    files = layout.experiment(experiment.name, symbol).trial(digest)
    fold_files = files.fold(month)
    months, features, candles, inputs = _read(layout, trial, month)
    try:
        samples = variant_samples(features, candles, config)
        fold = build_fold(samples, month, config.folds)
    except ValueError as error:
        raise dg.Failure(f"{key} {month:%Y-%m}: {error}") from error
    plan = plan_of(config.model, config.train, config.run, runs_in_progress(context))
    warm = _warm_model(files, month, context.log) if config.warm.warm_start else None
    code = context.assets_def.code_versions_by_key.get(context.asset_key)
    split = {"config_hash": digest, "fold_month": f"{month:%Y-%m}"}
    partitions: dict[str, dict[str, str]] = {}
    for name, value in inputs.items():
        asset, m = name.split("/")
        partitions.setdefault(m, {})[asset] = value
    fingerprint = dataset_fingerprint(
        symbol, partitions, split, fold.splits.normalizer.to_dict(), code
    )

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
            state_path=fold_files.training_state,
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
    trained = run.trained
    training = [f"{m:%Y-%m}" for m in months[:-1]]
    save_checkpoint(
        fold_files.model,
        trained.model,
        config.model,
        feature_names=fold.splits.channel_names,
        normalizer=fold.splits.normalizer,
        label_config=asdict(config.labels),
        split_config=config.folds.split_config(config.labels.forward_window).__dict__
        | {"months": training},
        lineage={
            FINGERPRINT_KEY: fingerprint,
            "symbol": symbol,
            "fold_month": f"{month:%Y-%m}",
            "experiment": experiment.name,
            "variant": trial.key.variant,
            "config_hash": digest,
            "train_last": fold.info["train_last"],
            "val_last": fold.info["val_last"],
            "training_data_sha256": inputs,
            "run_id": context.run.run_id,
            "code_version": code,
            "start": trained.start,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        metrics={
            "best_val_loss": trained.best_val_loss,
            "baselines": trained.baselines,
            "temperature": run.calibration.temperature,
        },
        history=trained.history,
        train_config=plan.train.to_dict(),
        data_root=layout.root,
    )
    model_digest = file_sha256(fold_files.model)
    info = fold.info | {
        "trial": key,
        "symbol": symbol,
        "experiment": experiment.name,
        "variant": trial.key.variant,
        "config_source": trial.source,
        "config_hash": digest,
        "start": trained.start,
        "epochs_run": trained.epochs_run,
        "wall_s": round(trained.wall_s, 2),
        "best_val_loss": trained.best_val_loss,
        "training_months": training,
        "calibration": asdict(run.calibration),
        "temperature": run.calibration.temperature,
        "scores": run.scores,
        "notes": trained.notes,
        MODEL_DIGEST_KEY: model_digest,
    }
    write_parquet_atomic(
        run.predictions.assign(**{PREDICTIONS_DIGEST_COLUMN: model_digest}),
        fold_files.predictions,
    )
    write_json_atomic(fold_files.info, plain(info))
    remove(fold_files.training_state)
    record_trial(
        layout.experiment(experiment.name, symbol),
        new_record(experiment.name, symbol, trial.key.variant, digest, config.sections()),
    )
    plots = {"training_curves": training_curves(trained.history)} if trained.history else {}
    plots["reliability"] = reliability_plot(*run.reliability())
    outcome = log_variant_fold(
        VariantFold(
            experiment=experiment.name,
            variant=trial.key.variant,
            symbol=symbol,
            month=month,
            config=config.sections(),
            scores=_scores(run),
            history=trained.history,
            files=[fold_files.model],
            plots=plots,
        ),
        mlflow.store(layout),
    )
    if outcome.status != "logged":
        context.log.warning(outcome.note)
    context.log.info(
        f"{key} {month:%Y-%m}: {trained.start}, {trained.epochs_run} epochs, T = "
        f"{run.calibration.temperature:.3g}, accuracy {run.scores.get('model_accuracy')}"
    )
    return info | outcome.metadata()


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
