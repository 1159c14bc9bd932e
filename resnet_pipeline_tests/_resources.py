"""The pipeline's resources on one data root, as `definitions.build_resources` wires them, and
the chain of assets the end-to-end tests materialize."""

from __future__ import annotations

from pathlib import Path

from resnet_pipeline.assets import (
    backtest_report,
    dataset,
    features,
    ingestion,
    labels,
    modeling,
    test_metrics,
)
from resnet_pipeline.resources.candle_source import CandleSourceResource, SyntheticCandles
from resnet_pipeline.resources.io_manager import DataStore, MonthlyParquetIOManagerFactory


def pipeline_resources(
    root: str | Path, source: CandleSourceResource | None = None
) -> dict[str, object]:
    """IO manager and store on one root (synthetic candles unless ``source`` is given)."""
    store = DataStore(root=str(root))
    return {
        "io_manager": MonthlyParquetIOManagerFactory(store=store),
        "store": store,
        "candle_source": source or SyntheticCandles(),
    }


# One symbol from candles to the backtest, in graph order.
CHAIN_ASSETS = [
    ingestion.raw_candles,
    features.features,
    labels.labels,
    dataset.dataset_splits,
    modeling.trained_model,
    test_metrics.test_metrics,
    backtest_report.backtest_report,
]
