"""`trained_model` (symbol): train the configured ResNet on dataset_splits, write a checkpoint."""

import time

import dagster as dg
import torch

from resnet_pipeline.artifacts import remove
from resnet_pipeline.commands import materialize
from resnet_pipeline.defs.metadata import MODELING, OWNERS, as_text
from resnet_pipeline.defs.training.training_config import (
    TrainingConfig,
    runs_in_progress,
    training_plan,
)
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.data.windows import WindowDataset
from resnet_pipeline.ml.model.checkpoint import save_checkpoint
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.trainer import progress_line, train
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.reports.plots import png_markdown, training_curves
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.training_lock import TRAINER_POOL, one_training_at_a_time

# The dataset's own lineage keys that would shadow the model's in the checkpoint lineage.
_DATASET_KEYS = {"code_version": "dataset_code_version", "created": "dataset_created"}


def trained_model(
    context: dg.AssetExecutionContext, config: TrainingConfig, store: DataStore
) -> dg.MaterializeResult:
    with one_training_at_a_time(context):
        return _train_symbol(context, config, store)


def _train_symbol(
    context: dg.AssetExecutionContext, config: TrainingConfig, store: DataStore
) -> dg.MaterializeResult:
    symbol = context.partition_key
    try:
        splits = DatasetSplits.load(store.layout.dataset(symbol))
    except FileNotFoundError as error:
        raise dg.Failure(f"{error}. Run: {materialize('dataset_splits', symbol)}") from error
    except ValueError as error:  # a truncated or corrupt dataset names its file and fix
        raise dg.Failure(str(error)) from error
    plan = training_plan(
        config, splits.config.window, splits.channel_names, runs_in_progress(context)
    )
    model_cfg, train_cfg = plan.model, plan.train
    train_set = WindowDataset(splits, "train", plan.augment, seed=train_cfg.seed)
    val_set = WindowDataset(splits, "val")
    state_path = store.layout.training_state(symbol)
    fingerprint = getattr(splits, "fingerprint", None) or splits.lineage.get("dataset_fingerprint")

    def report(record: dict) -> None:
        level, line = progress_line(record, train_cfg.epochs)
        getattr(context.log, level)(f"{symbol} {line}")

    started = time.perf_counter()
    torch.manual_seed(train_cfg.seed)  # the initial weights are part of the configuration
    model = build_model(model_cfg)
    try:
        result = train(
            model,
            train_set,
            val_set,
            train_cfg,
            report,
            state_path=str(state_path),
            identity={"dataset_fingerprint": fingerprint},
            resume=plan.run.resume,
        )
    except ValueError as error:  # a state of another training, NaN loss, bad class weights
        raise dg.Failure(str(error)) from error
    best = next(r for r in result.history if r["epoch"] == result.best_epoch)
    metrics = {"best_val_loss": result.best_val_loss, "best_val_acc": best["val_acc"]}
    path = save_checkpoint(
        store.layout.checkpoint(symbol),
        model,
        model_cfg,
        feature_names=splits.channel_names,
        normalizer=splits.normalizer,
        label_config={
            "forward_window": LabelConfig().forward_window,
            "threshold": LabelConfig().threshold,
        },
        split_config=splits.config.__dict__ | {"months": splits.lineage.get("months", [])},
        lineage={
            **{_DATASET_KEYS.get(k, k): v for k, v in splits.lineage.items()},
            "symbol": symbol,
            "run_id": context.run.run_id,
            "code_version": context.assets_def.code_versions_by_key.get(context.asset_key),
            "dataset": store.layout.relative(store.layout.dataset(symbol)),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        metrics=metrics,
        history=result.history,
        train_config=train_cfg.to_dict(),
        data_root=store.layout.root,
    )
    remove(state_path)  # finished: the next materialization starts afresh
    return dg.MaterializeResult(
        metadata=as_text(
            {
                "epochs_run": result.epochs_run,
                "best_epoch": result.best_epoch,
                "stop_reason": result.stop_reason,
                "best_val_loss": result.best_val_loss,
                "best_val_acc": best["val_acc"],
                "device": result.device,
                "wall_time_s": round(time.perf_counter() - started, 1),
                "train_samples_per_s": round(result.train_samples_per_s, 1),
                "optimizer_steps": result.steps,
                "threads": result.threads,
                "notes": "\n".join(result.notes + result.warnings) or "none",
                "parameters": sum(p.numel() for p in model.parameters()),
                "arch": f"{model_cfg.arch}/{model_cfg.block_name}",
                "curves": dg.MetadataValue.md(png_markdown(training_curves(result.history))),
                "checkpoint_path": dg.MetadataValue.path(str(path)),
            }
        )
    )


def build(partitions: Partitions) -> dg.Definitions:
    """trained_model on this build's partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol,
        group_name=MODELING,
        kinds={"pytorch"},
        owners=OWNERS,
        code_version="3",
        pool=TRAINER_POOL,  # across machines; on one, training_lock
        description="A 1D ResNet direction classifier trained on dataset_splits (AdamW, cosine "
        "annealing, early stopping on validation loss); a self-contained checkpoint with weights, "
        "configs, normalization, lineage and training curves.",
        deps=["dataset_splits"],
    )(trained_model)
    return dg.Definitions(assets=[asset])
