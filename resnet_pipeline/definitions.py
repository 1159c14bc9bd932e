"""The one Definitions object, built from settings: every domain's definitions (``defs/``),
the resources and the executor.

The executor comes from ``RESNET_EXECUTOR`` (resnet_pipeline/executors.py): unset, Dagster's
default; ``celery``, every step a Celery task. Runs and Celery workers load this same module
(``-m resnet_pipeline.definitions``), so both see one executor configuration.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from resnet_pipeline.defs import (
    evaluation,
    experiments,
    features,
    ingestion,
    training,
    walk_forward,
)
from resnet_pipeline.executors import select_executor
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.resources.candle_source import (
    BybitCandles,
    CandleSourceResource,
    FilesCandles,
    SyntheticCandles,
)
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.io_manager import DataStore, MonthlyParquetIOManagerFactory
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.settings import (
    TRACKING_URI_VARIABLE,
    Settings,
    SettingsError,
    current_settings,
)


def candle_source_for(settings: Settings) -> CandleSourceResource:
    """The source RESNET_SOURCE names; the base URL stays an EnvVar (it may hold credentials,
    which the UI then never shows)."""
    if settings.source == "synthetic":
        return SyntheticCandles(planted_symbols=list(settings.planted_symbols))
    if settings.source == "files":
        return FilesCandles(
            files_dir=settings.files_dir or "", files_columns=dict(settings.files_columns)
        )
    return BybitCandles(
        base_url=dg.EnvVar("BYBIT_BASE_URL") if settings.bybit_base_url else None,
        market=settings.bybit_market,
    )


def resources_on(
    root: str,
    source: CandleSourceResource,
    venue: TradingVenue | None = None,
    experiments: ExperimentDirectory | None = None,
    mlflow: MlflowTracking | None = None,
) -> dict[str, object]:
    """One storage root: the IO manager is built on the very DataStore the assets use."""
    store = DataStore(root=root)
    return {
        "io_manager": MonthlyParquetIOManagerFactory(store=store),
        "store": store,
        "candle_source": source,
        "venue": venue or TradingVenue(),
        "experiments": experiments or ExperimentDirectory(),
        "mlflow": mlflow or MlflowTracking(),
    }


def build_resources(settings: Settings) -> dict[str, object]:
    venue = TradingVenue(market=settings.bybit_market)
    experiments = ExperimentDirectory(
        directory=settings.experiments_dir, symbols=list(settings.symbols)
    )
    # An EnvVar, as BYBIT_BASE_URL: a tracking URI may hold credentials the UI must not show.
    uri = dg.EnvVar(TRACKING_URI_VARIABLE) if settings.mlflow_tracking_uri else None
    mlflow = MlflowTracking(tracking_uri=uri)
    return resources_on(settings.data_dir, candle_source_for(settings), venue, experiments, mlflow)


DOMAINS = (ingestion, features, training, evaluation, walk_forward, experiments)


def build_graph(settings: Settings) -> dg.Definitions:
    """Every domain's assets, checks, jobs, sensors and schedules, on the partitions
    ``settings`` give, without resources (tests bind their own)."""
    partitions = Partitions.of(settings)
    return dg.Definitions.merge(*(domain.build_defs(settings, partitions) for domain in DOMAINS))


def build_definitions(settings: Settings, env: Mapping[str, str] | None = None) -> dg.Definitions:
    """The graph with the resources ``settings`` give and the executor ``env`` selects
    (RESNET_EXECUTOR; the process environment by default). Nothing here reads the environment
    but that."""
    return dg.Definitions.merge(
        build_graph(settings),
        dg.Definitions(
            resources=build_resources(settings),
            executor=select_executor(env),  # None: Dagster's default executor
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What Dagster loads (``dagster -m resnet_pipeline.definitions``, ``dg``): the settings are
    read from the environment when the code location loads, not when a module is imported.
    A bad setting is raised afresh here, so Dagster's report of it (``dagster definitions
    validate``, the UI) is its paragraph and this one frame, not the frames that read it."""
    try:
        return build_definitions(current_settings())
    except SettingsError as error:
        raise SettingsError(str(error)) from None
