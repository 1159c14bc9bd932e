"""Running an experiment's search from a script or a job (the shell around ``search_study``):
each trial becomes a Dagster partition of ``experiment_variant`` and ``experiment_fold`` like a
written variant, and each fold one run of ``experiment_job`` (``experiment_runner.run_fold``),
so a search trains through the one fold step and shows in the UI as any trial does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import dagster as dg

from resnet_pipeline.artifacts import read_json
from resnet_pipeline.defs.experiments.experiment_runner import QUIET, register_experiment, run_fold
from resnet_pipeline.defs.experiments.trials import resolve_trial
from resnet_pipeline.experiments.experiment_file import Experiment
from resnet_pipeline.experiments.search_study import (
    SearchError,
    SearchTally,
    open_study,
    run_search,
    search_files,
    storage_url,
    study_name,
)
from resnet_pipeline.experiments.trial_keys import trial_key
from resnet_pipeline.partitions import EXPERIMENT_TRIALS


class DagsterFolds:
    """``search_study.FoldRunner`` through the instance: a trial's partition is added and its
    variant resolved before its first fold; each fold is a run of ``experiment_job``."""

    def __init__(
        self,
        defs: dg.Definitions,
        instance: dg.DagsterInstance,
        experiment: Experiment,
        symbol: str,
    ) -> None:
        self.defs, self.instance = defs, instance
        self.experiment, self.symbol = experiment, symbol

    def _key(self, variant: str) -> str:
        return trial_key(self.experiment.name, self.symbol, variant)

    def start(self, variant: str) -> None:
        key = self._key(variant)
        if not self.instance.has_dynamic_partition(EXPERIMENT_TRIALS.name, key):
            self.instance.add_dynamic_partitions(EXPERIMENT_TRIALS.name, [key])
        self.defs.resolve_job_def("experiment_variant_job").execute_in_process(
            partition_key=key, instance=self.instance, run_config=QUIET
        )

    def fold(self, variant: str, month: date) -> dict:
        resources = self.defs.resources
        layout = resources["store"].layout
        trial = resolve_trial(
            self._key(variant), resources["experiments"], layout, resources["venue"].market
        )
        run_fold(self.defs, self.instance, trial, month)
        return read_json(trial.files(layout).trial(trial.config.config_hash).fold(month).info)


def instance_postgres(instance: dg.DagsterInstance) -> str | None:
    """The SQLAlchemy URL of the instance's PostgreSQL, when its storage is one."""
    return getattr(instance.run_storage, "postgres_url", None)


def search_experiment(
    experiment: Experiment,
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    trials: int,
    symbols: Sequence[str] | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, SearchTally]:
    """``trials`` more trials of the experiment's search for each of ``symbols`` (default:
    the file's), after registering the file's partitions; symbol -> what the search did."""
    if experiment.search is None:
        raise SearchError(
            f"{experiment.path} has no search section: add one (docs/experiments.md, Search)"
        )
    register_experiment(experiment, instance, defs)
    layout = defs.resources["store"].layout
    market = defs.resources["venue"].market
    postgres = instance_postgres(instance)
    out = {}
    for symbol in symbols or experiment.symbols:
        files = layout.experiment(experiment.name, symbol)
        url = storage_url(files, postgres)
        where = "the instance's PostgreSQL" if postgres else str(files.search_db)
        name = study_name(experiment.name, symbol)
        say(f"search {name}: {trials} more trial(s), study in {where}")
        study = open_study(experiment.search, url, name)
        runner = DagsterFolds(defs, instance, experiment, symbol)
        out[symbol] = run_search(
            experiment, symbol, study, search_files(files, experiment), runner, trials, market, say
        )
    return out
