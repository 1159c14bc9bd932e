"""The monthly walk-forward (the experiment of one variant, run every month): a fold model per
month, its predictions, the stitched report and the schedule that runs them when a month
closes."""

import dagster as dg

from resnet_pipeline.defs.walk_forward import (
    walk_forward_schedule,
    wf_model,
    wf_predictions,
    wf_report,
)
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.settings import Settings


def build_defs(settings: Settings, partitions: Partitions) -> dg.Definitions:
    return dg.Definitions.merge(
        wf_model.build(partitions),
        wf_predictions.build(partitions),
        wf_report.build(partitions),
        walk_forward_schedule.build(settings),
    )
