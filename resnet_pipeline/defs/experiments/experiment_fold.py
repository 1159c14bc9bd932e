"""`experiment_fold` (month x trial): one variant's walk-forward fold for month M (SPEC 13, 14).

The one fold step of the walk-forward (``experiments.fold_step``) on the variant's
configuration: trains the fold model (warm-started from the same trial's M-1 fold when the
variant asks), fits its temperature on the validation split, fits the three baselines on the
fold's training rows and predicts every eligible minute of M, with labels of the variant's rule
computed from the stored candles (``experiments.fold_inputs``). Files go under the trial's
folder, keyed by the configuration's hash (``Layout.experiment(E, S).trial(hash).fold(M)``):
model.pt, fold.json, predictions.parquet; then the trial enters the ledger. The run's folds
are logged to MLflow once the training lock is released (``fold_tracking``).

Runs in the ``trainer`` pool under ``one_training_at_a_time``: one training at a time on one
machine; on Celery workers sharing a Postgres instance, folds run in parallel up to the pool's
limit. A range of months of a trial is one run (``BackfillPolicy.single_run()``), oldest first,
so a warm start finds the previous month's model.

A fold already finished from the same configuration, inputs, code and warm start
(``trial_folds.finished``) is not trained again: its own record is returned. A run with nothing
to train never takes the lock; one that waited for it checks each fold again, so two runs of
one fold train it once.
"""

import contextlib
import itertools
from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd

from resnet_pipeline.commands import ingest_month, month_key
from resnet_pipeline.defs.experiments.fold_metadata import variant_fold_metadata
from resnet_pipeline.defs.experiments.fold_tracking import FoldToTrack, fold_to_track, track_folds
from resnet_pipeline.defs.experiments.trial_folds import (
    FOLD_CODE_VERSION,
    finished,
    skipped_line,
    trial_series,
)
from resnet_pipeline.defs.experiments.trials import (
    ResolvedTrial,
    resolve_trial,
)
from resnet_pipeline.defs.fold_run import fold_of_run, train_in_run
from resnet_pipeline.defs.metadata import EXPERIMENTS, OWNERS, markdown_table, plain
from resnet_pipeline.defs.monthly import sorted_folds
from resnet_pipeline.defs.training.training_config import plan_of, runs_in_progress
from resnet_pipeline.experiments.fold_files import (
    IMPORTANCE,
    write_fold_predictions,
    write_fold_record,
)
from resnet_pipeline.experiments.fold_inputs import FoldHistory, FoldInputError, read_history
from resnet_pipeline.experiments.fold_step import FoldSeries
from resnet_pipeline.experiments.ledger import new_record, record_trial
from resnet_pipeline.experiments.variant_fold import Stopwatch, predict_and_score
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.folds.fold_identity import MODEL_DIGEST_KEY, run_data_version
from resnet_pipeline.partitions import (
    EXPERIMENT_FOLDS,
    MONTH_DIM,
    SYMBOL_DIM,
    TRIAL_DIM,
    Partitions,
)
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.training_lock import TRAINER_POOL, one_training_at_a_time


def _same_month() -> dg.MultiPartitionMapping:
    """The fold's month of every symbol: Dagster cannot map a trial key to its symbol, so the UI
    links a fold to that month of each symbol (the fold reads its own). The fold months are
    dynamic keys named like the data's months, so the month maps by name; a time offset (M-1,
    the training months) needs two time dimensions and cannot be drawn."""
    return dg.MultiPartitionMapping(
        {
            MONTH_DIM: dg.DimensionPartitionMapping(MONTH_DIM, dg.IdentityPartitionMapping()),
            SYMBOL_DIM: dg.DimensionPartitionMapping(TRIAL_DIM, dg.AllPartitionMapping()),
        }
    )


SKIPPED = "skipped"  # a fold found finished: not trained again (in its partition's metadata)
_TABLE = ("trial", "month", "start", "train_samples", "epochs_run", "wall_s", "temperature")


def _series(context, store: DataStore, trial: ResolvedTrial) -> FoldSeries:
    """The trial's series with this run's training plan (threads as the machine allows)."""
    config = trial.config
    plan = plan_of(config.model, config.train, config.run, runs_in_progress(context))
    lineage = {"run_id": context.run.run_id}
    return trial_series(store.layout, trial, plan.train, plan.augment, lineage)


def _months_of(trial: ResolvedTrial, months: list[date]) -> None:
    experiment = trial.experiment
    for month in months:
        if month not in trial.months:
            raise dg.Failure(
                f"{month:%Y-%m} is not a month of {experiment.path} for trial "
                f"{trial.key.variant} (its months: {[f'{m:%Y-%m}' for m in trial.months]}): "
                "pick one of them, or add the month to the file (every variant then needs it)"
            )


def _enter_ledger(layout: Layout, trial: ResolvedTrial) -> None:
    """The trial in its ledger (a record cut short is written again)."""
    config = trial.config
    record_trial(
        trial.files(layout),
        new_record(
            trial.experiment.name,
            trial.key.symbol,
            trial.key.variant,
            config.config_hash,
            config.sections(),
        ),
    )


def _fold_one(
    context, store, series: FoldSeries, trial, history: FoldHistory, month, clock: Stopwatch
) -> tuple[dict, FoldToTrack]:
    """Train, predict and write one fold; ``clock`` holds what the run spent for it before
    (the months read, on the run's first fold)."""
    key, layout = str(trial.key), store.layout
    started = datetime.now(UTC)
    label = f"{key} {month:%Y-%m}"
    with clock("data"):  # the fold's rows and normalizer (the months were read for the run)
        data = fold_of_run(history, month, label)
    trained = train_in_run(context, series, data, label)
    run = predict_and_score(trained.done, data.samples, series.config, data.candles)
    if run.predictions.empty:
        raise dg.Failure(
            f"{series.symbol} {month:%Y-%m} has no labelled minute with a full window under "
            f"variant {trial.key.variant!r}: materialize its features and candles "
            f"({ingest_month(series.symbol, month)})"
        )
    files = series.files(month)
    with clock("write"):
        write_fold_predictions(files, run.predictions, trained.model_sha256)
        _enter_ledger(layout, trial)
    to_track = fold_to_track(layout, trial, run, started, datetime.now(UTC))
    seconds = {k: round(v, 2) for k, v in (clock.seconds | run.seconds).items()}
    info = trained.record | {
        "trial": key,
        "experiment": trial.experiment.name,
        "variant": trial.key.variant,
        "config_source": trial.source,
        "config_hash": series.config.config_hash,
        "scores": run.scores,
        "seconds": seconds,
        IMPORTANCE: to_track.fold.importance,
    }
    write_fold_record(files, plain(info))
    context.log.info(
        f"{key} {month:%Y-%m}: {run.trained.start}, {run.trained.epochs_run} epochs, T = "
        f"{run.calibration.temperature:.3g}; seconds {seconds}"
    )
    return info, to_track


def _trial_folds(
    context, store, trial: ResolvedTrial, months: list[date]
) -> tuple[list[dict], list[FoldToTrack]]:
    """The trial's folds of ``months``, oldest first, and what to track of those trained: each
    finished one skipped (checked when its turn comes, so a fold after one trained again sees
    the new warm start), the others trained from the months read once."""
    series, history, folds, to_track = _series(context, store, trial), None, [], []
    for month in months:
        clock = Stopwatch()
        record = finished(store.layout, series, month)
        if record is not None:
            context.log.info(skipped_line(trial, month))
            _enter_ledger(store.layout, trial)
            folds.append(record | {SKIPPED: True, "mlflow_status": "skipped"})
            continue
        if history is None:
            try:
                with clock("read"):  # the months every fold of the run reads, channels computed
                    history = read_history(
                        store.layout,
                        series.symbol,
                        [m for m in months if m >= month],
                        trial.config.folds,
                        labels=trial.config.labels,
                        predicted=True,
                        features=trial.config.features,
                    )
            except FoldInputError as error:
                raise dg.Failure(f"{trial.key}: {error}") from error
        info, pending = _fold_one(context, store, series, trial, history, month, clock)
        folds.append(info | {SKIPPED: False})
        to_track.append(pending)
    return folds, to_track


def experiment_fold(
    context: dg.AssetExecutionContext,
    store: DataStore,
    experiments: ExperimentDirectory,
    venue: TradingVenue,
    mlflow: MlflowTracking,
) -> dg.MaterializeResult:
    trials = []
    for key, group in itertools.groupby(sorted_folds(context), key=lambda km: km[0]):
        months = [month for _, month in group]
        trial = resolve_trial(key, experiments, store.layout, venue.market)
        _months_of(trial, months)
        trials.append((trial, months))
    layout = store.layout
    to_train = any(
        finished(layout, trial_series(layout, t), m) is None for t, months in trials for m in months
    )
    folds, to_track = [], []
    # Only a run with a fold to train takes the lock; once it holds it, each fold is checked
    # again: another run may have trained it meanwhile (it is then skipped, not trained twice).
    with one_training_at_a_time(context) if to_train else contextlib.nullcontext():
        for trial, months in trials:
            done, pending = _trial_folds(context, store, trial, months)
            folds += done
            to_track += pending
    # Outside the lock: a slow tracking server never keeps the next training waiting.
    outcomes = iter(track_folds(store.layout, to_track, mlflow, context.log))
    folds = [f if f[SKIPPED] else f | next(outcomes).metadata() for f in folds]
    keys = {month_key(f["trial"], date.fromisoformat(f"{f['month']}-01")): f for f in folds}
    rows = [{k: f[k] for k in _TABLE} | {SKIPPED: f[SKIPPED]} for f in folds]
    trained = [f for f in folds if not f[SKIPPED]]
    run = {
        "folds_in_run": len(folds),
        "folds_trained": len(trained),
        "folds_skipped": len(folds) - len(trained),
        "fold_table": dg.MetadataValue.md(markdown_table(pd.DataFrame(rows))),
        "wall_time_s": sum(f["wall_s"] for f in trained),
        "mlflow": ", ".join(sorted({f["mlflow_status"] for f in folds})),
    }
    for partition, fold in keys.items():  # each partition's own line first, then the run's
        metadata = variant_fold_metadata(fold, run) | {SKIPPED: fold[SKIPPED]}
        context.add_asset_metadata(metadata, partition_key=partition)
    return dg.MaterializeResult(
        data_version=dg.DataVersion(
            run_data_version((k, f[MODEL_DIGEST_KEY]) for k, f in keys.items())
        ),
    )


experiment_job = dg.define_asset_job(
    "experiment_job",
    selection=["experiment_fold"],
    description="Train, calibrate and predict variant folds (one trial's months oldest first).",
)


def build(partitions: Partitions) -> dg.Definitions:
    """experiment_fold on the experiments' month x trial partitions, and the job that runs it
    (``partitions``: the data's, which the fold's lineage points to)."""
    asset = dg.asset(
        partitions_def=EXPERIMENT_FOLDS,
        group_name=EXPERIMENTS,
        kinds={"pytorch", "mlflow"},
        owners=OWNERS,
        code_version=FOLD_CODE_VERSION,
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
            dg.AssetDep("features", partition_mapping=_same_month()),
            dg.AssetDep("raw_candles", partition_mapping=_same_month()),
        ],
    )(experiment_fold)
    return dg.Definitions(assets=[asset], jobs=[experiment_job])
