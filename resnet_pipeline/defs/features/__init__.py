"""Features and labels per symbol and month, their checks and the automation that follows
new candles."""

import dagster as dg

from resnet_pipeline.defs.features import features, labels
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.settings import Settings


def build_defs(settings: Settings, partitions: Partitions) -> dg.Definitions:
    return dg.Definitions.merge(features.build(partitions), labels.build(partitions))
