"""Registering and running an experiment from a script (the command line, the demo): the
shell around the experiment assets, through the jobs of the one Definitions and a Dagster
instance. A fold already finished (same configuration, inputs and warm start) starts no run."""

from __future__ import annotations

from datetime import date

import dagster as dg

from resnet_pipeline.commands import month_key
from resnet_pipeline.defs.experiments.experiment_fold import SKIPPED
from resnet_pipeline.defs.experiments.experiment_partitions import (
    apply_requests,
    partition_requests,
    stale_variants,
)
from resnet_pipeline.defs.experiments.trial_folds import finished, skipped_line, trial_series
from resnet_pipeline.defs.experiments.trials import ResolvedTrial, resolve_trial
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
    for line in apply_requests(instance, partition_requests(instance, plan)):
        print(line)
    job = defs.resolve_job_def("experiment_variant_job")
    for key in stale_variants(instance, plan):
        job.execute_in_process(partition_key=key, instance=instance, run_config=QUIET)
        print(f"resolved {key}")


def run_fold(
    defs: dg.Definitions, instance: dg.DagsterInstance, trial: ResolvedTrial, month: date
) -> bool:
    """The fold of ``trial`` for ``month``, unless it is finished: then no run starts. Returns
    whether it trained (a fold another run finished while this one waited for the training
    lock is skipped by the run itself, and said so here too)."""
    layout = defs.resources["store"].layout
    if finished(layout, trial_series(layout, trial), month) is not None:
        print(f"   {skipped_line(trial, month)}", flush=True)
        return False
    partition = month_key(str(trial.key), month)
    print(f"-> experiment_fold {partition}", flush=True)
    result = defs.resolve_job_def("experiment_job").execute_in_process(
        partition_key=partition, instance=instance, run_config=QUIET
    )
    event = result.asset_materializations_for_node("experiment_fold")[0]
    if event.metadata[SKIPPED].value:
        print(f"   {skipped_line(trial, month)}", flush=True)
        return False
    return True


def run_experiment(
    experiment: Experiment,
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    report_config: dict | None = None,
) -> dict[str, str]:
    """Every fold of every trial not finished yet (one run per fold, months oldest first),
    then each symbol's report (``report_config``: the report asset's config); returns
    symbol -> verdict."""
    reports = defs.resolve_job_def("experiment_report_job")
    layout = defs.resources["store"].layout
    experiments, market = defs.resources["experiments"], defs.resources["venue"].market
    verdicts = {}
    for symbol in experiment.symbols:
        for variant in experiment.variants:
            trial = resolve_trial(
                trial_key(experiment.name, symbol, variant.name), experiments, layout, market
            )
            for month in experiment.months:
                run_fold(defs, instance, trial, month)
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
