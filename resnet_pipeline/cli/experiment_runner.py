"""Registering and running an experiment from a script (the command line, the demo): the
shell around the experiment assets, through the jobs of the one Definitions and a Dagster
instance."""

from __future__ import annotations

import dagster as dg

from resnet_pipeline.commands import month_key
from resnet_pipeline.defs.experiments.experiment_partitions import missing_keys, stale_variants
from resnet_pipeline.experiments.experiment_file import Experiment
from resnet_pipeline.experiments.registration import Registration
from resnet_pipeline.experiments.trial_keys import report_key, trial_key

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def register_experiment(
    experiment: Experiment, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    """Add the experiment's partitions and resolve its new or changed variants."""
    plan = Registration()
    plan.add(experiment)
    for partitions, keys in missing_keys(instance, plan):
        instance.add_dynamic_partitions(partitions.name, keys)
        print(f"added {len(keys)} {partitions.name} partition(s)")
    job = defs.resolve_job_def("experiment_variant_job")
    for key in stale_variants(instance, plan):
        job.execute_in_process(partition_key=key, instance=instance, run_config=QUIET)
        print(f"resolved {key}")


def run_experiment(
    experiment: Experiment,
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    report_config: dict | None = None,
) -> dict[str, str]:
    """Every fold of every trial (one run per fold, months oldest first), then each symbol's
    report (``report_config``: the report asset's config); returns symbol -> verdict."""
    folds = defs.resolve_job_def("experiment_job")
    reports = defs.resolve_job_def("experiment_report_job")
    verdicts = {}
    for symbol in experiment.symbols:
        for variant in experiment.variants:
            key = trial_key(experiment.name, symbol, variant.name)
            for month in experiment.months:
                print(f"-> experiment_fold {month_key(key, month)}", flush=True)
                folds.execute_in_process(
                    partition_key=month_key(key, month), instance=instance, run_config=QUIET
                )
        key = report_key(experiment.name, symbol)
        result = reports.execute_in_process(
            partition_key=key,
            instance=instance,
            run_config={"ops": {"experiment_report": {"config": report_config or {}}}} | QUIET,
        )
        event = result.asset_materializations_for_node("experiment_report")[0]
        verdicts[symbol] = event.metadata["verdict"].value
        print(f"   {key}: {verdicts[symbol]}", flush=True)
        print(f"   report: {event.metadata['report_path'].value}", flush=True)
    return verdicts
