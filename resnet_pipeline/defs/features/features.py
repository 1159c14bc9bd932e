"""`features` (symbol x month): the 15 SPEC channels, thin over resnet_pipeline.features."""

import dagster as dg
import numpy as np
import pandas as pd

from resnet_pipeline.defs.metadata import FEATURES, OWNERS, as_series, markdown_table
from resnet_pipeline.defs.monthly import (
    RECENT,
    months_mapping,
    raw_by_month,
    stored_partition_check,
)
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.channels import FEATURE_DTYPE, compute_features
from resnet_pipeline.partitions import Partitions

# New candles refresh features (the daily ingestion leaves the ingestion side fresh); unlike
# plain eager(), the month before the running one stays eligible too.
FOLLOW_CANDLES = dg.AutomationCondition.eager().replace(
    dg.AutomationCondition.in_latest_time_window(), RECENT
)


def features(
    context: dg.AssetExecutionContext, raw_candles: dict[str, pd.DataFrame]
) -> dg.Output[pd.DataFrame]:
    month, candles = raw_by_month(raw_candles, context.partition_key)
    previous = [df for m, df in raw_candles.items() if m < month]
    frame = compute_features(candles, history=previous[-1] if previous else None)
    return dg.Output(frame, metadata=_feature_metadata(frame))


def _feature_metadata(frame: pd.DataFrame) -> dict[str, object]:
    channels = frame[list(FEATURE_CHANNELS)]
    summary = pd.DataFrame(
        {
            "channel": list(FEATURE_CHANNELS),
            "min": channels.min().to_numpy(np.float64),
            "mean": channels.mean().to_numpy(np.float64),
            "max": channels.max().to_numpy(np.float64),
            "nan": channels.isna().sum().to_numpy(),
        }
    )
    return as_series(
        {
            "dagster/row_count": len(frame),
            "warmup_rows": frame["warmup"].sum(),
            "gap_rows": (frame["gap_minutes"] > 1).sum(),
            "channels": dg.MetadataValue.md(markdown_table(summary)),
        }
    )


def feature_problems(frame: pd.DataFrame) -> list[str]:
    """Everything wrong with a stored features partition (empty list: it is sound)."""
    problems = []
    missing = [c for c in FEATURE_CHANNELS if c not in frame]
    if missing:
        return [f"missing channels {missing}"]
    wrong = [c for c in FEATURE_CHANNELS if frame[c].dtype != FEATURE_DTYPE]
    if wrong:
        problems.append(f"channels not float32: {wrong}")
    values = frame[list(FEATURE_CHANNELS)].to_numpy(np.float64)
    if np.isinf(values).any():
        problems.append(f"{int(np.isinf(values).any(axis=1).sum())} rows hold inf")
    nan_rows = np.isnan(values).any(axis=1) & ~frame["warmup"].to_numpy(bool)
    if nan_rows.any():
        problems.append(f"{int(nan_rows.sum())} rows outside warm-up hold NaN")
    return problems


automation_sensor = dg.AutomationConditionSensorDefinition(
    "follow_new_candles",
    target=dg.AssetSelection.assets("features", "labels", "latest_signal"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Recomputes features and labels when new candles land (daily ingestion), "
    "and latest_signal once a model exists.",
)


def build(partitions: Partitions) -> dg.Definitions:
    """features on this build's partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol_month,
        group_name=FEATURES,
        kinds={"parquet", "pandas"},
        owners=OWNERS,
        code_version="1",
        description="The 15 SPEC feature channels per candle (float32), a `warmup` flag for rows "
        "whose indicators are not yet defined, and `gap_minutes` since the previous candle. "
        "Computed with the previous month as warm-up, so months join exactly.",
        ins={
            "raw_candles": dg.AssetIn(
                partition_mapping=months_mapping(-1, 0), metadata={"by_month": True}
            )
        },
        automation_condition=FOLLOW_CANDLES,
    )(features)
    check = stored_partition_check(
        partitions.symbol_month,
        "features",
        "features_sound",
        "The 15 SPEC channels, float32; no inf; NaN only in rows marked warm-up.",
        feature_problems,
    )
    return dg.Definitions(assets=[asset], asset_checks=[check], sensors=[automation_sensor])
