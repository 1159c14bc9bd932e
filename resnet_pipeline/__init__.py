"""resnet_pipeline: Bybit 1-minute candles to a 1D ResNet direction classifier, on Dagster."""

import warnings

# Dagster 1.13 marks features docs/DESIGN.md relies on knowingly (per-partition asset checks, the
# month-offset partition mappings) as preview/beta; the warnings would be noise in every CLI call.
for _message in (
    "Specifying a partitions_def on an AssetCheckSpec",
    "Class `MultiPartitionMapping` is currently in beta",
    "Class `MultiToSingleDimensionPartitionMapping` is currently in beta",
    "Parameter `allow_nonexistent_upstream_partitions`",
    "Parameter `backfill_policy` of function `asset`",
):
    warnings.filterwarnings("ignore", _message)
