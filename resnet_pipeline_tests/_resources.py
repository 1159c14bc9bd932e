"""The pipeline's resources on one data root, as `definitions.build_resources` wires them."""

from __future__ import annotations

from pathlib import Path

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
