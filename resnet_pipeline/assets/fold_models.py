"""`wf_model` (symbol x month): the fold model for month M, trained only before M, optionally
warm-started from M-1's fold model (SPEC 13).

Its config is ``trained_model``'s (every model, training and run knob) plus the fold's data
(``FoldConfig``) and warm start: a fold trains exactly as ``trained_model`` would with the
same values. A run reads the months its folds train on once (``fold_history``). The
partition's data version is the digest of its ``model.pt``, so Dagster marks
``wf_predictions`` stale whenever the fold model changed.
"""

import itertools
import time
from dataclasses import asdict
from datetime import date

import dagster as dg

from resnet_pipeline.artifacts import exists, file_sha256, remove, write_json_atomic
from resnet_pipeline.assets.common import OWNERS, SYMBOL_MONTH, plain
from resnet_pipeline.assets.dataclass_config import dagster_config, part_of
from resnet_pipeline.assets.fold_common import WALK_FORWARD, sorted_folds
from resnet_pipeline.assets.fold_history import FoldHistory, read_history
from resnet_pipeline.assets.training_config import (
    TRAINING_PARTS,
    TrainingPlan,
    runs_in_progress,
    training_plan,
)
from resnet_pipeline.commands import month_key
from resnet_pipeline.features.channels import FEATURE_CHANNELS
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from resnet_pipeline.ml.fold_identity import MODEL_DIGEST_KEY, run_data_version
from resnet_pipeline.ml.fold_training import WarmStart, train_fold
from resnet_pipeline.ml.lineage import FINGERPRINT_KEY, dataset_fingerprint
from resnet_pipeline.ml.monthly_folds import Fold, FoldConfig, add_months
from resnet_pipeline.ml.trainer import progress_line
from resnet_pipeline.partitions import MONTH_DIM, SYMBOL_DIM
from resnet_pipeline.reports.format import rounded
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


def _warm_model(store: DataStore, symbol: str, month: date, plan: TrainingPlan, log):
    """(month, state_dict, digest) of M-1's fold model when it fits this config, else None."""
    previous = add_months(month, -1)
    path = store.layout.fold(symbol, previous).model
    if not exists(path):
        log.info(f"{symbol} {month:%Y-%m}: no fold model for {previous:%Y-%m}, training cold")
        return None
    try:
        checkpoint = load_checkpoint(path, asset="wf_model", partition=month_key(symbol, previous))
    except CheckpointError as error:
        log.warning(f"{symbol} {month:%Y-%m}: {error}; training cold")
        return None
    if checkpoint.model_config != plan.model:
        log.info(f"{symbol} {month:%Y-%m}: {previous:%Y-%m}'s model has another config, cold")
        return None
    return f"{previous:%Y-%m}", checkpoint.model.state_dict(), checkpoint.sha256


def _fingerprint(symbol: str, fold: Fold, fold_cfg: FoldConfig, digests: dict, code) -> str:
    """The fold's data fingerprint: the months read (file digests), the fold config and
    month, the fold's normalizer and the asset's code version (``ml.lineage``)."""
    partitions: dict[str, dict[str, str]] = {}
    for key, digest in digests.items():
        asset, month = key.split("/")
        partitions.setdefault(month, {})[asset] = digest
    split = asdict(fold_cfg) | {"fold_month": fold.info["month"]}
    return dataset_fingerprint(symbol, partitions, split, fold.splits.normalizer.to_dict(), code)


def _channel_means(fold: Fold) -> dict[str, float]:
    normalizer = fold.splits.normalizer
    return dict(zip(normalizer.channel_names, normalizer.mean.tolist(), strict=True))


def _train_one(
    context, plan: TrainingPlan, warm: WarmStart, store, history: FoldHistory, month: date
):
    started = time.perf_counter()
    symbol, fold_cfg = history.symbol, history.config
    months, digests, fold = history.fold(month)
    warm_from = _warm_model(store, symbol, month, plan, context.log) if warm.warm_start else None
    files = store.layout.fold(symbol, month)
    code = context.assets_def.code_versions_by_key.get(context.asset_key)
    fingerprint = _fingerprint(symbol, fold, fold_cfg, digests, code)

    def report(record: dict) -> None:
        level, line = progress_line(record, plan.train.epochs)
        getattr(context.log, level)(f"{symbol} fold {month:%Y-%m} {line}")

    try:
        trained = train_fold(
            fold,
            plan.model,
            plan.train,
            warm_from[:2] if warm_from else None,
            warm.warm_start_epochs,
            plan.augment,
            report,
            state_path=files.training_state,
            identity={
                FINGERPRINT_KEY: fingerprint,
                "warm_start_from": warm_from and {"month": warm_from[0], "sha256": warm_from[2]},
            },
            resume=plan.run.resume,
        )
    except ValueError as error:  # a state of another training, NaN loss, bad class weights
        raise dg.Failure(f"{symbol} fold {month:%Y-%m}: {error}") from error
    info = fold.info | {
        "symbol": symbol,
        "start": trained.start,
        "epochs_run": trained.epochs_run,
        "wall_s": round(trained.wall_s, 2),
        "train_steps_s": round(trained.train_steps_s, 2),
        "precision": trained.precision,
        "best_val_loss": trained.best_val_loss,
        "training_months": [f"{m:%Y-%m}" for m in months],
        "normalizer_mean": _channel_means(fold),
        "history": trained.history,
    }
    save_checkpoint(
        files.model,
        trained.model,
        plan.model,
        feature_names=fold.splits.channel_names,
        normalizer=fold.splits.normalizer,
        label_config={
            "forward_window": LabelConfig().forward_window,
            "threshold": LabelConfig().threshold,
        },
        split_config=fold_cfg.split_config().__dict__ | {"months": info["training_months"]},
        lineage={
            FINGERPRINT_KEY: fingerprint,
            "symbol": symbol,
            "fold_month": f"{month:%Y-%m}",
            "train_last": info["train_last"],
            "val_last": info["val_last"],
            "training_data_sha256": digests,
            "run_id": context.run.run_id,
            "code_version": code,
            "start": trained.start,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        metrics={"best_val_loss": trained.best_val_loss, "baselines": trained.baselines.to_dict()},
        history=trained.history,
        train_config=plan.train.to_dict(),
        data_root=store.layout.root,
    )
    info[MODEL_DIGEST_KEY] = file_sha256(files.model)
    info["fold_s"] = round(time.perf_counter() - started, 2)  # the whole fold, files included
    write_json_atomic(files.info, plain(info))
    remove(files.training_state)  # finished: the next materialization starts afresh
    context.log.info(
        f"{symbol} fold {month:%Y-%m}: {trained.start}, {trained.epochs_run} epochs, "
        f"{info['train_samples']} training samples, {trained.wall_s:.1f} s"
    )
    return info


@dg.asset(
    partitions_def=SYMBOL_MONTH,
    group_name=WALK_FORWARD,
    kinds={"pytorch"},
    owners=OWNERS,
    code_version="3",
    pool=TRAINER_POOL,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="The fold model for month M: trained only on samples before M (expanding, or "
    "rolling N months), purged at the boundary, validated on the end of its training range; "
    "optionally warm-started from M-1's fold model. A range of months is one run.",
    deps=[
        dg.AssetDep("features", partition_mapping=_PREVIOUS_MONTH),
        dg.AssetDep("labels", partition_mapping=_PREVIOUS_MONTH),
    ],
)
def wf_model(
    context: dg.AssetExecutionContext, config: WalkForwardConfig, store: DataStore
) -> dg.MaterializeResult:
    fold_cfg, warm = _fold_settings(config)
    plan = training_plan(config, fold_cfg.window, FEATURE_CHANNELS, runs_in_progress(context))
    folds = []
    with one_training_at_a_time(context):
        for symbol, group in itertools.groupby(sorted_folds(context), key=lambda sm: sm[0]):
            months = [month for _, month in group]
            history = read_history(store, symbol, months, fold_cfg)
            folds += [_train_one(context, plan, warm, store, history, month) for month in months]
    keys = {month_key(f["symbol"], date.fromisoformat(f"{f['month']}-01")): f for f in folds}
    for key, fold in keys.items():  # each month its own fold: no run-wide summary repeated
        context.add_asset_metadata(fold_metadata(fold), partition_key=key)
    return dg.MaterializeResult(
        data_version=dg.DataVersion(
            run_data_version((k, f[MODEL_DIGEST_KEY]) for k, f in keys.items())
        ),
    )


defs = dg.Definitions(assets=[wf_model])
