"""resnet_pipeline: Bybit 1-minute candles to a 1D ResNet direction classifier, on Dagster."""
