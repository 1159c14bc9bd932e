"""`wf_predictions` (symbol x month): the fold model's probabilities for every eligible minute
of month M, temperature-scaled beside, the fold's stored baselines and the label (SPEC 13),
through the one fold step's prediction and writer (``experiments.fold_step``).

Every row carries the digest of the model that made it (``fold_identity``), so a report never
pairs these predictions with a fold model trained since.
"""

from datetime import date

import dagster as dg
import pandas as pd

from resnet_pipeline.commands import ingest_month, materialize_month, month_key
from resnet_pipeline.defs.metadata import OWNERS, WALK_FORWARD
from resnet_pipeline.defs.monthly import sorted_folds
from resnet_pipeline.defs.report_checks import report_metadata
from resnet_pipeline.experiments.fold_files import write_fold_predictions
from resnet_pipeline.experiments.fold_inputs import FoldInputError, input_digests, read_months
from resnet_pipeline.experiments.variant_fold import predict_variant_fold
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.ml.data.lineage import LineageError, check_fold_lineage
from resnet_pipeline.ml.evaluation.baselines import PROBA_COLUMNS, FoldBaselines
from resnet_pipeline.ml.evaluation.stitched_metrics import (
    classification_conditions,
    day_keys,
    month_row,
    proba_of,
    row_intervals,
)
from resnet_pipeline.ml.folds.monthly_folds import FoldConfig, add_months
from resnet_pipeline.ml.model.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from resnet_pipeline.number_format import percent
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import stored_months
from resnet_pipeline.verdicts import Headline, majority_name


def _fold_model(store: DataStore, symbol: str, month: date) -> Checkpoint:
    """The fold's model, refused unless it is this symbol's fold for M trained before M and
    sees the pipeline's feature channels."""
    path = store.layout.fold(symbol, month).model
    rebuild = materialize_month("wf_model", symbol, month)
    try:
        checkpoint = load_checkpoint(path, asset="wf_model", partition=month_key(symbol, month))
    except CheckpointError as error:  # names the wf_model command itself
        raise dg.Failure(f"no usable fold model for {symbol} {month:%Y-%m}: {error}") from error
    try:
        check_fold_lineage(checkpoint.lineage, symbol, month, str(path))
        checkpoint.check_features(FEATURE_CHANNELS)
    except (LineageError, CheckpointError) as error:
        raise dg.Failure(f"{error}: rebuild it with {rebuild}") from error
    return checkpoint


def _changed_inputs(store: DataStore, symbol: str, checkpoint: Checkpoint) -> list[str]:
    """The training months' files that changed after the fold model was trained."""
    trained_on = checkpoint.lineage.get("training_data_sha256", {})
    read: dict[str, list[date]] = {}
    for key in trained_on:
        asset, month = key.split("/")
        read.setdefault(asset, []).append(date.fromisoformat(f"{month}-01"))
    current = input_digests(store.layout, symbol, read)
    return sorted(k for k in trained_on if current.get(k) != trained_on[k])


def _predict_one(store: DataStore, symbol: str, month: date) -> dict:
    checkpoint = _fold_model(store, symbol, month)
    temperature = checkpoint.metrics.get("temperature")
    if temperature is None:
        retrain = materialize_month("wf_model", symbol, month)
        raise dg.Failure(
            f"the fold model of {symbol} {month:%Y-%m} has no temperature (it was trained before "
            f"a fold calibrated itself): retrain it with {retrain}"
        )
    stored = stored_months(store.layout, "features", symbol)
    if month not in stored:
        raise dg.Failure(
            f"no stored features for {symbol} {month:%Y-%m}: {ingest_month(symbol, month)}"
        )
    months = [m for m in stored if add_months(month, -1) <= m <= month]
    split = checkpoint.split_config
    fold_cfg = FoldConfig(
        window=checkpoint.model_config.window,
        purge_minutes=split.get("purge_minutes"),
        max_gap_minutes=split.get("max_gap_minutes", FoldConfig().max_gap_minutes),
        price_norm=checkpoint.normalizer.price_norm,
    )
    try:
        samples = read_months(store.layout, symbol, months, fold_cfg, labels=None).samples
    except FoldInputError as error:
        raise dg.Failure(str(error)) from error
    frame = predict_variant_fold(
        checkpoint.model,
        checkpoint.normalizer,  # the fold model's own statistics, never refitted here
        FoldBaselines.from_dict(checkpoint.metrics["baselines"]),
        temperature,
        samples,
        month,
    )
    if frame.empty:
        raise dg.Failure(
            f"{symbol} {month:%Y-%m} has no labelled minute with a full window yet: materialize "
            f"its features and labels ({ingest_month(symbol, month)})"
        )
    write_fold_predictions(store.layout.fold(symbol, month), frame, checkpoint.sha256)
    return {
        "month": f"{month:%Y-%m}",
        "symbol": symbol,
        "metadata": month_metadata(f"{month:%Y-%m}", frame)
        | {"fold_model_sha256": checkpoint.sha256},
        "training_data_changed_since_fold": _changed_inputs(store, symbol, checkpoint),
    }


def month_metadata(month: str, frame: pd.DataFrame) -> dict[str, object]:
    """The month's own figures: a headline (the model against this fold's baselines, with
    day-block intervals), flat numbers and the class mixes."""
    row = month_row(month, frame, day_keys(frame))
    majority = majority_name(CLASS_NAMES, proba_of(frame, "majority"))
    headline = Headline(classification_conditions(row_intervals(row), majority))
    numbers = {
        "samples": row["samples"],
        **{f"{name}_accuracy": row[f"{name}_accuracy"] for name in PROBA_COLUMNS},
        **{f"{name}_auc": row[f"{name}_auc_roc_ovr"] for name in PROBA_COLUMNS},
        "max_p_up": float(frame["p_up"].max()),
        "max_p_down": float(frame["p_down"].max()),
    }
    mix = {
        f"{key}_shares": ", ".join(
            f"{name} {percent(share)}"
            for name, share in zip(CLASS_NAMES, row[f"{key}_shares"], strict=True)
        )
        for key in ("predicted", "label")
    }
    return report_metadata(headline, numbers, [], over_months=True, **mix)


def wf_predictions(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    done = [_predict_one(store, symbol, month) for symbol, month in sorted_folds(context)]
    for d in done:  # each month its own figures: no run-wide summary repeated
        month = date.fromisoformat(f"{d['month']}-01")
        context.add_asset_metadata(d["metadata"], partition_key=month_key(d["symbol"], month))
        if d["training_data_changed_since_fold"]:
            context.log.warning(
                f"{d['symbol']} {d['month']}: {d['training_data_changed_since_fold']} changed "
                "after the fold model was trained (predictions use the model as trained); "
                f"retrain with {materialize_month('wf_model', d['symbol'], month)}"
            )
    return dg.MaterializeResult()


def build(partitions: Partitions) -> dg.Definitions:
    """wf_predictions on this build's partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol_month,
        group_name=WALK_FORWARD,
        kinds={"pytorch", "parquet"},
        owners=OWNERS,
        code_version="4",
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="The fold model's probabilities for every eligible minute of month M "
        "(normalized with the fold model's own statistics), beside the fold's majority and "
        "logistic baselines and the label; each row names the model that made it.",
        deps=["wf_model", "features", "labels"],
    )(wf_predictions)
    return dg.Definitions(assets=[asset])
