"""The dataset of one symbol and the model trained on it, and the job that runs the heavy
half of the graph (dataset -> model -> metrics -> backtest -> signal)."""

import dagster as dg

from resnet_pipeline.defs.metadata import EVALUATION, MODELING
from resnet_pipeline.defs.training import dataset_splits, trained_model
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.settings import Settings

# Launched explicitly (UI, CLI, demo); its runs share the "trainer" concurrency slot.
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups(MODELING, EVALUATION),
    tags={"resnet_pipeline/resource": "trainer"},
    description="Build the dataset, train, evaluate and backtest one symbol.",
)


def build_defs(settings: Settings, partitions: Partitions) -> dg.Definitions:
    return dg.Definitions.merge(
        dataset_splits.build(partitions),
        trained_model.build(partitions),
        dg.Definitions(jobs=[training_job]),
    )
