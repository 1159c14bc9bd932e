"""Experiments: variants as data, their folds, the report and verdict over every trial, and
the sensor that registers experiment files."""

import dagster as dg

from resnet_pipeline.defs.experiments import (
    experiment_fold,
    experiment_partitions,
    experiment_report,
    experiment_variant,
    search_job,
)
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.settings import Settings


def build_defs(settings: Settings, partitions: Partitions) -> dg.Definitions:
    return dg.Definitions.merge(
        experiment_variant.defs,
        experiment_fold.build(partitions),
        experiment_report.defs,
        search_job.build(partitions),
        dg.Definitions(
            jobs=[experiment_partitions.experiment_variant_job],
            sensors=[experiment_partitions.build(partitions.months)],
        ),
    )
