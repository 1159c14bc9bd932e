"""The monthly walk-forward: a fold model per month, its predictions, the stitched report and
the schedule that runs them when a month closes."""

import dagster as dg

from resnet_pipeline.assets import fold_models, fold_predictions, walk_forward_report
from resnet_pipeline.defs.walk_forward import walk_forward_schedule
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.settings import Settings


def build_defs(settings: Settings, partitions: Partitions) -> dg.Definitions:
    return dg.Definitions.merge(
        fold_models.defs,
        fold_predictions.defs,
        walk_forward_report.defs,
        walk_forward_schedule.build(settings),
    )
