"""`wf_model` (symbol x month): the fold model for month M, trained only before M, optionally
warm-started from M-1's fold model (SPEC 13).

Its config is ``trained_model``'s (every model, training and run knob) plus the fold's data
(``FoldConfig``) and warm start: a fold trains exactly as ``trained_model`` would with the
same values. The walk-forward is the experiment of one variant (``walk_forward_variant``):
its fold goes through the one fold step (``experiments.fold_step``) that ``experiment_fold``
uses. A run reads the months its folds train on once (``fold_inputs.read_history``). The
partition's data version is the digest of its ``model.pt``, so Dagster marks
``wf_predictions`` stale whenever the fold model changed.
"""

import itertools
from dataclasses import asdict
from datetime import date

import dagster as dg

from resnet_pipeline.commands import month_key
from resnet_pipeline.defs.dagster_config import dagster_config, part_of
from resnet_pipeline.defs.fold_run import fold_of_run, train_in_run
from resnet_pipeline.defs.metadata import OWNERS, WALK_FORWARD, plain
from resnet_pipeline.defs.monthly import sorted_folds
from resnet_pipeline.defs.training.training_config import (
    TRAINING_PARTS,
    model_data,
    plan_of,
    runs_in_progress,
)
from resnet_pipeline.experiments.fold_files import write_fold_record
from resnet_pipeline.experiments.fold_inputs import FoldHistory, FoldInputError, read_history
from resnet_pipeline.experiments.fold_step import (
    FoldSeries,
    walk_forward_variant,
)
from resnet_pipeline.experiments.variant_config import VariantConfig
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.ml.folds.fold_identity import MODEL_DIGEST_KEY, run_data_version
from resnet_pipeline.ml.folds.monthly_folds import FoldConfig
from resnet_pipeline.ml.folds.warm_start import WarmStart
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.training.train_config import RunOptions, TrainConfig
from resnet_pipeline.number_format import rounded
from resnet_pipeline.partitions import MONTH_DIM, SYMBOL_DIM, Partitions
from resnet_pipeline.reports.plots import png_markdown, training_curves
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.training_lock import TRAINER_POOL, one_training_at_a_time

WalkForwardConfig = dagster_config(
    "WalkForwardConfig",
    __name__,
    "The fold's data (FoldConfig) and warm start, and every knob of trained_model (the model, "
    "the training and the run), flat, with the same defaults.",
    FoldConfig,
    WarmStart,
    *TRAINING_PARTS,
)

_PREVIOUS_MONTH = dg.MultiPartitionMapping(
    {
        MONTH_DIM: dg.DimensionPartitionMapping(
            MONTH_DIM,
            dg.TimeWindowPartitionMapping(
                start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
            ),
        ),
        SYMBOL_DIM: dg.DimensionPartitionMapping(SYMBOL_DIM, dg.IdentityPartitionMapping()),
    }
)
FOLD_SHOWN = (
    "month",
    "start",
    "train_first",
    "train_last",
    "val_first",
    "val_last",
    "train_samples",
    "val_samples",
    "epochs_run",
    "best_val_loss",
    "wall_s",
    MODEL_DIGEST_KEY,
)


def fold_metadata(fold: dict) -> dict[str, object]:
    """One fold partition's own metadata: its windows, start mode, epochs, best validation
    loss and training curves."""
    shown = {
        k: rounded(v) if isinstance(v, float) else v for k, v in fold.items() if k in FOLD_SHOWN
    }
    if not fold.get("history"):
        return shown
    curves = png_markdown(training_curves(fold["history"]), f"fold {fold['month']}")
    return shown | {"plot_training_curves": dg.MetadataValue.md(curves)}


def _fold_settings(config: dg.Config) -> tuple[FoldConfig, WarmStart]:
    try:
        return part_of(FoldConfig, config), part_of(WarmStart, config)
    except ValueError as error:
        raise dg.Failure(f"invalid walk-forward config: {error}") from error


def walk_forward_config(config: dg.Config) -> VariantConfig:
    """The walk-forward's Launchpad config as the variant it is (``walk_forward_variant``); an
    invalid value fails the run naming the field."""
    folds, warm = _fold_settings(config)
    try:
        model = part_of(ModelConfig, config, **model_data(folds.window, FEATURE_CHANNELS))
        train, run = part_of(TrainConfig, config), part_of(RunOptions, config)
    except ValueError as error:
        raise dg.Failure(f"invalid training config: {error}") from error
    return walk_forward_variant(folds, warm, model, train, run)


def _series(context, config: dg.Config, store: DataStore, symbol: str) -> FoldSeries:
    """The symbol's walk-forward: a series of folds of one variant."""
    variant = walk_forward_config(config)
    plan = plan_of(variant.model, variant.train, variant.run, runs_in_progress(context))
    return FoldSeries(
        symbol=symbol,
        config=variant,
        train=plan.train,
        augment=plan.augment,
        root=store.layout.root,
        files=lambda month: store.layout.fold(symbol, month),
        configuration=asdict(variant.folds),
        asset="wf_model",
        partition=lambda month: month_key(symbol, month),
        lineage={"run_id": context.run.run_id},
        code=context.assets_def.code_versions_by_key.get(context.asset_key),
    )


def _train_one(context, series: FoldSeries, history: FoldHistory, month: date) -> dict:
    symbol = series.symbol
    label = f"{symbol} fold {month:%Y-%m}"
    trained = train_in_run(context, series, fold_of_run(history, month, label), label)
    write_fold_record(series.files(month), plain(trained.record))
    done = trained.done.trained
    context.log.info(
        f"{symbol} fold {month:%Y-%m}: {done.start}, {done.epochs_run} epochs, "
        f"{trained.record['train_samples']} training samples, {done.wall_s:.1f} s"
    )
    return trained.record


def wf_model(
    context: dg.AssetExecutionContext, config: WalkForwardConfig, store: DataStore
) -> dg.MaterializeResult:
    folds = []
    with one_training_at_a_time(context):
        for symbol, group in itertools.groupby(sorted_folds(context), key=lambda sm: sm[0]):
            months = [month for _, month in group]
            series = _series(context, config, store, symbol)
            try:
                history = read_history(store.layout, symbol, months, series.config.folds)
            except FoldInputError as error:
                raise dg.Failure(str(error)) from error
            folds += [_train_one(context, series, history, month) for month in months]
    keys = {month_key(f["symbol"], date.fromisoformat(f"{f['month']}-01")): f for f in folds}
    for key, fold in keys.items():  # each month its own fold: no run-wide summary repeated
        context.add_asset_metadata(fold_metadata(fold), partition_key=key)
    return dg.MaterializeResult(
        data_version=dg.DataVersion(
            run_data_version((k, f[MODEL_DIGEST_KEY]) for k, f in keys.items())
        ),
    )


def build(partitions: Partitions) -> dg.Definitions:
    """wf_model on this build's partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol_month,
        group_name=WALK_FORWARD,
        kinds={"pytorch"},
        owners=OWNERS,
        code_version="4",
        pool=TRAINER_POOL,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description="The fold model for month M: trained only on samples before M (expanding, or "
        "rolling N months), purged at the boundary, validated on the end of its training range; "
        "optionally warm-started from M-1's fold model. A range of months is one run.",
        deps=[
            dg.AssetDep("features", partition_mapping=_PREVIOUS_MONTH),
            dg.AssetDep("labels", partition_mapping=_PREVIOUS_MONTH),
        ],
    )(wf_model)
    return dg.Definitions(assets=[asset])
