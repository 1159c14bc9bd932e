"""Ingestion: raw candles per symbol and month, their checks, the job and the daily schedule."""

import dagster as dg

from resnet_pipeline.defs.ingestion import daily_candles, raw_candles
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.settings import Settings


def build_defs(settings: Settings, partitions: Partitions) -> dg.Definitions:
    return dg.Definitions.merge(raw_candles.build(partitions), daily_candles.build(settings))
