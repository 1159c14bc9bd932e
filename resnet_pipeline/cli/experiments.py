"""The command line of experiments (shell: it talks to the Dagster instance at DAGSTER_HOME).

    python -m resnet_pipeline.cli.experiments check experiments/horizons.yaml
    python -m resnet_pipeline.cli.experiments register experiments/horizons.yaml
    python -m resnet_pipeline.cli.experiments run experiments/horizons.yaml [--n-boot 1000]
    python -m resnet_pipeline.cli.experiments search experiments/search-demo.yaml [--trials 20]

``check`` reads and validates the file and prints its variants, their configuration hashes and
partition keys. ``register`` adds the file's partitions to the instance (as the
``experiment_partitions`` sensor does, through ``DagsterInstance.add_dynamic_partitions``),
resolves every new or changed variant (``experiment_variant``) and prints the commands that run
the folds and the reports. ``run`` registers, then materializes every fold not finished yet
(each trial's months oldest first, so warm starts find the previous month; a finished fold is
skipped, saying so) and each report in this process, and prints the verdicts. ``search`` runs
``--trials`` more trials of the file's search (default: its ``n_trials``), a line per trial
(done, pruned, best objective so far, ETA); ``experiment_search_job`` does the same from the UI.
The file must live in RESNET_EXPERIMENTS_DIR: the assets read it there.

Each action refuses first what ``run`` would refuse later: the file (``experiment_file``), its
months against the month partitions (``partition_months``, read without Dagster) and
``--n-boot`` (the report's ``BootstrapConfig``). ``check`` imports neither Dagster nor torch,
so it answers in a fraction of a second; ``register`` and ``run`` import them when they start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from resnet_pipeline.commands import (
    experiment_command,
    materialize_experiment_report,
    materialize_trial_months,
)
from resnet_pipeline.experiments.experiment_file import (
    Experiment,
    ExperimentError,
    experiment_path,
    load_experiment,
    months_within,
)
from resnet_pipeline.experiments.search_space import MAX_SEARCH_TRIALS
from resnet_pipeline.experiments.trial_keys import report_key, trial_key
from resnet_pipeline.knobs import KnobError
from resnet_pipeline.ml.evaluation.bootstrap_config import BootstrapConfig
from resnet_pipeline.partition_months import month_span
from resnet_pipeline.settings import Settings, SettingsError, current_settings


def _locate(argument: str, directory: str) -> Path:
    """The experiment file ``argument`` names (a path, or a name in ``directory``); refused
    outside ``directory``, where the assets would not find it."""
    given = Path(argument)
    path = given if given.suffix else experiment_path(directory, argument)
    if path.resolve().parent != Path(directory).resolve():
        raise ExperimentError(
            f"{path} is not in RESNET_EXPERIMENTS_DIR={directory}, where the experiment assets "
            f"read experiment files: move it to {Path(directory) / path.name}, or set "
            f"RESNET_EXPERIMENTS_DIR={path.parent}"
        )
    return path


def _print_plan(experiment: Experiment) -> None:
    print(f"{experiment.name}: months {', '.join(f'{m:%Y-%m}' for m in experiment.months)}")
    for variant in experiment.variants:
        print(f"  {variant.name:<40} {variant.config.config_hash[:12]}  {variant.overrides}")
    search = experiment.search
    if search is not None:
        months = experiment.search_months or experiment.months
        print(
            f"  search: {search.n_trials} trials, {search.sampler} sampler (seed {search.seed}), "
            f"{search.pruner} pruner, objective {search.objective} on "
            f"{', '.join(f'{m:%Y-%m}' for m in months)}"
        )
        for dimension in search.space:
            print(f"    {dimension.name:<38} {dimension.kind} {dimension.checked_values()}")
    for symbol in experiment.symbols:
        print(f"  report partition: {report_key(experiment.name, symbol)}")


def _commands(experiment: Experiment) -> list[str]:
    first, last = experiment.months[0], experiment.months[-1]
    out = [
        materialize_trial_months(trial_key(experiment.name, s, v.name), first, last)
        for s in experiment.symbols
        for v in experiment.variants
    ]
    return out + [
        materialize_experiment_report(report_key(experiment.name, s)) for s in experiment.symbols
    ]


def checked_experiment(argument: str, settings: Settings, n_boot: int) -> Experiment:
    """The experiment ``argument`` names, refused (``ExperimentError``) where ``run`` would
    fail on it: the file, its months against the month partitions, the report's ``n_boot``."""
    try:
        BootstrapConfig(n_boot=n_boot)
    except KnobError as error:
        raise ExperimentError(f"--n-boot {str(error).removeprefix('n_boot=')}") from None
    path = _locate(argument, settings.experiments_dir)
    experiment = load_experiment(path, settings.symbols, settings.bybit_market, settings.source)
    months_within(experiment, month_span(settings))
    return experiment


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resnet_pipeline.cli.experiments")
    parser.add_argument("action", choices=("check", "register", "run", "search"))
    parser.add_argument("file", help="experiments/<name>.yaml, or the name")
    parser.add_argument(
        "--n-boot", type=int, default=BootstrapConfig().n_boot, help="report intervals' resamples"
    )
    parser.add_argument(
        "--trials", type=int, default=None, help="search: trials to add (default: n_trials)"
    )
    args = parser.parse_args(argv)
    try:
        settings = current_settings()
        experiment = checked_experiment(args.file, settings, args.n_boot)
        trials = _trials(experiment, args) if args.action == "search" else 0
    except (ExperimentError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_plan(experiment)
    if args.action == "check":
        return 0
    if not os.environ.get("DAGSTER_HOME"):
        print(
            "error: DAGSTER_HOME is not set: partitions are registered in the instance the UI "
            "and the CLI use; set DAGSTER_HOME (the scripts use $PWD/.dagster_home)",
            file=sys.stderr,
        )
        return 2
    import dagster as dg

    from resnet_pipeline.definitions import build_definitions
    from resnet_pipeline.defs.experiments.experiment_runner import (
        register_experiment,
        run_experiment,
    )

    defs = build_definitions(settings)
    instance = dg.DagsterInstance.get()
    if args.action == "search":
        return _search(experiment, instance, defs, trials)
    register_experiment(experiment, instance, defs)
    if args.action == "register":
        print("\nrun the folds (one trial's months in one run) and the reports:")
        print("\n".join(_commands(experiment)))
        print(
            f"\nor everything in this process: {experiment_command('run', Path(experiment.path))}"
        )
        return 0
    run_experiment(experiment, instance, defs, {"n_boot": args.n_boot})
    return 0


def _trials(experiment: Experiment, args: argparse.Namespace) -> int:
    """How many trials ``search`` adds: ``--trials``, else the file's ``n_trials``."""
    if experiment.search is None:
        raise ExperimentError(
            f"{experiment.path} has no search section: add one (docs/experiments.md, Search), "
            f"or run its variants: {experiment_command('run', Path(experiment.path))}"
        )
    trials = experiment.search.n_trials if args.trials is None else args.trials
    if not 1 <= trials <= MAX_SEARCH_TRIALS:
        raise ExperimentError(f"--trials {trials}: give a number from 1 to {MAX_SEARCH_TRIALS:,}")
    return trials


def _search(experiment: Experiment, instance, defs, trials: int) -> int:
    from resnet_pipeline.defs.experiments.search_runner import search_experiment
    from resnet_pipeline.experiments.search_study import SearchError

    try:
        tallies = search_experiment(experiment, instance, defs, trials)
    except SearchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for symbol, tally in tallies.items():
        best = (
            f"{tally.best[1]} ({tally.best[0]:.4f})" if tally.best else "none (no trial completed)"
        )
        print(f"\n{experiment.name}/{symbol}: best trial {best}")
        if experiment.search_months:
            print(
                "   the verdict months never saw the search: put the best configuration in the "
                "file's variants (its trial.json under search/trials/) and run it: "
                + experiment_command("run", Path(experiment.path))
            )
        else:
            report = materialize_experiment_report(report_key(experiment.name, symbol))
            print(f"   the verdict over every trial: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
