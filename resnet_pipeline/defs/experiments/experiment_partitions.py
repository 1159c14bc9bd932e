"""`experiment_partitions` (sensor, on by default): reads every experiment file and adds the
Dagster partitions they call for (``SensorResult(dynamic_partitions_requests=...)``: trials,
fold months in calendar order, reports), and asks
for an ``experiment_variant`` run wherever a variant's configuration hash differs from the one
last materialized, so the UI marks that variant's folds stale. A file that cannot be read, or
whose months are no fold months of the build's month partitions, is named in the tick's log
and registers nothing."""

import dagster as dg

from resnet_pipeline.defs.experiments.experiment_variant import CONFIG_HASH
from resnet_pipeline.experiments.experiment_file import experiment_files
from resnet_pipeline.experiments.registration import Registration, month_requests, registration
from resnet_pipeline.partition_months import MonthSpan
from resnet_pipeline.partitions import (
    EXPERIMENT_MONTHS,
    EXPERIMENT_REPORTS,
    EXPERIMENT_TRIALS,
    fold_month_key,
)
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


PartitionsRequest = dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest


def partition_requests(instance: dg.DagsterInstance, plan: Registration) -> list[PartitionsRequest]:
    """What to change so the instance has the keys of ``plan``, in the order to apply them:
    the trials, the fold months (kept in calendar order: an earlier month takes the later ones
    out and adds them back after it), the reports."""
    out: list[PartitionsRequest] = []
    known = instance.get_dynamic_partitions(EXPERIMENT_TRIALS.name)
    trials = [k for k in plan.trials if k not in set(known)]
    if trials:
        out.append(EXPERIMENT_TRIALS.build_add_request(trials))
    known = instance.get_dynamic_partitions(EXPERIMENT_MONTHS.name)
    taken_out, months = month_requests(known, map(fold_month_key, plan.months))
    if taken_out:
        out.append(EXPERIMENT_MONTHS.build_delete_request(taken_out))
    if months:
        out.append(EXPERIMENT_MONTHS.build_add_request(months))
    known = instance.get_dynamic_partitions(EXPERIMENT_REPORTS.name)
    reports = [k for k in plan.reports if k not in set(known)]
    if reports:
        out.append(EXPERIMENT_REPORTS.build_add_request(reports))
    return out


def apply_requests(instance: dg.DagsterInstance, requests: list[PartitionsRequest]) -> list[str]:
    """Apply ``partition_requests`` to the instance as the sensor daemon does (the command
    line registers without a daemon); returns a line per request."""
    lines = []
    for request in requests:
        name, keys = request.partitions_def_name, list(request.partition_keys)
        if isinstance(request, dg.DeleteDynamicPartitionsRequest):
            for key in keys:
                instance.delete_dynamic_partition(name, key)
            lines.append(f"reordered {len(keys)} {name} partition(s) after an earlier month")
        else:
            instance.add_dynamic_partitions(name, keys)
            lines.append(f"added {len(keys)} {name} partition(s)")
    return lines


def stale_variants(instance: dg.DagsterInstance, plan: Registration) -> dict[str, str | None]:
    """Trials whose configuration hash is not the one last recorded: key -> recorded hash."""
    out = {}
    for key, digest in plan.configs.items():
        recorded = recorded_hash(instance, key)
        if recorded != digest:
            out[key] = recorded
    return out


def build(span: MonthSpan) -> dg.SensorDefinition:
    """The sensor for this build's month partitions: a file whose months are not fold months
    of ``span`` is refused like an unreadable one (``run`` would fail on them)."""

    @dg.sensor(
        name="experiment_partitions",
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
        plan = registration(paths, experiments.symbols, venue.market, span)
        for problem in plan.problems:
            context.log.warning(problem)
        runs = [
            dg.RunRequest(partition_key=key, run_key=f"{key}@{recorded}->{plan.configs[key]}")
            for key, recorded in stale_variants(context.instance, plan).items()
        ]
        return dg.SensorResult(
            run_requests=runs,
            dynamic_partitions_requests=partition_requests(context.instance, plan),
        )

    return experiment_partitions
