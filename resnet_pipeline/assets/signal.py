"""`latest_signal` (symbol): the model's signal for the newest closed window."""

import json
from dataclasses import fields

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from resnet_pipeline.assets.common import EVALUATION, OWNERS, SYMBOL, plain
from resnet_pipeline.ml.checkpoint import CheckpointError, load_checkpoint
from resnet_pipeline.ml.dataset import DatasetError, DatasetSplits
from resnet_pipeline.ml.inference import predict_proba
from resnet_pipeline.ml.lineage import (
    FINGERPRINT_KEY,
    LineageError,
    check_same_dataset,
    rebuild_command,
)
from resnet_pipeline.ml.live_window import NotActionable, minutes_since_close, newest_window
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import read_partitions, stored_months
from resnet_pipeline.trading.strategy import StrategyConfig, decide

_CLI = "dagster asset materialize -m resnet_pipeline.definitions"

# Recompute when new features land, once a model exists (the features dependency spans every
# month of the symbol, most of which may never be materialized: only the model must exist).
FOLLOW_NEW_FEATURES = dg.AutomationCondition.eager().without(
    ~dg.AutomationCondition.any_deps_missing()
) & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.missing()).allow(
    dg.AssetSelection.assets("trained_model")
)


class SignalConfig(dg.Config):
    max_age_minutes: float | None = Field(
        default=5.0,
        description="the newest candle must have closed at most this many minutes ago, or the "
        "signal is NOT ACTIONABLE; null disables the check (replaying history)",
    )


def _strategy(store: DataStore, symbol: str) -> tuple[StrategyConfig, str]:
    """The strategy config the backtest ran with (reports/S/backtest_metrics.json), else
    SPEC defaults; with where it came from."""
    path = store.path / "reports" / symbol / "backtest_metrics.json"
    if not path.exists():
        return StrategyConfig(), "SPEC defaults (no backtest_report yet)"
    try:
        stored = json.loads(path.read_text())
        config = stored.get("strategy_config") or stored.get("config") or {}
        known = {f.name for f in fields(StrategyConfig)}
        used = {k: v for k, v in config.items() if k in known and v is not None}
        return StrategyConfig(**used), (
            f"backtest_report run {stored.get('run_id', '?')} "
            f"(reports/{symbol}/backtest_metrics.json)"
        )
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise dg.Failure(
            f"{path} holds no usable strategy config ({error}): re-run "
            f"{rebuild_command('backtest_report', symbol)}"
        ) from error


def _not_actionable(reason: str, **metadata) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            "actionable": False,
            "reason": reason,
            "signal": "NOT ACTIONABLE",
            "suggested_fraction": 0.0,
            **metadata,
        }
    )


@dg.asset(
    partitions_def=SYMBOL,
    group_name=EVALUATION,
    kinds={"pytorch"},
    owners=OWNERS,
    code_version="2",
    description="The model's signal for the newest closed window: probabilities, LONG/SHORT/"
    "NEUTRAL at the SPEC threshold, and the suggested position size (the seed's `predict`), "
    "sized with the backtested strategy config. NOT ACTIONABLE when the newest candle is stale, "
    "the window spans a gap or warm-up rows.",
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
)
def latest_signal(
    context: dg.AssetExecutionContext, config: SignalConfig, store: DataStore
) -> dg.MaterializeResult:
    symbol = context.partition_key
    try:
        checkpoint = load_checkpoint(store.path / "models" / symbol / "model.pt")
        dataset = DatasetSplits.read_meta(store.path / "datasets" / symbol)
        check_same_dataset(checkpoint.lineage, dataset["lineage"], symbol, checkpoint.path)
    except (CheckpointError, LineageError, DatasetError, FileNotFoundError) as error:
        raise dg.Failure(str(error)) from error
    months = stored_months(store.path, "features", symbol)[-2:]
    features = read_partitions(store.path, "features", symbol, months)
    if features.empty:
        raise dg.Failure(f"no stored features for {symbol}: materialize features first")
    checkpoint.check_features([c for c in checkpoint.feature_names if c in features])
    strategy, strategy_source = _strategy(store, symbol)
    now = pd.Timestamp.now(tz="UTC")
    try:
        rows = newest_window(
            features,
            checkpoint.model_config.window,
            checkpoint.split_config.get("max_gap_minutes", 5.0),
            checkpoint.feature_names,
        )
    except NotActionable as error:
        newest = plain(features["timestamp"].max())
        return _not_actionable(f"{error}; ingest more candles first", as_of=newest)
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    as_of = rows["timestamp"].iloc[-1]
    age = minutes_since_close(rows, now)
    if config.max_age_minutes is not None and age > config.max_age_minutes:
        month = pd.Timestamp(now).strftime("%Y-%m-01")
        return _not_actionable(
            f"the newest candle ({as_of}) closed {age:.1f} minutes ago (> max_age_minutes="
            f"{config.max_age_minutes:g}): ingest the running month first: {_CLI} --select "
            f"raw_candles,features,labels --partition '{month}|{symbol}'",
            as_of=plain(as_of),
            age_minutes=round(age, 1),
        )
    x = checkpoint.normalizer.window(rows[list(checkpoint.feature_names)].to_numpy(np.float64))
    proba = predict_proba(checkpoint.model, x[None])[0]
    decision = decide(proba, strategy)
    return dg.MaterializeResult(
        metadata={
            "actionable": True,
            "as_of": plain(as_of),
            "age_minutes": round(age, 1),
            "signal": decision.signal,
            "confidence": plain(decision.confidence),
            "suggested_fraction": plain(decision.size_fraction),
            "p_down": plain(proba[0]),
            "p_neutral": plain(proba[1]),
            "p_up": plain(proba[2]),
            "strategy_config": strategy_source,
            "sizing": strategy.sizing,
            "dataset_fingerprint": checkpoint.lineage.get(FINGERPRINT_KEY, ""),
            "model_trained": checkpoint.lineage.get("created", ""),
            "computed_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


defs = dg.Definitions(assets=[latest_signal])
