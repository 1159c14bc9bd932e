"""`trained_model` (symbol): train the configured ResNet on dataset_splits, write a checkpoint."""

import time

import dagster as dg
import torch
from pydantic import Field

from resnet_pipeline.artifacts import remove
from resnet_pipeline.assets.common import MODELING, OWNERS, SYMBOL, plain
from resnet_pipeline.commands import materialize
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.ml.augment import AugmentConfig
from resnet_pipeline.ml.checkpoint import save_checkpoint
from resnet_pipeline.ml.dataset import DatasetSplits
from resnet_pipeline.ml.device import run_threads
from resnet_pipeline.ml.resnet import ModelConfig, build_model
from resnet_pipeline.ml.training import TrainConfig, progress_line, train
from resnet_pipeline.ml.windows import WindowDataset
from resnet_pipeline.reports.plots import png_markdown, training_curves
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.training_lock import TRAINER_POOL, one_training_at_a_time


class TrainingConfig(dg.Config):
    """SPEC 8 defaults; every field is editable in the Launchpad."""

    arch: str = Field(default="resnet18", description="resnet18 | resnet34 | resnet50")
    block: str | None = Field(
        default=None, description="basic | bottleneck | se | multiscale (default: the arch's)"
    )
    positional_encoding: bool = Field(default=False, description="add sinusoidal time encoding")
    norm: str = Field(default="batch", description="batch | group (normalization layers)")
    zero_init_residual: bool = Field(
        default=False, description="start every residual branch's last norm at 0 (torchvision)"
    )
    dropout: float = 0.3
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = Field(default=15, description="early stopping on validation loss")
    min_delta: float = 1e-4
    loss: str = Field(default="weighted_ce", description="weighted_ce | focal")
    min_steps: int = Field(
        default=500, description="early stopping waits for this many optimizer steps"
    )
    class_weights: list[float] = Field(default=[1.2, 0.8, 1.2], description="Down, Neutral, Up")
    augment: bool = Field(default=True, description="noise, time warp, scaling (train only)")
    precision: str = Field(
        default="fp32", description="fp32 | bf16 (autocast) | fp16 (CUDA only, GradScaler)"
    )
    device: str = Field(default="auto", description="auto (GPU when present) | cpu | cuda")
    seed: int = 0
    epoch_fraction: float = Field(
        default=0.1,
        description="share of the training windows drawn afresh each epoch (at least 8192 or "
        "all of them); 1 = every window each epoch",
    )
    max_train_samples: int | None = Field(
        default=None, description="at most this many training windows per epoch (quick runs)"
    )
    max_val_samples: int | None = Field(default=None, description="validation subset size")
    time_budget_minutes: float | None = Field(default=None, description="stop after this")
    resume: bool | None = Field(
        default=None,
        description="null: continue an interrupted training when its dataset fingerprint and "
        "configs are the same, else start afresh (logged); true: fail unless it can continue; "
        "false: always start afresh",
    )
    num_threads: int | None = Field(
        default=None,
        description="CPU threads; null: the physical cores available, busy_threads while "
        "other Dagster runs are in progress",
    )
    busy_threads: int = Field(default=1, description="threads while other runs are in progress")
    progress_every_seconds: float = Field(
        default=30.0, description="a progress line at least this often inside an epoch"
    )
    bn_refresh_batches: int = Field(
        default=0,
        description="recompute BatchNorm statistics of the best weights on this many training "
        "batches before the final validation (kept only if validation loss is not worse)",
    )


def _configs(
    config: TrainingConfig, window: int, threads: int | None = None
) -> tuple[ModelConfig, TrainConfig]:
    try:
        model = ModelConfig(
            arch=config.arch,
            block=config.block,
            window=window,
            dropout=config.dropout,
            positional_encoding=config.positional_encoding,
            norm=config.norm,
            zero_init_residual=config.zero_init_residual,
        )
        training = TrainConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            weight_decay=config.weight_decay,
            patience=config.patience,
            min_delta=config.min_delta,
            min_steps=config.min_steps,
            loss=config.loss,
            class_weights=tuple(config.class_weights),
            seed=config.seed,
            device=config.device,
            precision=config.precision,
            epoch_fraction=config.epoch_fraction,
            max_train_samples=config.max_train_samples,
            max_val_samples=config.max_val_samples,
            time_budget_s=None
            if config.time_budget_minutes is None
            else 60 * config.time_budget_minutes,
            num_threads=threads,
            progress_every_s=config.progress_every_seconds,
            bn_refresh_batches=config.bn_refresh_batches,
        )
    except ValueError as error:
        raise dg.Failure(f"invalid training config: {error}") from error
    return model, training


# The dataset's own lineage keys that would shadow the model's in the checkpoint lineage.
_DATASET_KEYS = {"code_version": "dataset_code_version", "created": "dataset_created"}


@dg.asset(
    partitions_def=SYMBOL,
    group_name=MODELING,
    kinds={"pytorch"},
    owners=OWNERS,
    code_version="3",  # 2: epoch budget, resume identity; 3: draws via windows.make_loader
    pool=TRAINER_POOL,  # across machines; on one, training_lock
    description="A 1D ResNet direction classifier trained on dataset_splits (AdamW, cosine "
    "annealing, early stopping on validation loss); a self-contained checkpoint with weights, "
    "configs, normalization, lineage and training curves.",
    deps=["dataset_splits"],
)
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
    in_progress = context.instance.get_runs_count(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    )
    threads = run_threads(config.num_threads, in_progress, config.busy_threads)
    model_cfg, train_cfg = _configs(config, splits.config.window, threads)
    train_set = WindowDataset(
        splits, "train", AugmentConfig() if config.augment else None, seed=config.seed
    )
    val_set = WindowDataset(splits, "val")
    state_path = store.layout.training_state(symbol)
    fingerprint = getattr(splits, "fingerprint", None) or splits.lineage.get("dataset_fingerprint")

    def report(record: dict) -> None:
        level, line = progress_line(record, train_cfg.epochs)
        getattr(context.log, level)(f"{symbol} {line}")

    started = time.perf_counter()
    torch.manual_seed(config.seed)  # the initial weights are part of the configuration
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
            resume=config.resume,
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
    )
    remove(state_path)  # finished: the next materialization starts afresh
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
            "optimizer_steps": result.steps,
            "threads": result.threads,
            "notes": "\n".join(result.notes + result.warnings) or "none",
            "parameters": sum(p.numel() for p in model.parameters()),
            "arch": f"{model_cfg.arch}/{model_cfg.block_name}",
            "curves": dg.MetadataValue.md(png_markdown(training_curves(result.history))),
            "checkpoint_path": dg.MetadataValue.path(str(path)),
        }
    )


defs = dg.Definitions(assets=[trained_model])
