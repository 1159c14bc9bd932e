"""`labels` (symbol x month): the SPEC 5 label rule applied to stored candles."""

import dagster as dg
import pandas as pd

from resnet_pipeline.defs.metadata import FEATURES, OWNERS, as_series, plain
from resnet_pipeline.defs.monthly import (
    RECENT,
    months_mapping,
    raw_by_month,
    stored_partition_check,
)
from resnet_pipeline.features.labels import CLASS_NAMES, LabelConfig, compute_labels
from resnet_pipeline.partitions import Partitions

SPEC_RULE = LabelConfig()

# labels(M) runs when candles of its months update (not merely because it is missing), and
# never while raw_candles of M or M+1 is missing: a month whose own candles were never
# ingested would fail, and one whose next month is still missing would miss its tail (the
# running month has no M+1 partition, so nothing waits there).
FOLLOW_CANDLES_OF_BOTH_MONTHS = (
    RECENT
    & dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
)


def labels(
    context: dg.AssetExecutionContext, raw_candles: dict[str, pd.DataFrame]
) -> dg.Output[pd.DataFrame]:
    month, candles = raw_by_month(raw_candles, context.partition_key)
    following = [df for m, df in raw_candles.items() if m > month]
    frame = compute_labels(candles, following[0] if following else None, SPEC_RULE)
    counts = frame["label"].value_counts().reindex(range(3), fill_value=0)
    known = int(counts.sum())
    return dg.Output(
        frame,
        metadata=as_series(
            {
                "dagster/row_count": len(frame),
                "missing_labels": plain(frame["label"].isna().sum()),
                "next_month_available": bool(following),
                **{
                    f"share_{name.lower()}": round(int(counts[i]) / known, 6) if known else None
                    for i, name in enumerate(CLASS_NAMES)
                },
            }
        ),
    )


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


def build(partitions: Partitions) -> dg.Definitions:
    """labels on this build's partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol_month,
        group_name=FEATURES,
        kinds={"parquet", "pandas"},
        owners=OWNERS,
        code_version="1",
        description=f"3-class label per candle (0 Down, 1 Neutral, 2 Up) from the "
        f"{SPEC_RULE.forward_window}-minute future return with threshold "
        f"{SPEC_RULE.threshold:g}, and that return. Missing (<NA>) where the future is not "
        "known yet; the month's tail fills in once the next month's candles exist.",
        ins={
            "raw_candles": dg.AssetIn(
                partition_mapping=months_mapping(0, 1), metadata={"by_month": True}
            )
        },
        automation_condition=FOLLOW_CANDLES_OF_BOTH_MONTHS,
    )(labels)
    check = stored_partition_check(
        partitions.symbol_month,
        "labels",
        "labels_sound",
        f"Labels in {{0,1,2}}; missing exactly where the {SPEC_RULE.forward_window}-minute "
        "future is unknown (the month's tail until the next month exists, or an outage).",
        label_problems,
    )
    return dg.Definitions(assets=[asset], asset_checks=[check])
