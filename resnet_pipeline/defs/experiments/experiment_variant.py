"""`experiment_variant` (trial): a variant's resolved configuration, read from its experiment
file. Its Dagster data version is the configuration's hash, so when a variant's configuration
changes and this asset is materialized again (the ``experiment_partitions`` sensor requests
that run), the UI marks the variant's folds stale. It writes nothing: the ledger records a
configuration when its first fold is evaluated."""

import json

import dagster as dg

from resnet_pipeline.defs.experiments.trials import resolve_trial
from resnet_pipeline.defs.metadata import EXPERIMENTS, OWNERS, settings_list
from resnet_pipeline.partitions import EXPERIMENT_TRIALS
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue

CONFIG_HASH = "config_hash"


@dg.asset(
    partitions_def=EXPERIMENT_TRIALS,
    group_name=EXPERIMENTS,
    kinds={"yaml"},
    owners=OWNERS,
    code_version="1",
    description="A variant's configuration, resolved from its experiment file (every section "
    "of the one typed config, defaults included); its data version is the configuration's "
    "hash, so the variant's folds turn stale when it changes.",
)
def experiment_variant(
    context: dg.AssetExecutionContext,
    store: DataStore,
    experiments: ExperimentDirectory,
    venue: TradingVenue,
) -> dg.MaterializeResult:
    trial = resolve_trial(context.partition_key, experiments, store.layout, venue.market)
    variant = trial.experiment.variant(trial.key.variant)
    return dg.MaterializeResult(
        metadata={
            CONFIG_HASH: trial.config.config_hash,
            "source": trial.source,
            "file": trial.experiment.path,
            "overrides": dg.MetadataValue.md(
                "\n".join(
                    f"- {line}" for line in settings_list(variant.overrides if variant else {})
                )
                or "none: the base settings"
            ),
            "config": dg.MetadataValue.md(
                "```json\n" + json.dumps(trial.config.sections(), indent=1) + "\n```"
            ),
        },
        data_version=dg.DataVersion(trial.config.config_hash),
    )


defs = dg.Definitions(assets=[experiment_variant])
