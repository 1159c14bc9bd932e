"""`latest_signal` (symbol): the model's signal for the newest closed window."""

from dataclasses import fields
from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field
from upath import UPath

from resnet_pipeline.artifacts import exists, fresh, read_json
from resnet_pipeline.commands import ingest_month, materialize, materialize_month, month_key
from resnet_pipeline.defs.metadata import EVALUATION, OWNERS, as_text, when
from resnet_pipeline.experiments.fold_files import read_fold_record
from resnet_pipeline.experiments.fold_inputs import FoldInputError, read_variant_channels
from resnet_pipeline.features.feature_config import FeatureConfig
from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.data.dataset_store import DatasetError
from resnet_pipeline.ml.data.lineage import (
    FEATURES_KEY,
    FINGERPRINT_KEY,
    LineageError,
    check_fold_lineage,
    check_same_dataset,
)
from resnet_pipeline.ml.data.live_window import NotActionable, minutes_since_close, newest_window
from resnet_pipeline.ml.folds.fold_identity import check_fold_info
from resnet_pipeline.ml.model.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from resnet_pipeline.ml.training.inference import predict_proba
from resnet_pipeline.number_format import age as duration
from resnet_pipeline.number_format import percent, short
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import read_partitions, stored_months
from resnet_pipeline.trading.strategy import ShortRules, StrategyConfig, decide

# Recompute when new features land, once a model exists (the features dependency spans every
# month of the symbol, most of which may never be materialized: only the model must exist).
FOLLOW_NEW_FEATURES = dg.AutomationCondition.eager().without(
    ~dg.AutomationCondition.any_deps_missing()
) & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.missing()).allow(
    dg.AssetSelection.assets("trained_model")
)


MODEL_CHOICES = ("auto", "walk_forward", "trained_model")


def closed(minutes: float) -> str:
    """How long ago the newest candle closed, in days and hours: '858 d 17 h ago'."""
    return f"{duration(minutes)} ago"


class SignalConfig(dg.Config):
    model: str = Field(
        default="auto",
        description="auto: the newest walk-forward fold model for the window's month when one "
        "exists (the model as it lives), else trained_model | walk_forward | trained_model",
    )
    max_age_minutes: float | None = Field(
        default=5.0,
        description="the newest candle must have closed at most this many minutes ago, or the "
        "signal is NOT ACTIONABLE; null disables the check (replaying history)",
    )


def _strategy(store: DataStore, symbol: str, market: str) -> tuple[StrategyConfig, str]:
    """The strategy config the backtest ran with (its backtest_metrics.json), else SPEC
    defaults on ``market``; with where it came from."""
    path = store.layout.reports(symbol).backtest_metrics
    if not exists(path):  # SPEC defaults, with shorts as the market allows them
        return StrategyConfig(
            **ShortRules().on(market)
        ), f"SPEC defaults on {market} (no backtest_report yet)"
    try:
        stored = read_json(path)
        config = stored.get("strategy_config") or stored.get("config") or {}
        known = {f.name for f in fields(StrategyConfig)}
        used = {k: v for k, v in config.items() if k in known and v is not None}
        return StrategyConfig(**used), (
            f"backtest_report run {stored.get('run_id', '?')} ({store.layout.relative(path)})"
        )
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise dg.Failure(
            f"{path} holds no usable strategy config ({error}): re-run "
            f"{materialize('backtest_report', symbol)}"
        ) from error


def _newest_fold(store: DataStore, symbol: str, month: date) -> tuple[date, UPath] | None:
    """The newest fold model meant for ``month`` or before (fold M is trained strictly before
    M, so it has never seen a window of M or later)."""
    folds = []
    for folder in fresh(store.layout.folds_folder(symbol)).glob("*"):
        try:
            fold_month = date.fromisoformat(f"{folder.name}-01")
        except ValueError:
            continue
        model = store.layout.fold(symbol, fold_month).model
        if fold_month <= month and exists(model):
            folds.append((fold_month, model))
    return max(folds) if folds else None


def _fold_model(store: DataStore, symbol: str, month: date, path) -> Checkpoint:
    """A fold model, refused unless its lineage says it is this symbol's fold for ``month``,
    trained on samples before it."""
    rebuild = materialize_month("wf_model", symbol, month)
    try:
        checkpoint = load_checkpoint(path, asset="wf_model", partition=month_key(symbol, month))
    except CheckpointError as error:  # names the wf_model command itself
        raise dg.Failure(str(error)) from error
    try:
        check_fold_lineage(checkpoint.lineage, symbol, month, str(path))
        check_fold_info(
            read_fold_record(store.layout.fold(symbol, month)), checkpoint.sha256, month
        )
    except LineageError as error:
        raise dg.Failure(f"{error}. Rebuild the fold: {rebuild}") from error
    return checkpoint


def _trained_model(store: DataStore, symbol: str) -> Checkpoint:
    """trained_model's checkpoint, refused unless it was trained on the current dataset."""
    try:
        checkpoint = load_checkpoint(
            store.layout.checkpoint(symbol), asset="trained_model", partition=symbol
        )
        dataset = DatasetSplits.read_meta(store.layout.dataset(symbol))
        check_same_dataset(checkpoint.lineage, dataset["lineage"], symbol, checkpoint.path)
    except (CheckpointError, LineageError, DatasetError, FileNotFoundError) as error:
        raise dg.Failure(str(error)) from error
    return checkpoint


def _model_for(
    store: DataStore, symbol: str, choice: str, newest: pd.Timestamp
) -> tuple[Checkpoint, str]:
    """The checkpoint that signals a window ending at ``newest``, and which one it is."""
    if choice not in MODEL_CHOICES:
        raise dg.Failure(f"latest_signal.config.model={choice!r}: use one of {MODEL_CHOICES}")
    month = newest.date().replace(day=1)
    if choice != "trained_model":
        fold = _newest_fold(store, symbol, month)
        if fold is not None:
            fold_month, path = fold
            return _fold_model(store, symbol, fold_month, path), f"wf_model {fold_month:%Y-%m}"
        if choice == "walk_forward":
            raise dg.Failure(
                f"no walk-forward fold model of {symbol} for {month:%Y-%m} or before: "
                f"{materialize_month('wf_model', symbol, month)}"
            )
    return _trained_model(store, symbol), "trained_model"


def _not_actionable(reason: str, **metadata) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata=as_text(
            {
                "signal": "NOT ACTIONABLE",
                "reason": reason,
                "actionable": False,
                "suggested_fraction": 0.0,
                **metadata,
            }
        )
    )


def _summary(signal: str, proba: np.ndarray, strategy: StrategyConfig, size: float) -> str:
    """The signal in one line: which probability crossed the threshold, and the size."""
    p_down, _, p_up = (float(p) for p in proba)
    side = f"p_up {short(p_up)}" if p_up >= p_down else f"p_down {short(p_down)}"
    size_text = f"; suggested size {percent(size)} of equity" if size else ""
    return f"{signal}: {side} against threshold {short(strategy.threshold)}{size_text}"


def model_features(checkpoint: Checkpoint) -> FeatureConfig:
    """The channels a model was trained on, as the ``FeatureConfig`` its dataset selected."""
    lineage = checkpoint.lineage.get(FEATURES_KEY) or {}
    return FeatureConfig(checkpoint.feature_names, lineage.get("cross_symbol"))


def latest_signal(
    context: dg.AssetExecutionContext, config: SignalConfig, store: DataStore, venue: TradingVenue
) -> dg.MaterializeResult:
    symbol = context.partition_key
    months = stored_months(store.layout, "features", symbol)[-2:]
    features = read_partitions(store.layout, "features", symbol, months)
    newest = pd.Timestamp.now(tz="UTC") if features.empty else features["timestamp"].max()
    checkpoint, model_source = _model_for(store, symbol, config.model, newest)
    if features.empty:
        raise dg.Failure(f"no stored features for {symbol}: materialize features first")
    selected = model_features(checkpoint)
    if not selected.stored:  # the model's own channels, computed from the stored candles
        try:
            features, _ = read_variant_channels(store.layout, symbol, months, selected)
        except (FoldInputError, ValueError) as error:
            raise dg.Failure(f"{symbol}: the model's channels: {error}") from error
    checkpoint.check_features([c for c in checkpoint.feature_names if c in features])
    strategy, strategy_source = _strategy(store, symbol, venue.market)
    now = pd.Timestamp.now(tz="UTC")
    try:
        rows = newest_window(
            features,
            checkpoint.model_config.window,
            checkpoint.split_config.get("max_gap_minutes", 5.0),
            checkpoint.feature_names,
        )
    except NotActionable as error:
        return _not_actionable(
            f"{error}; ingest more candles first",
            as_of=features["timestamp"].max(),
            model=model_source,
        )
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    as_of = pd.Timestamp(rows["timestamp"].iloc[-1])
    age = minutes_since_close(rows, now)
    if config.max_age_minutes is not None and age > config.max_age_minutes:
        return _not_actionable(
            f"the newest candle ({when(as_of)}) closed {closed(age)} (> max_age_minutes="
            f"{config.max_age_minutes:g}): ingest the running month first: "
            f"{ingest_month(symbol, now.date().replace(day=1))}",
            as_of=as_of,
            closed=closed(age),
            model=model_source,
        )
    x = checkpoint.normalizer.window(rows[list(checkpoint.feature_names)].to_numpy(np.float64))
    proba = predict_proba(checkpoint.model, x[None])[0]
    decision = decide(proba, strategy)
    return dg.MaterializeResult(
        metadata=as_text(
            {
                "signal": decision.signal,
                "summary": _summary(decision.signal, proba, strategy, decision.size_fraction),
                "actionable": True,
                "as_of": as_of,
                "closed": closed(age),
                "confidence": decision.confidence,
                "suggested_fraction": decision.size_fraction,
                "p_down": proba[0],
                "p_neutral": proba[1],
                "p_up": proba[2],
                "model": model_source,
                "strategy_config": strategy_source,
                "sizing": strategy.sizing,
                "dataset_fingerprint": checkpoint.lineage.get(FINGERPRINT_KEY, ""),
                "model_trained": pd.Timestamp(checkpoint.lineage["created"])
                if checkpoint.lineage.get("created")
                else None,
                "computed_at": now,
            }
        )
    )


def build(partitions: Partitions) -> dg.Definitions:
    """latest_signal on this build's partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol,
        group_name=EVALUATION,
        kinds={"pytorch"},
        owners=OWNERS,
        code_version="2",
        description="The model's signal for the newest closed window: probabilities, LONG/SHORT/"
        "NEUTRAL at the SPEC threshold, and the suggested position size (the seed's `predict`), "
        "sized with the backtested strategy config. NOT ACTIONABLE when the newest candle is "
        "stale, the window spans a gap or warm-up rows.",
        deps=[
            "trained_model",
            dg.AssetDep(
                "features",
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                    partition_dimension_name="symbol"
                ),
            ),
        ],
        automation_condition=FOLLOW_NEW_FEATURES,
    )(latest_signal)
    return dg.Definitions(assets=[asset])
