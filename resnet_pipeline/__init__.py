"""resnet_pipeline: Bybit 1-minute candles to a 1D ResNet direction classifier, on Dagster."""

import warnings

# Per-partition asset checks (DESIGN.md) are a preview feature in Dagster 1.13, used knowingly;
# its warning would only be noise in every CLI call.
warnings.filterwarnings("ignore", "Specifying a partitions_def on an AssetCheckSpec")
