"""`trained_model` (symbol): train the configured ResNet on dataset_splits, write a checkpoint."""

import time

import dagster as dg
import torch
from pydantic import Field

from resnet_pipeline.assets.common import MODELING, OWNERS, SYMBOL, plain
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.ml.augment import AugmentConfig
from resnet_pipeline.ml.checkpoint import save_checkpoint
from resnet_pipeline.ml.dataset import DatasetSplits, WindowDataset
from resnet_pipeline.ml.resnet import ModelConfig, build_model
from resnet_pipeline.ml.training import TrainConfig, train
from resnet_pipeline.reports.plots import png_markdown, training_curves
from resnet_pipeline.resources.io_manager import DataStore


class TrainingConfig(dg.Config):
    """SPEC 8 defaults; every field is editable in the Launchpad."""

    arch: str = Field(default="resnet18", description="resnet18 | resnet34 | resnet50")
    block: str | None = Field(
        default=None, description="basic | bottleneck | se | multiscale (default: the arch's)"
    )
    positional_encoding: bool = Field(default=False, description="add sinusoidal time encoding")
    dropout: float = 0.3
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = Field(default=15, description="early stopping on validation loss")
    min_delta: float = 1e-4
    loss: str = Field(default="weighted_ce", description="weighted_ce | focal")
    class_weights: list[float] = Field(default=[1.2, 0.8, 1.2], description="Down, Neutral, Up")
    augment: bool = Field(default=True, description="noise, time warp, scaling (train only)")
    precision: str = Field(default="fp32", description="fp32 | bf16 (autocast)")
    device: str = Field(default="auto", description="auto (GPU when present) | cpu | cuda")
    seed: int = 0
    max_train_samples: int | None = Field(
        default=None, description="random training windows per epoch (quick runs)"
    )
    max_val_samples: int | None = Field(default=None, description="validation subset size")
    time_budget_minutes: float | None = Field(default=None, description="stop after this")
    resume: bool = Field(
        default=True, description="continue an interrupted training with the same config"
    )


def _configs(config: TrainingConfig, window: int) -> tuple[ModelConfig, TrainConfig]:
    try:
        model = ModelConfig(
            arch=config.arch,
            block=config.block,
            window=window,
            dropout=config.dropout,
            positional_encoding=config.positional_encoding,
        )
        training = TrainConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            weight_decay=config.weight_decay,
            patience=config.patience,
            min_delta=config.min_delta,
            loss=config.loss,
            class_weights=tuple(config.class_weights),
            seed=config.seed,
            device=config.device,
            precision=config.precision,
            max_train_samples=config.max_train_samples,
            max_val_samples=config.max_val_samples,
            time_budget_s=None
            if config.time_budget_minutes is None
            else 60 * config.time_budget_minutes,
        )
    except ValueError as error:
        raise dg.Failure(f"invalid training config: {error}") from error
    return model, training


@dg.asset(
    partitions_def=SYMBOL,
    group_name=MODELING,
    kinds={"pytorch"},
    owners=OWNERS,
    code_version="1",
    pool="trainer",  # dagster.yaml: one training at a time, however it is launched
    description="A 1D ResNet direction classifier trained on dataset_splits (AdamW, cosine "
    "annealing, early stopping on validation loss); a self-contained checkpoint with weights, "
    "configs, normalization, lineage and training curves.",
    deps=["dataset_splits"],
)
def trained_model(
    context: dg.AssetExecutionContext, config: TrainingConfig, store: DataStore
) -> dg.MaterializeResult:
    symbol = context.partition_key
    try:
        splits = DatasetSplits.load(str(store.path / "datasets" / symbol))
    except FileNotFoundError as error:
        raise dg.Failure(
            f"{error}. Run: dagster asset materialize -m resnet_pipeline.definitions "
            f"--select dataset_splits --partition {symbol}"
        ) from error
    model_cfg, train_cfg = _configs(config, splits.config.window)
    train_set = WindowDataset(
        splits, "train", AugmentConfig() if config.augment else None, seed=config.seed
    )
    val_set = WindowDataset(splits, "val")
    folder = store.path / "models" / symbol
    state_path = folder / "training_state.pt"
    if not config.resume:
        state_path.unlink(missing_ok=True)

    def report(r: dict) -> None:
        context.log.info(
            f"{symbol} epoch {r['epoch']}/{train_cfg.epochs}: train loss {r['train_loss']:.4f} "
            f"acc {r['train_acc']:.3f} | val loss {r['val_loss']:.4f} acc {r['val_acc']:.3f} | "
            f"lr {r['lr']:.2e} | {r['samples_per_s']:.0f} samples/s | ETA {r['eta_s'] / 60:.1f} min"
        )

    started = time.perf_counter()
    torch.manual_seed(config.seed)  # the initial weights are part of the configuration
    model = build_model(model_cfg)
    try:
        result = train(model, train_set, val_set, train_cfg, report, state_path=str(state_path))
    except ValueError as error:  # e.g. a state file from another configuration
        raise dg.Failure(str(error)) from error
    best = next(r for r in result.history if r["epoch"] == result.best_epoch)
    metrics = {"best_val_loss": result.best_val_loss, "best_val_acc": best["val_acc"]}
    path = save_checkpoint(
        folder / "model.pt",
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
            "symbol": symbol,
            "run_id": context.run.run_id,
            "code_version": "1",
            "dataset": str(store.path / "datasets" / symbol),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **splits.lineage,
        },
        metrics=metrics,
        history=result.history,
        train_config=train_cfg.to_dict(),
    )
    state_path.unlink(missing_ok=True)  # finished: the next materialization starts afresh
    return dg.MaterializeResult(
        metadata={
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "stop_reason": result.stop_reason,
            "best_val_loss": plain(result.best_val_loss),
            "best_val_acc": plain(best["val_acc"]),
            "device": result.device,
            "wall_time_s": round(time.perf_counter() - started, 1),
            "train_samples_per_s": round(result.train_samples_per_s, 1),
            "parameters": sum(p.numel() for p in model.parameters()),
            "arch": f"{model_cfg.arch}/{model_cfg.block_name}",
            "curves": dg.MetadataValue.md(png_markdown(training_curves(result.history))),
            "checkpoint_path": dg.MetadataValue.path(str(path)),
        }
    )


defs = dg.Definitions(assets=[trained_model])
