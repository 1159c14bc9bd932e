"""The `experiments` resource: the directory of experiment files (RESNET_EXPERIMENTS_DIR), read
when a run or a sensor tick needs an experiment, so the file in git is the source of truth."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from resnet_pipeline.experiments.experiment_file import (
    Experiment,
    experiment_files,
    experiment_path,
    load_experiment,
)


class ExperimentDirectory(dg.ConfigurableResource):
    directory: str = Field(
        default="experiments",
        description="where experiment files (<name>.yaml) are kept (RESNET_EXPERIMENTS_DIR)",
    )
    symbols: list[str] = Field(
        default_factory=list,
        description="the symbols an experiment may name and its default (RESNET_SYMBOLS)",
    )

    def load(self, name: str, market: str) -> Experiment:
        """The experiment ``name``; ``ExperimentError`` (a ValueError) names what is wrong."""
        return load_experiment(experiment_path(self.directory, name), self.symbols, market)

    def names(self) -> list[str]:
        return [path.stem for path in experiment_files(self.directory)]
