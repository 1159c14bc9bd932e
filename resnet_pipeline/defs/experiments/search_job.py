"""`experiment_search_job`: N more trials of an experiment's search, started from the UI's
Launchpad (``python -m resnet_pipeline.cli.experiments search FILE --trials N`` is the same
from a shell). The op is the shell's loop (``cli.search_runner``): each trial becomes partitions
of ``experiment_variant`` and ``experiment_fold`` and each fold a run of ``experiment_job``, so
the trials show in the UI as any trial does; the op's log has a line per trial (done, pruned,
best objective so far, ETA)."""

import dagster as dg
from pydantic import Field

from resnet_pipeline.defs.experiments import experiment_fold, experiment_variant
from resnet_pipeline.defs.experiments.experiment_partitions import experiment_variant_job
from resnet_pipeline.defs.experiments.search_runner import search_experiment
from resnet_pipeline.defs.experiments.trials import load_experiment_or_fail
from resnet_pipeline.experiments.search_space import MAX_SEARCH_TRIALS
from resnet_pipeline.experiments.search_study import SearchError
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue


class SearchRunConfig(dg.Config):
    experiment: str = Field(description="the experiment file's name (RESNET_EXPERIMENTS_DIR)")
    trials: int = Field(
        default=0,
        ge=0,
        le=MAX_SEARCH_TRIALS,
        description="trials to add to the study (0: the file's n_trials)",
    )
    symbol: str = Field(default="", description="one of the file's symbols (empty: every one)")


def build(partitions: Partitions) -> dg.Definitions:
    """The job, with the fold asset its nested runs materialize (``partitions``: the data's)."""
    folds = experiment_fold.build(partitions)

    @dg.op(
        name="experiment_search",
        tags={"dagster/kind/optuna": ""},
        description="Run N more trials of an experiment file's search section (Optuna, ask and "
        "tell); each fold is a run of experiment_job.",
    )
    def experiment_search(
        context: dg.OpExecutionContext,
        config: SearchRunConfig,
        store: DataStore,
        experiments: ExperimentDirectory,
        venue: TradingVenue,
        mlflow: MlflowTracking,
    ) -> None:
        experiment = load_experiment_or_fail(experiments, config.experiment, venue.market)
        if experiment.search is None:
            raise dg.Failure(f"{experiment.path} has no search section (docs/experiments.md)")
        if config.symbol and config.symbol not in experiment.symbols:
            raise dg.Failure(
                f"symbol {config.symbol!r} is not one of {list(experiment.symbols)} in "
                f"{experiment.path}: pick one of them or leave it empty"
            )
        resources = {"store": store, "experiments": experiments, "venue": venue, "mlflow": mlflow}
        defs = dg.Definitions.merge(
            experiment_variant.defs,
            folds,
            dg.Definitions(jobs=[experiment_variant_job], resources=resources),
        )
        trials = config.trials or experiment.search.n_trials
        try:
            tallies = search_experiment(
                experiment,
                context.instance,
                defs,
                trials,
                [config.symbol] if config.symbol else None,
                say=context.log.info,
            )
        except SearchError as error:
            raise dg.Failure(str(error)) from error
        for symbol, tally in tallies.items():
            best = f"{tally.best[1]} ({tally.best[0]:.4f})" if tally.best else "none"
            context.log.info(f"{experiment.name}/{symbol}: {tally.done} trials run, best {best}")

    @dg.job(
        name="experiment_search_job",
        description="N more trials of an experiment's search (config: experiment, trials).",
    )
    def experiment_search_job() -> None:
        experiment_search()

    return dg.Definitions(jobs=[experiment_search_job])
