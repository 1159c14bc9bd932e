"""The pipeline's resources on one data root (`definitions.resources_on`, as the deployed
definitions wire them), and the chain of assets the end-to-end tests materialize."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from resnet_pipeline.definitions import resources_on
from resnet_pipeline.resources.candle_source import CandleSourceResource, SyntheticCandles
from resnet_pipeline_tests._pipeline import asset


def pipeline_resources(
    root: str | Path, source: CandleSourceResource | None = None
) -> dict[str, object]:
    """IO manager and store on one root (synthetic candles unless ``source`` is given)."""
    return resources_on(str(root), source or SyntheticCandles())


# One symbol from candles to the backtest, in graph order.
CHAIN_ASSETS = [
    asset(name)
    for name in (
        "raw_candles",
        "features",
        "labels",
        "dataset_splits",
        "trained_model",
        "test_metrics",
        "backtest_report",
    )
]


def materialize_chain(
    root: str | Path,
    instance: dg.DagsterInstance,
    selection: list[str],
    partition: str,
    run_config: dict[str, Any] | None = None,
) -> None:
    """Materialize part of CHAIN_ASSETS on ``root``; fail with the steps' error messages."""
    result = dg.materialize(
        CHAIN_ASSETS,
        selection=selection,
        partition_key=partition,
        resources=pipeline_resources(root),
        instance=instance,
        run_config=run_config or {},
        raise_on_error=False,
    )
    failures = [e.step_failure_data.error.message for e in result.get_step_failure_events()]
    assert result.success, f"{selection} {partition} failed: {failures}"
