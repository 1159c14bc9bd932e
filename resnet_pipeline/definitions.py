"""The one Definitions object: assets by domain, checks, schedules, resources from settings.

The executor comes from ``RESNET_EXECUTOR`` (resnet_pipeline/executors.py): unset, Dagster's
default; ``celery``, every step a Celery task. Runs and Celery workers load this same module
(``-m resnet_pipeline.definitions``), so both see one executor configuration.
"""

from __future__ import annotations

import dagster as dg

from resnet_pipeline.assets import (
    backtest_report,
    dataset,
    features,
    ingestion,
    labels,
    modeling,
    signal,
    test_metrics,
    walk_forward,
)
from resnet_pipeline.assets.common import EVALUATION, MODELING, SETTINGS
from resnet_pipeline.executors import select_executor
from resnet_pipeline.resources.candle_source import (
    BybitCandles,
    CandleSourceResource,
    FilesCandles,
    SyntheticCandles,
)
from resnet_pipeline.resources.io_manager import DataStore, MonthlyParquetIOManagerFactory
from resnet_pipeline.settings import Settings


def candle_source_for(settings: Settings) -> CandleSourceResource:
    """The source RESNET_SOURCE names; the base URL stays an EnvVar (it may hold credentials,
    which the UI then never shows)."""
    if settings.source == "synthetic":
        return SyntheticCandles()
    if settings.source == "files":
        return FilesCandles(
            files_dir=settings.files_dir or "", files_columns=dict(settings.files_columns)
        )
    return BybitCandles(
        base_url=dg.EnvVar("BYBIT_BASE_URL") if settings.bybit_base_url else None,
        market=settings.bybit_market,
    )


def resources_on(root: str, source: CandleSourceResource) -> dict[str, object]:
    """One storage root: the IO manager is built on the very DataStore the assets use."""
    store = DataStore(root=root)
    return {
        "io_manager": MonthlyParquetIOManagerFactory(store=store),
        "store": store,
        "candle_source": source,
    }


def build_resources(settings: Settings) -> dict[str, object]:
    return resources_on(settings.data_dir, candle_source_for(settings))


# dataset -> model -> metrics -> backtest -> signal for one symbol: the heavy half of the graph,
# launched explicitly (UI, CLI, demo); its runs share the "trainer" concurrency slot.
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups(MODELING, EVALUATION),
    tags={"resnet_pipeline/resource": "trainer"},
    description="Build the dataset, train, evaluate and backtest one symbol.",
)

defs = dg.Definitions.merge(
    ingestion.defs,
    features.defs,
    labels.defs,
    dataset.defs,
    modeling.defs,
    test_metrics.defs,
    backtest_report.defs,
    signal.defs,
    walk_forward.defs,
    dg.Definitions(
        jobs=[training_job],
        resources=build_resources(SETTINGS),
        executor=select_executor(),  # None: Dagster's default executor
    ),
)
