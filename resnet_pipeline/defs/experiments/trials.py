"""What the experiment assets share (SPEC 14): their group and partitions, and how a trial key
becomes the configuration its folds train.

Partitions (``partitions.py``; keys by ``experiments.trial_keys``):
- ``experiment_variant``: a trial, ``<experiment>:<symbol>:<variant>`` (dynamic);
- ``experiment_fold``: month x trial, ``2024-02-01|<experiment>:<symbol>:<variant>``;
- ``experiment_report``: ``<experiment>:<symbol>`` (dynamic).
The ``experiment_partitions`` sensor and ``python -m resnet_pipeline.cli.experiments register`` add
the keys of each file; nothing removes them, so a deleted variant stays visible (and counted).

The experiment file is the source of truth: a trial's configuration is read from it when a run
starts. A variant deleted from the file keeps the configuration it was last evaluated with (the
ledger's newest record under its name), so its folds can still be completed. A search's trial
(``search-<number>``) is read from the ledger the search entered it in before its first fold:
the experiment's, or, when the search has months of its own, the search's (``searched``).
"""

from dataclasses import dataclass
from datetime import date

import dagster as dg

from resnet_pipeline.commands import experiment_command
from resnet_pipeline.experiments.experiment_file import Experiment, ExperimentError
from resnet_pipeline.experiments.ledger import latest_of_variant, ledger
from resnet_pipeline.experiments.search_space import is_search_name
from resnet_pipeline.experiments.trial_keys import TrialKey, split_trial_key
from resnet_pipeline.experiments.variant_config import VariantConfig, resolve_config
from resnet_pipeline.layout import ExperimentFiles, Layout
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory


@dataclass(frozen=True)
class ResolvedTrial:
    key: TrialKey
    experiment: Experiment
    config: VariantConfig
    source: str  # where the configuration came from: the file, or the ledger
    searched: bool = False  # a search's trial on the search's own months (its own ledger)

    def files(self, layout: Layout) -> ExperimentFiles:
        """The ledger the trial is in, and its folds' folders."""
        files = layout.experiment(self.experiment.name, self.key.symbol)
        return files.search if self.searched else files

    @property
    def months(self) -> tuple[date, ...]:
        """The months its folds may run: the search's, or the experiment's."""
        return self.experiment.search_months if self.searched else self.experiment.months


def load_experiment_or_fail(experiments: ExperimentDirectory, name: str, market: str) -> Experiment:
    try:
        return experiments.load(name, market)
    except ExperimentError as error:
        raise dg.Failure(str(error)) from error


def resolve_trial(
    key: str, experiments: ExperimentDirectory, layout: Layout, market: str
) -> ResolvedTrial:
    """The trial's experiment and configuration: the variant's in the file, else the one the
    ledger recorded last under its name; a failure names what to fix."""
    try:
        trial = split_trial_key(key)
    except ValueError as error:
        raise dg.Failure(str(error)) from error
    experiment = load_experiment_or_fail(experiments, trial.experiment, market)
    if trial.symbol not in experiment.symbols:
        raise dg.Failure(
            f"{experiment.path} does not list {trial.symbol} (its symbols: "
            f"{list(experiment.symbols)}): add it to the file's symbols, then "
            f"{experiment_command('register', experiment.path)}"
        )
    variant = experiment.variant(trial.variant)
    if variant is not None:
        return ResolvedTrial(trial, experiment, variant.config, "the experiment file")
    files = layout.experiment(trial.experiment, trial.symbol)
    searched = bool(experiment.search_months) and is_search_name(trial.variant)
    record = latest_of_variant(ledger(files.search if searched else files), trial.variant)
    if record is None:
        raise dg.Failure(
            f"variant {trial.variant!r} is neither in {experiment.path} (its variants: "
            f"{[v.name for v in experiment.variants]}) nor in the ledger of "
            f"{trial.experiment}/{trial.symbol}: add it to the file or pick another partition"
        )
    config = resolve_config(record.config, market)
    if config.config_hash != record.config_hash:
        raise dg.Failure(
            f"variant {trial.variant!r} was deleted from {experiment.path}, and its recorded "
            f"configuration (trial {record.config_hash[:12]}) no longer resolves to the same "
            "trial with this code (a knob was added or a default changed): it stays counted in "
            "the ledger; to evaluate it again, add it back to the file (a new trial)"
        )
    if is_search_name(trial.variant) and experiment.search is not None:
        return ResolvedTrial(trial, experiment, config, "the search", searched)
    return ResolvedTrial(trial, experiment, config, "the ledger (deleted from the file)")
