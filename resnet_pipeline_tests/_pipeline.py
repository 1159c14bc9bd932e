"""The pipeline's definitions built from explicit settings (the defaults: BTCUSDT and ETHUSDT
from 2024-01), and their pieces by name, for tests that materialize or inspect them."""

from __future__ import annotations

from functools import cache

import dagster as dg

from resnet_pipeline.definitions import build_definitions, build_graph
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.settings import load_settings

SETTINGS = load_settings({})
PARTITIONS = Partitions.of(SETTINGS)
SYMBOL_MONTH = PARTITIONS.symbol_month
SYMBOL = PARTITIONS.symbol


@cache
def pipeline_defs() -> dg.Definitions:
    return build_definitions(SETTINGS, env={})


@cache
def pipeline_graph() -> dg.Definitions:
    """The same definitions without resources: assets a test materializes with its own."""
    return build_graph(SETTINGS)


def asset(name: str) -> dg.AssetsDefinition:
    for found in pipeline_graph().assets or []:
        if isinstance(found, dg.AssetsDefinition) and found.key == dg.AssetKey(name):
            return found
    raise KeyError(name)


def asset_check(name: str) -> dg.AssetChecksDefinition:
    """An asset check (or multi-asset check) by its name."""
    for checks in pipeline_graph().asset_checks or []:
        if checks.node_def.name == name or name in {k.name for k in checks.check_keys}:
            return checks
    raise KeyError(name)


def schedule(name: str) -> dg.ScheduleDefinition:
    return pipeline_defs().resolve_schedule_def(name)


def job(name: str) -> dg.JobDefinition:
    return pipeline_defs().resolve_job_def(name)
