"""`features` and `labels` (symbol x month): thin adapters over resnet_pipeline.features."""

from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd

from resnet_pipeline.assets.common import FEATURES, OWNERS, SYMBOL_MONTH, markdown_table, plain
from resnet_pipeline.features.channels import FEATURE_CHANNELS, FEATURE_DTYPE, compute_features
from resnet_pipeline.features.labels import CLASS_NAMES, LabelConfig, compute_labels
from resnet_pipeline.partitions import MONTH_DIM, SYMBOL_DIM, split_key
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import partition_path, read_parquet


def _months_mapping(start_offset: int, end_offset: int) -> dg.MultiPartitionMapping:
    """Same symbol, a range of months around this one (missing months are allowed)."""
    return dg.MultiPartitionMapping(
        {
            MONTH_DIM: dg.DimensionPartitionMapping(
                MONTH_DIM,
                dg.TimeWindowPartitionMapping(
                    start_offset=start_offset,
                    end_offset=end_offset,
                    allow_nonexistent_upstream_partitions=True,
                ),
            ),
            SYMBOL_DIM: dg.DimensionPartitionMapping(SYMBOL_DIM, dg.IdentityPartitionMapping()),
        }
    )


# New candles refresh features and labels (the daily ingestion leaves the ingestion side fresh).
# Unlike plain eager(), the running month *and the one before* are eligible, because labels of
# the closed month fill in when the new month's first candles arrive.
_RECENT = dg.AutomationCondition.in_latest_time_window(timedelta(days=62))
FOLLOW_CANDLES = dg.AutomationCondition.eager().replace(
    dg.AutomationCondition.in_latest_time_window(), _RECENT
)
# labels(M) also reads raw_candles(M+1), which is missing until next month: not a blocker.
# It runs when candles of its months update (not merely because it is missing), so a month
# whose own candles were never ingested is not attempted.
FOLLOW_CANDLES_NEXT_MAY_BE_MISSING = (
    _RECENT
    & dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
)


def _raw_by_month(raw: dict[str, pd.DataFrame], key: str) -> tuple[str, pd.DataFrame]:
    symbol, month = split_key(key)
    own = raw.get(month.isoformat())
    if own is None:
        raise dg.Failure(
            description=f"raw_candles {key} is not materialized, so there is nothing to compute "
            f"for {symbol} {month:%Y-%m}. Materialize it first: dagster asset materialize -m "
            f"resnet_pipeline.definitions --select raw_candles --partition '{key}'. (A backfill "
            "of month M also targets this asset for M+1, which fails like this until M+1's "
            "candles exist.)"
        )
    return month.isoformat(), own


@dg.asset(
    partitions_def=SYMBOL_MONTH,
    group_name=FEATURES,
    kinds={"parquet", "pandas"},
    owners=OWNERS,
    code_version="1",
    description="The 15 SPEC feature channels per candle (float32), a `warmup` flag for rows "
    "whose indicators are not yet defined, and `gap_minutes` since the previous candle. "
    "Computed with the previous month as warm-up, so months join exactly.",
    ins={
        "raw_candles": dg.AssetIn(
            partition_mapping=_months_mapping(-1, 0), metadata={"by_month": True}
        )
    },
    automation_condition=FOLLOW_CANDLES,
)
def features(
    context: dg.AssetExecutionContext, raw_candles: dict[str, pd.DataFrame]
) -> dg.Output[pd.DataFrame]:
    month, candles = _raw_by_month(raw_candles, context.partition_key)
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
    return {
        "dagster/row_count": len(frame),
        "warmup_rows": plain(frame["warmup"].sum()),
        "gap_rows": plain((frame["gap_minutes"] > 1).sum()),
        "channels": dg.MetadataValue.md(markdown_table(summary)),
    }


@dg.asset(
    partitions_def=SYMBOL_MONTH,
    group_name=FEATURES,
    kinds={"parquet", "pandas"},
    owners=OWNERS,
    code_version="1",
    description="3-class label per candle (0 Down, 1 Neutral, 2 Up) from the 12-minute "
    "future return with threshold 0.002, and that return. Missing (<NA>) where the future is "
    "not known yet; the month's tail fills in once the next month's candles exist.",
    ins={
        "raw_candles": dg.AssetIn(
            partition_mapping=_months_mapping(0, 1), metadata={"by_month": True}
        )
    },
    automation_condition=FOLLOW_CANDLES_NEXT_MAY_BE_MISSING,
)
def labels(
    context: dg.AssetExecutionContext, raw_candles: dict[str, pd.DataFrame]
) -> dg.Output[pd.DataFrame]:
    month, candles = _raw_by_month(raw_candles, context.partition_key)
    following = [df for m, df in raw_candles.items() if m > month]
    frame = compute_labels(candles, following[0] if following else None, LabelConfig())
    counts = frame["label"].value_counts().reindex(range(3), fill_value=0)
    known = int(counts.sum())
    return dg.Output(
        frame,
        metadata={
            "dagster/row_count": len(frame),
            "missing_labels": plain(frame["label"].isna().sum()),
            "next_month_available": bool(following),
            **{
                f"share_{name.lower()}": round(int(counts[i]) / known, 6) if known else None
                for i, name in enumerate(CLASS_NAMES)
            },
        },
    )


# -- checks (per partition; they read what was stored) ------------------------------------------


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


def label_problems(frame: pd.DataFrame) -> list[str]:
    """Labels in {0, 1, 2}, missing exactly where the future return is unknown."""
    problems = []
    known = frame["label"].dropna()
    if not known.isin([0, 1, 2]).all():
        problems.append(f"labels outside {{0,1,2}}: {sorted(set(known) - {0, 1, 2})}")
    mismatch = frame["label"].isna().to_numpy() != frame["future_return"].isna().to_numpy()
    if mismatch.any():
        problems.append(f"{int(mismatch.sum())} rows: label missing xor future_return missing")
    return problems


def check_stored(root: object, asset: str, partition_key: str, rule) -> dg.AssetCheckResult:
    """Apply ``rule`` to the stored partition (the body of the asset checks below)."""
    symbol, month = split_key(partition_key)
    path = partition_path(root, asset, symbol, month)
    if not path.exists():
        return dg.AssetCheckResult(passed=False, description=f"nothing stored at {path}")
    problems = rule(read_parquet(path))
    return dg.AssetCheckResult(passed=not problems, description="; ".join(problems) or "ok")


def _check(asset: str, name: str, description: str, rule) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=name,
        description=description,
        blocking=True,
        partitions_def=SYMBOL_MONTH,
    )
    def _run(context: dg.AssetCheckExecutionContext, store: DataStore) -> dg.AssetCheckResult:
        return check_stored(store.path, asset, context.partition_key, rule)

    return _run


features_sound = _check(
    "features",
    "features_sound",
    "The 15 SPEC channels, float32; no inf; NaN only in rows marked warm-up.",
    feature_problems,
)
labels_sound = _check(
    "labels",
    "labels_sound",
    "Labels in {0,1,2}; missing exactly where the 12-minute future is unknown (the "
    "month's tail until the next month exists, or an outage).",
    label_problems,
)

automation_sensor = dg.AutomationConditionSensorDefinition(
    "follow_new_candles",
    target=dg.AssetSelection.assets("features", "labels", "latest_signal"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Recomputes features and labels when new candles land (daily ingestion), "
    "and latest_signal once a model exists.",
)

defs = dg.Definitions(
    assets=[features, labels],
    asset_checks=[features_sound, labels_sound],
    sensors=[automation_sensor],
)
