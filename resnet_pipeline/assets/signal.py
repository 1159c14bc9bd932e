"""`latest_signal` (symbol): the model's signal for the newest closed window."""

import time

import dagster as dg
import numpy as np

from resnet_pipeline.assets.common import EVALUATION, OWNERS, SYMBOL, plain
from resnet_pipeline.ml.checkpoint import CheckpointError, load_checkpoint
from resnet_pipeline.ml.inference import predict_proba
from resnet_pipeline.ml.live_window import newest_window
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import read_partitions, stored_months
from resnet_pipeline.trading.strategy import StrategyConfig, decide

# Recompute when new features land, once a model exists (the features dependency spans every
# month of the symbol, most of which may never be materialized: only the model must exist).
FOLLOW_NEW_FEATURES = dg.AutomationCondition.eager().without(
    ~dg.AutomationCondition.any_deps_missing()
) & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.missing()).allow(
    dg.AssetSelection.assets("trained_model")
)


@dg.asset(
    partitions_def=SYMBOL,
    group_name=EVALUATION,
    kinds={"pytorch"},
    owners=OWNERS,
    code_version="1",
    description="The model's signal for the newest closed window: probabilities, LONG/SHORT/"
    "NEUTRAL at the SPEC threshold, and the suggested position size (the seed's `predict`).",
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
def latest_signal(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    symbol = context.partition_key
    try:
        checkpoint = load_checkpoint(store.path / "models" / symbol / "model.pt")
    except CheckpointError as error:
        raise dg.Failure(str(error)) from error
    months = stored_months(store.path, "features", symbol)[-2:]
    features = read_partitions(store.path, "features", symbol, months)
    if features.empty:
        raise dg.Failure(f"no stored features for {symbol}: materialize features first")
    checkpoint.check_features([c for c in checkpoint.feature_names if c in features])
    window = checkpoint.model_config.window
    try:
        rows = newest_window(features, window, checkpoint.split_config.get("max_gap_minutes", 5.0))
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}; ingest more candles first") from error
    x = checkpoint.normalizer.window(rows[list(checkpoint.feature_names)].to_numpy(np.float64))
    proba = predict_proba(checkpoint.model, x[None])[0]
    decision = decide(proba, StrategyConfig())
    as_of = rows["timestamp"].iloc[-1]
    return dg.MaterializeResult(
        metadata={
            "as_of": plain(as_of),
            "signal": decision.signal,
            "confidence": plain(decision.confidence),
            "suggested_fraction": plain(decision.size_fraction),
            "p_down": plain(proba[0]),
            "p_neutral": plain(proba[1]),
            "p_up": plain(proba[2]),
            "model_trained": checkpoint.lineage.get("created", ""),
            "computed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )


defs = dg.Definitions(assets=[latest_signal])
