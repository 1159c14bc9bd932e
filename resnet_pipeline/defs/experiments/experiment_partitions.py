"""`experiment_partitions` (sensor, on by default): reads every experiment file and adds the
Dagster partitions they call for (``SensorResult(dynamic_partitions_requests=...)``), and asks
for an ``experiment_variant`` run wherever a variant's configuration hash differs from the one
last materialized, so the UI marks that variant's folds stale. A file that cannot be read is
named in the tick's log and registers nothing."""

import dagster as dg

from resnet_pipeline.defs.experiments.experiment_variant import CONFIG_HASH
from resnet_pipeline.experiments.experiment_file import experiment_files
from resnet_pipeline.experiments.registration import Registration, registration
from resnet_pipeline.partitions import EXPERIMENT_REPORTS, EXPERIMENT_TRIALS
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.venue import TradingVenue

EXPERIMENT_VARIANT = dg.AssetKey("experiment_variant")
experiment_variant_job = dg.define_asset_job(
    "experiment_variant_job",
    selection=[EXPERIMENT_VARIANT],
    description="Resolve a variant's configuration from its experiment file.",
)


def recorded_hash(instance: dg.DagsterInstance, trial: str) -> str | None:
    """The configuration hash experiment_variant last recorded for ``trial``."""
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=EXPERIMENT_VARIANT, asset_partitions=[trial]), limit=1
    )
    if not found.records:
        return None
    value = (found.records[0].asset_materialization.metadata or {}).get(CONFIG_HASH)
    return getattr(value, "value", value)


def missing_keys(
    instance: dg.DagsterInstance, plan: Registration
) -> list[tuple[dg.DynamicPartitionsDefinition, list[str]]]:
    """The keys ``plan`` has and the instance lacks, per dynamic partitions definition."""
    out = []
    wanted_by = ((EXPERIMENT_TRIALS, plan.trials), (EXPERIMENT_REPORTS, plan.reports))
    for partitions, wanted in wanted_by:
        known = set(instance.get_dynamic_partitions(partitions.name))
        new = [k for k in wanted if k not in known]
        if new:
            out.append((partitions, new))
    return out


def stale_variants(instance: dg.DagsterInstance, plan: Registration) -> dict[str, str | None]:
    """Trials whose configuration hash is not the one last recorded: key -> recorded hash."""
    out = {}
    for key, digest in plan.configs.items():
        recorded = recorded_hash(instance, key)
        if recorded != digest:
            out[key] = recorded
    return out


@dg.sensor(
    job=experiment_variant_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Adds the partitions of every experiment file (RESNET_EXPERIMENTS_DIR) and "
    "re-resolves variants whose configuration changed.",
)
def experiment_partitions(
    context: dg.SensorEvaluationContext, experiments: ExperimentDirectory, venue: TradingVenue
) -> dg.SensorResult:
    paths = experiment_files(experiments.directory)
    if not paths:
        return dg.SensorResult(skip_reason=f"no experiment files in {experiments.directory}")
    plan = registration(paths, experiments.symbols, venue.market)
    for problem in plan.problems:
        context.log.warning(problem)
    runs = [
        dg.RunRequest(partition_key=key, run_key=f"{key}@{recorded}->{plan.configs[key]}")
        for key, recorded in stale_variants(context.instance, plan).items()
    ]
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[
            partitions.build_add_request(keys)
            for partitions, keys in missing_keys(context.instance, plan)
        ],
    )
