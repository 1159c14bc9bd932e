"""Walk-forward (SPEC 13): `wf_model` and `wf_predictions` (symbol x month), `wf_report`
(symbol), and a monthly schedule (off by default) that trains the new month's fold.

Files: ``<root>/walk_forward/<S>/<YYYY-MM>/`` holds the fold's ``model.pt``, ``fold.json``
and ``predictions.parquet``; the report goes to ``<root>/reports/<S>/walk_forward/``.
A range of folds runs in one run (``BackfillPolicy.single_run()``), oldest month first, so a
warm start finds the previous month's model of the same run.
"""

import time
from datetime import date

import dagster as dg
import pandas as pd
from pydantic import Field

from resnet_pipeline.artifacts import (
    exists,
    file_sha256,
    fresh,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from resnet_pipeline.assets.backtest_report import BacktestConfig, strategy_for
from resnet_pipeline.assets.common import (
    OWNERS,
    SYMBOL,
    SYMBOL_MONTH,
    markdown_table,
    plain,
)
from resnet_pipeline.commands import (
    ingest_month,
    materialize_month,
    materialize_months,
    month_key,
)
from resnet_pipeline.features.channels import FEATURE_CHANNELS
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.layout import FoldFiles
from resnet_pipeline.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from resnet_pipeline.ml.fold_training import predict_month, train_fold
from resnet_pipeline.ml.resnet import ModelConfig
from resnet_pipeline.ml.training import TrainConfig
from resnet_pipeline.ml.walk_forward import (
    FoldConfig,
    add_months,
    build_fold,
    eligible_samples,
    month_start,
    training_months,
)
from resnet_pipeline.ml.walk_forward_eval import walk_forward_summary
from resnet_pipeline.partitions import MONTH_DIM, SYMBOL_DIM, split_key
from resnet_pipeline.reports.plots import equity_curves, png_markdown
from resnet_pipeline.reports.walk_forward import monthly_bars, walk_forward_html
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import (
    candles_around,
    read_parquet,
    read_partitions,
    stored_months,
    write_parquet_atomic,
)
from resnet_pipeline.trading.performance import daily_returns
from resnet_pipeline.trading.stitched import stitch, stitched_backtest
from resnet_pipeline.training_lock import TRAINER_POOL, one_training_at_a_time

WALK_FORWARD = "walk_forward"
CODE_VERSION = "2"
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


class WalkForwardConfig(dg.Config):
    """The fold's data and training; SPEC 8 training defaults, as for `trained_model`."""

    rolling_months: int | None = Field(
        default=None, description="train on the last N months before M (default: all: expanding)"
    )
    val_ratio: float = Field(default=0.15, description="newest share of the training range")
    purge_minutes: int | None = Field(
        default=None, description="label horizon purge at each boundary (default 12; more: embargo)"
    )
    window: int = 256
    max_gap_minutes: float = 5.0
    price_norm: str = "window_relative"
    warm_start: bool = Field(
        default=False,
        description="fine-tune month M-1's fold model for warm_start_epochs instead of training "
        "from scratch (cold when M-1 has no model or another architecture)",
    )
    warm_start_epochs: int = 3
    arch: str = "resnet18"
    block: str | None = None
    dropout: float = 0.3
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 15
    augment: bool = True
    precision: str = "fp32"
    device: str = "auto"
    seed: int = 0
    max_train_samples: int | None = None
    max_val_samples: int | None = None


def fold_files(store: DataStore, symbol: str, month: date) -> FoldFiles:
    return store.layout.fold(symbol, month)


def _hint(asset: str, symbol: str, month: date) -> str:
    return materialize_month(asset, symbol, month)


def _ingest_hint(symbol: str, month: date) -> str:
    return ingest_month(symbol, month)


def _fold_config(config: WalkForwardConfig) -> FoldConfig:
    try:
        return FoldConfig(
            window=config.window,
            val_ratio=config.val_ratio,
            rolling_months=config.rolling_months,
            purge_minutes=config.purge_minutes,
            max_gap_minutes=config.max_gap_minutes,
            price_norm=config.price_norm,
        )
    except ValueError as error:
        raise dg.Failure(f"invalid walk-forward config: {error}") from error


def _train_configs(config: WalkForwardConfig) -> tuple[ModelConfig, TrainConfig]:
    try:
        model = ModelConfig(
            arch=config.arch, block=config.block, window=config.window, dropout=config.dropout
        )
        train = TrainConfig(
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            weight_decay=config.weight_decay,
            patience=config.patience,
            seed=config.seed,
            device=config.device,
            precision=config.precision,
            max_train_samples=config.max_train_samples,
            max_val_samples=config.max_val_samples,
        )
    except ValueError as error:
        raise dg.Failure(f"invalid walk-forward training config: {error}") from error
    if config.warm_start_epochs < 1:
        raise dg.Failure("warm_start_epochs must be at least 1")
    return model, train


def _digests(store: DataStore, symbol: str, months: list[date]) -> dict[str, str]:
    """sha256 of each month's features and labels files: what the fold was trained on."""
    out = {}
    for month in months:
        for asset in ("features", "labels"):
            path = store.layout.partition(asset, symbol, month)
            if exists(path):
                out[f"{asset}/{month:%Y-%m}"] = file_sha256(path)
    return out


def _sorted_folds(context: dg.AssetExecutionContext) -> list[tuple[str, date]]:
    return sorted((split_key(k) for k in context.partition_keys), key=lambda sm: (sm[0], sm[1]))


def _warm_state(store, symbol, month, model_cfg: ModelConfig, log) -> tuple[str, dict] | None:
    previous = add_months(month, -1)
    path = fold_files(store, symbol, previous).model
    if not exists(path):
        log.info(f"{symbol} {month:%Y-%m}: no fold model for {previous:%Y-%m}, training cold")
        return None
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as error:
        log.warning(f"{symbol} {month:%Y-%m}: {error}; training cold")
        return None
    if checkpoint.model_config != model_cfg:
        log.info(f"{symbol} {month:%Y-%m}: {previous:%Y-%m}'s model has another config, cold")
        return None
    return f"{previous:%Y-%m}", checkpoint.model.state_dict()


def _channel_means(normalizer) -> dict[str, float]:
    return dict(zip(normalizer.channel_names, normalizer.mean.tolist(), strict=True))


def _train_one(context, config: WalkForwardConfig, store: DataStore, symbol: str, month: date):
    fold_cfg = _fold_config(config)
    model_cfg, train_cfg = _train_configs(config)
    months = training_months(stored_months(store.layout, "features", symbol), month, fold_cfg)
    if not months:
        raise dg.Failure(
            f"no stored features for {symbol} before {month:%Y-%m}: a fold trains on earlier "
            f"months. Materialize them first, e.g. {_ingest_hint(symbol, add_months(month, -1))}"
        )
    features = read_partitions(store.layout, "features", symbol, months)
    labels = read_partitions(store.layout, "labels", symbol, months)
    try:
        samples = eligible_samples(features, labels, fold_cfg.split_config())
        fold = build_fold(samples, month, fold_cfg)
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    del features, labels
    warm = _warm_state(store, symbol, month, model_cfg, context.log) if config.warm_start else None

    def report(r: dict) -> None:
        if "val_loss" in r:
            context.log.info(
                f"{symbol} fold {month:%Y-%m} epoch {r.get('epoch')}: val loss "
                f"{r['val_loss']:.4f} acc {r.get('val_acc', float('nan')):.3f}"
            )

    trained = train_fold(
        fold, model_cfg, train_cfg, warm, config.warm_start_epochs, config.augment, report
    )
    files = fold_files(store, symbol, month)
    info = fold.info | {
        "symbol": symbol,
        "start": trained.start,
        "epochs_run": trained.epochs_run,
        "wall_s": round(trained.wall_s, 2),
        "best_val_loss": trained.best_val_loss,
        "training_months": [f"{m:%Y-%m}" for m in months],
        "normalizer_mean": _channel_means(fold.splits.normalizer),
    }
    lineage = {
        "symbol": symbol,
        "fold_month": f"{month:%Y-%m}",
        "train_last": info["train_last"],
        "val_last": info["val_last"],
        "training_data_sha256": _digests(store, symbol, months),
        "run_id": context.run.run_id,
        "code_version": CODE_VERSION,
        "start": trained.start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save_checkpoint(
        files.model,
        trained.model,
        model_cfg,
        feature_names=fold.splits.channel_names,
        normalizer=fold.splits.normalizer,
        label_config={
            "forward_window": LabelConfig().forward_window,
            "threshold": LabelConfig().threshold,
        },
        split_config=fold_cfg.split_config().__dict__ | {"months": info["training_months"]},
        lineage=lineage,
        metrics={"best_val_loss": trained.best_val_loss, "baselines": trained.baselines},
        history=trained.history,
        train_config=train_cfg.to_dict(),
    )
    write_json_atomic(files.info, plain(info))
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
    code_version=CODE_VERSION,
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
    with one_training_at_a_time(context):
        folds = [_train_one(context, config, store, s, m) for s, m in _sorted_folds(context)]
    columns = [
        "symbol",
        "month",
        "start",
        "train_samples",
        "val_samples",
        "train_first",
        "train_last",
        "epochs_run",
        "wall_s",
        "best_val_loss",
    ]
    return dg.MaterializeResult(
        metadata={
            "folds": len(folds),
            "starts": ", ".join(f"{f['month']}: {f['start']}" for f in folds),
            "fold_table": dg.MetadataValue.md(
                markdown_table(pd.DataFrame([{k: f[k] for k in columns} for f in folds]))
            ),
            "wall_time_s": round(sum(f["wall_s"] for f in folds), 1),
        }
    )


def _check_lineage(checkpoint, symbol: str, month: date) -> None:
    """The checkpoint must be this symbol's fold for M, trained only before M (SPEC 11)."""
    lineage = checkpoint.lineage
    wanted = {"symbol": symbol, "fold_month": f"{month:%Y-%m}"}
    found = {k: lineage.get(k) for k in wanted}
    rebuild = _hint("wf_model", symbol, month)
    if found != wanted:
        raise dg.Failure(
            f"{checkpoint.path} is the fold model of {found}, not of {wanted}: rebuild it with "
            f"{rebuild}"
        )
    last = pd.Timestamp(lineage.get("val_last") or lineage.get("train_last"))
    if last >= pd.Timestamp(month_start(month)).tz_localize("UTC"):
        raise dg.Failure(
            f"{checkpoint.path} was trained on samples up to {last}, inside {month:%Y-%m}: "
            f"rebuild it with {rebuild}"
        )


def _predict_one(store: DataStore, symbol: str, month: date) -> dict:
    files = fold_files(store, symbol, month)
    try:
        checkpoint = load_checkpoint(files.model)
    except CheckpointError as error:
        raise dg.Failure(
            f"no usable fold model for {symbol} {month:%Y-%m} ({error}). Run: "
            f"{_hint('wf_model', symbol, month)}"
        ) from error
    _check_lineage(checkpoint, symbol, month)
    trained_on = checkpoint.lineage.get("training_data_sha256", {})
    months_before = sorted({k.split("/")[1] for k in trained_on})
    current = _digests(store, symbol, [date.fromisoformat(f"{m}-01") for m in months_before])
    changed = sorted(k for k in trained_on if current.get(k) != trained_on[k])
    stored = stored_months(store.layout, "features", symbol)
    if month not in stored:
        raise dg.Failure(
            f"no stored features for {symbol} {month:%Y-%m}: {_ingest_hint(symbol, month)}"
        )
    months = [m for m in stored if add_months(month, -1) <= m <= month]
    features = read_partitions(store.layout, "features", symbol, months)
    labels = read_partitions(store.layout, "labels", symbol, months)
    try:
        checkpoint.check_features(FEATURE_CHANNELS)
    except CheckpointError as error:
        raise dg.Failure(f"{error}. Run: {_hint('wf_model', symbol, month)}") from error
    split = checkpoint.split_config
    fold_cfg = FoldConfig(
        window=checkpoint.model_config.window,
        purge_minutes=split.get("purge_minutes"),
        max_gap_minutes=split.get("max_gap_minutes", 5.0),
        price_norm=checkpoint.normalizer.price_norm,
    )
    samples = eligible_samples(features, labels, fold_cfg.split_config())
    frame = predict_month(
        checkpoint.model,
        checkpoint.normalizer,  # the fold model's own statistics, never refitted here
        checkpoint.metrics["baselines"],
        samples,
        month,
    )
    if frame.empty:
        raise dg.Failure(
            f"{symbol} {month:%Y-%m} has no labelled minute with a full window yet: materialize "
            f"its features and labels ({_ingest_hint(symbol, month)})"
        )
    write_parquet_atomic(frame, files.predictions)
    accuracy = float(
        (frame[["p_down", "p_neutral", "p_up"]].to_numpy().argmax(1) == frame["label"]).mean()
    )
    return {
        "month": f"{month:%Y-%m}",
        "symbol": symbol,
        "samples": len(frame),
        "accuracy": accuracy,
        "training_data_changed_since_fold": changed,
    }


@dg.asset(
    partitions_def=SYMBOL_MONTH,
    group_name=WALK_FORWARD,
    kinds={"pytorch", "parquet"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="The fold model's probabilities for every eligible minute of month M "
    "(normalized with the fold model's own statistics), beside the fold's majority and "
    "logistic baselines and the label.",
    deps=["wf_model", "features", "labels"],
)
def wf_predictions(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    done = [_predict_one(store, s, m) for s, m in _sorted_folds(context)]
    for d in done:
        if d["training_data_changed_since_fold"]:
            month = date.fromisoformat(f"{d['month']}-01")
            context.log.warning(
                f"{d['symbol']} {d['month']}: {d['training_data_changed_since_fold']} changed "
                "after the fold model was trained (predictions use the model as trained); "
                f"retrain with {_hint('wf_model', d['symbol'], month)}"
            )
    return dg.MaterializeResult(
        metadata={
            "folds": len(done),
            "samples": sum(d["samples"] for d in done),
            "accuracy_by_month": dg.MetadataValue.json(plain(done)),
        }
    )


WF_FOLD_ASSETS = ("wf_model", "wf_predictions")


class WalkForwardReportConfig(BacktestConfig):
    """The SPEC 9 strategy (as `backtest_report`) and the bootstrap."""

    n_boot: int = Field(default=1000, description="bootstrap resamples for the intervals")
    bootstrap_seed: int = 0


def _fold_frames(store: DataStore, symbol: str) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    root = fresh(store.layout.folds_folder(symbol))
    frames, folds = {}, []
    if root.exists():
        for folder in sorted(root.iterdir(), key=lambda p: p.name):
            try:
                files = fold_files(store, symbol, date.fromisoformat(f"{folder.name}-01"))
            except ValueError:
                continue
            if exists(files.predictions):
                frames[folder.name] = read_parquet(files.predictions)
                if exists(files.info):
                    folds.append(read_json(files.info))
    return frames, folds


@dg.asset(
    partitions_def=SYMBOL,
    group_name=WALK_FORWARD,
    kinds={"html", "parquet"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    description="The folds stitched into one out-of-sample series: metrics per month and "
    "pooled beside per-fold baselines, the strategy backtested across the months, block-"
    "bootstrap 95% intervals, the probabilistic Sharpe ratio and a one-line verdict.",
    deps=[
        dg.AssetDep(
            "wf_predictions",
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                partition_dimension_name=SYMBOL_DIM
            ),
        )
    ],
)
def wf_report(
    context: dg.AssetExecutionContext,
    config: WalkForwardReportConfig,
    store: DataStore,
    venue: TradingVenue,
) -> dg.MaterializeResult:
    symbol = context.partition_key
    frames, folds = _fold_frames(store, symbol)
    if not frames:
        raise dg.Failure(
            f"no walk-forward predictions for {symbol}: run "
            + materialize_months(WF_FOLD_ASSETS, symbol, date(2024, 2, 1), date(2024, 7, 1))
            + " (your months)"
        )
    rules = BacktestConfig(**config.model_dump(exclude={"n_boot", "bootstrap_seed"}))
    strategy = strategy_for(rules, venue.market)  # backtest_report's own rules
    try:
        stitched = stitch(frames)
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    candles = candles_around(
        store.layout, symbol, stitched["timestamp"].min(), stitched["timestamp"].max()
    )
    if candles.empty:
        raise dg.Failure(
            f"no stored candles of {symbol} for the predicted months (the backtest needs "
            f"them): {_ingest_hint(symbol, stitched['timestamp'].min().date().replace(day=1))}"
        )
    try:
        evaluation = stitched_backtest(candles, stitched, strategy)
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    summary = walk_forward_summary(
        stitched,
        daily_returns(evaluation.result.equity),
        daily_returns(evaluation.benchmark),
        config.n_boot,
        config.bootstrap_seed,
    )
    summary |= {"strategy": evaluation.metrics, "buy_and_hold": evaluation.benchmark_metrics}
    out = store.layout.reports(symbol).walk_forward
    write_parquet_atomic(stitched, out / "stitched_predictions.parquet")
    write_json_atomic(out / "walk_forward.json", plain(summary))
    write_text_atomic(
        out / "report.html",
        walk_forward_html(
            symbol,
            summary,
            folds,
            evaluation.result.equity,
            evaluation.benchmark,
            evaluation.metrics,
            evaluation.benchmark_metrics,
        ),
    )
    context.log.info(f"{symbol} walk-forward: {summary['verdict']}")
    intervals = summary["intervals"]
    return dg.MaterializeResult(
        metadata={
            "verdict": summary["verdict"],
            "edge": summary["edge"],
            "folds": summary["folds"],
            "samples": summary["samples"],
            "probabilistic_sharpe_ratio": plain(summary["probabilistic_sharpe_ratio"]),
            "intervals": dg.MetadataValue.json(plain(intervals)),
            "folds_model_beats": dg.MetadataValue.json(plain(summary["folds_model_beats"])),
            "per_month": dg.MetadataValue.md(png_markdown(monthly_bars(summary["monthly"]))),
            "equity": dg.MetadataValue.md(
                png_markdown(equity_curves(evaluation.result.equity, evaluation.benchmark))
            ),
            "report_path": dg.MetadataValue.path(str(out / "report.html")),
        }
    )


walk_forward_job = dg.define_asset_job(
    "walk_forward_job",
    selection=dg.AssetSelection.assets(wf_model, wf_predictions),
    tags={"resnet_pipeline/resource": "trainer"},
    description="Train a fold and predict its month (one symbol-month, or a range in one run).",
)


@dg.schedule(
    job=walk_forward_job,
    cron_schedule="30 0 1 * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="When a month closes: predict it with its fold model (now complete) and train "
    "the new month's fold, per symbol. Off by default.",
)
def monthly_walk_forward(context: dg.ScheduleEvaluationContext):
    now = context.scheduled_execution_time
    new = date(now.year, now.month, 1)
    closed = add_months(new, -1)
    for symbol in SYMBOL.get_partition_keys():
        yield dg.RunRequest(
            run_key=f"wf_predictions|{symbol}|{closed:%Y-%m}",
            partition_key=month_key(symbol, closed),
            asset_selection=[wf_predictions.key],
        )
        yield dg.RunRequest(
            run_key=f"wf_model|{symbol}|{new:%Y-%m}",
            partition_key=month_key(symbol, new),
            asset_selection=[wf_model.key],
        )


defs = dg.Definitions(
    assets=[wf_model, wf_predictions, wf_report],
    jobs=[walk_forward_job],
    schedules=[monthly_walk_forward],
)
