"""Which Dagster partitions the experiment files call for: a trial key per (experiment, symbol,
variant) with its configuration's hash, a fold month per month an experiment runs, and a report
key per (experiment, symbol). Adding them is the sensor's and the command line's job; no trial
or report key is ever removed, so a deleted variant stays a partition (its trial stays in the
ledger). Fold months stay in calendar order (``month_requests``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from resnet_pipeline.experiments.experiment_file import (
    Experiment,
    ExperimentError,
    load_experiment,
    months_within,
)
from resnet_pipeline.experiments.trial_keys import report_key, trial_key
from resnet_pipeline.partition_months import MonthSpan


@dataclass
class Registration:
    configs: dict[str, str] = field(default_factory=dict)  # trial key -> config hash
    reports: list[str] = field(default_factory=list)
    months: set[date] = field(default_factory=set)  # the fold months of every file
    problems: list[str] = field(default_factory=list)  # files that could not be read

    @property
    def trials(self) -> list[str]:
        return list(self.configs)

    def add(self, experiment: Experiment) -> None:
        for symbol in experiment.symbols:
            for variant in experiment.variants:
                key = trial_key(experiment.name, symbol, variant.name)
                self.configs[key] = variant.config.config_hash
            self.reports.append(report_key(experiment.name, symbol))
        self.months.update(experiment.all_months)


def registration(
    paths: Sequence[Path], symbols: Sequence[str], market: str, span: MonthSpan
) -> Registration:
    """The keys of every readable file in ``paths`` whose months are fold months of ``span``;
    any other is named in ``problems`` and registers nothing (its keys, if any, stay as they
    were)."""
    out = Registration()
    for path in paths:
        try:
            experiment = load_experiment(path, symbols, market)
            months_within(experiment, span)
            out.add(experiment)
        except ExperimentError as error:
            out.problems.append(str(error))
    return out


def month_requests(known: Sequence[str], wanted: Iterable[str]) -> tuple[list[str], list[str]]:
    """(keys to delete, keys to add, in this order) so that the fold months hold ``wanted`` in
    calendar order. Dagster orders a dynamic dimension by when each key was added and reads a
    partition range ``A...B`` by that order, so a month earlier than some known month is added
    by taking the later ones out and adding them back after it (their materializations are
    kept: Dagster records them by key)."""
    new = sorted(set(wanted) - set(known))
    if not new:
        return [], []
    later = [key for key in known if key > new[0]]
    return later, sorted(set(later) | set(new))
