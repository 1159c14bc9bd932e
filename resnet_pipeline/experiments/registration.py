"""Which Dagster partitions the experiment files call for: a trial key per (experiment, symbol,
variant) with its configuration's hash, and a report key per (experiment, symbol). Adding them
is the sensor's and the command line's job; nothing here removes a key, so a deleted variant
stays a partition (its trial stays in the ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resnet_pipeline.experiments.experiment_file import Experiment, ExperimentError, load_experiment
from resnet_pipeline.experiments.trial_keys import report_key, trial_key


@dataclass
class Registration:
    configs: dict[str, str] = field(default_factory=dict)  # trial key -> config hash
    reports: list[str] = field(default_factory=list)
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


def registration(paths: Sequence[Path], symbols: Sequence[str], market: str) -> Registration:
    """The keys of every readable file in ``paths``; an unreadable one is named in
    ``problems`` and registers nothing (its keys, if any, stay as they were)."""
    out = Registration()
    for path in paths:
        try:
            out.add(load_experiment(path, symbols, market))
        except ExperimentError as error:
            out.problems.append(str(error))
    return out
