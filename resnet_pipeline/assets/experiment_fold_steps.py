"""The steps of ``experiment_fold`` around the domain's fold (``experiments.variant_fold``):
what it reads (the months, with their file digests), the warm-start model, the fold's data
fingerprint, what it writes (model.pt, predictions, the ledger entry) and its MLflow run."""

from dataclasses import asdict
from datetime import date

import dagster as dg

from resnet_pipeline.artifacts import exists, file_sha256, remove
from resnet_pipeline.assets.experiment_common import ResolvedTrial
from resnet_pipeline.commands import ingest_month
from resnet_pipeline.experiments.ledger import new_record, record_trial
from resnet_pipeline.experiments.variant_fold import FoldRun
from resnet_pipeline.layout import Layout, TrialFiles
from resnet_pipeline.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from resnet_pipeline.ml.fold_identity import MODEL_DIGEST_KEY, PREDICTIONS_DIGEST_COLUMN
from resnet_pipeline.ml.lineage import dataset_fingerprint
from resnet_pipeline.ml.monthly_folds import Fold, add_months, training_months
from resnet_pipeline.reports.experiment_page import calibration_plot
from resnet_pipeline.reports.plots import training_curves
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.storage import read_partitions, stored_months, write_parquet_atomic
from resnet_pipeline.tracking import FoldScores, TrackingOutcome, VariantFold, log_variant_fold


def read_fold_data(layout: Layout, trial: ResolvedTrial, month: date):
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


def warm_model(files: TrialFiles, month: date, log) -> tuple[str, dict, str] | None:
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


def fold_scores(run: FoldRun) -> FoldScores:
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


def fold_fingerprint(
    symbol: str, inputs: dict, config_hash: str, fold: Fold, code: str | None
) -> str:
    """The fold's data fingerprint (``ml.lineage``): the months read (file digests), the
    configuration and month, the fold's normalizer and the asset's code version."""
    partitions: dict[str, dict[str, str]] = {}
    for name, value in inputs.items():
        asset, m = name.split("/")
        partitions.setdefault(m, {})[asset] = value
    split = {"config_hash": config_hash, "fold_month": f"{fold.month:%Y-%m}"}
    return dataset_fingerprint(symbol, partitions, split, fold.splits.normalizer.to_dict(), code)


def write_fold(layout: Layout, trial: ResolvedTrial, run: FoldRun, lineage: dict) -> dict:
    """model.pt and the predictions (naming the model), then the trial's entry in the ledger;
    returns what fold.json records."""
    config, fold, trained = trial.config, run.fold, run.trained
    symbol, digest = trial.key.symbol, config.config_hash
    files = layout.experiment(trial.experiment.name, symbol).trial(digest).fold(fold.month)
    save_checkpoint(
        files.model,
        trained.model,
        config.model,
        feature_names=fold.splits.channel_names,
        normalizer=fold.splits.normalizer,
        label_config=asdict(config.labels),
        split_config=config.folds.split_config(config.labels.forward_window).__dict__
        | {"months": lineage["training_months"]},
        lineage=lineage,
        metrics={
            "best_val_loss": trained.best_val_loss,
            "baselines": trained.baselines.to_dict(),
            "temperature": run.calibration.temperature,
        },
        history=trained.history,
        train_config=config.train.to_dict(),
        data_root=layout.root,
    )
    model_digest = file_sha256(files.model)
    info = fold.info | {
        "trial": str(trial.key),
        "symbol": symbol,
        "experiment": trial.experiment.name,
        "variant": trial.key.variant,
        "config_source": trial.source,
        "config_hash": digest,
        "start": trained.start,
        "epochs_run": trained.epochs_run,
        "wall_s": round(trained.wall_s, 2),
        "best_val_loss": trained.best_val_loss,
        "training_months": lineage["training_months"],
        "calibration": asdict(run.calibration),
        "temperature": run.calibration.temperature,
        "scores": run.scores,
        "notes": trained.notes,
        MODEL_DIGEST_KEY: model_digest,
    }
    predictions = run.predictions.assign(**{PREDICTIONS_DIGEST_COLUMN: model_digest})
    write_parquet_atomic(predictions, files.predictions)
    remove(files.training_state)
    record_trial(
        layout.experiment(trial.experiment.name, symbol),
        new_record(trial.experiment.name, symbol, trial.key.variant, digest, config.sections()),
    )
    return info


def track_fold(
    layout: Layout, trial: ResolvedTrial, run: FoldRun, mlflow: MlflowTracking, log
) -> TrackingOutcome:
    """The variant-fold in MLflow: its configuration, scores, curves, plots and model."""
    store = mlflow.store(layout)
    history = run.trained.history
    plots = {}
    if store.uri is not None:  # drawn only for a store that keeps them
        plots = {"training_curves": training_curves(history)} if history else {}
        plots["reliability"] = calibration_plot(*run.reliability())
    files = layout.experiment(trial.experiment.name, trial.key.symbol)
    fold = VariantFold(
        experiment=trial.experiment.name,
        variant=trial.key.variant,
        symbol=trial.key.symbol,
        month=run.fold.month,
        config=trial.config.sections(),
        scores=fold_scores(run),
        history=history,
        files=[files.trial(trial.config.config_hash).fold(run.fold.month).model],
        plots=plots,
    )
    outcome = log_variant_fold(fold, store)
    if outcome.status != "logged":
        log.warning(outcome.note)
    return outcome
