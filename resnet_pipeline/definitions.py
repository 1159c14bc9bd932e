"""The one Definitions object: assets by domain, checks, schedules, resources from settings."""

from __future__ import annotations

import dagster as dg

from resnet_pipeline.assets import dataset, evaluation, features, ingestion, modeling, signal
from resnet_pipeline.assets.common import EVALUATION, MODELING, SETTINGS
from resnet_pipeline.resources.candle_source import CandleSourceResource
from resnet_pipeline.resources.io_manager import DataStore, MonthlyParquetIOManagerFactory
from resnet_pipeline.settings import Settings


def build_resources(settings: Settings) -> dict[str, object]:
    return {
        "io_manager": MonthlyParquetIOManagerFactory(root=settings.data_dir),
        "store": DataStore(root=settings.data_dir),
        "candle_source": CandleSourceResource(
            kind=settings.source,
            base_url=settings.bybit_base_url,
            files_dir=settings.files_dir,
            market=settings.bybit_market,
        ),
    }


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
    dataset.defs,
    modeling.defs,
    evaluation.defs,
    signal.defs,
    dg.Definitions(jobs=[training_job], resources=build_resources(SETTINGS)),
)
