"""A fold trained inside a Dagster run, as ``wf_model`` and ``experiment_fold`` both do: its
rows cut from the run's history, its progress in the run's log, its errors the run's failure."""

from __future__ import annotations

from datetime import date

import dagster as dg

from resnet_pipeline.experiments.fold_inputs import FoldData, FoldHistory, FoldInputError
from resnet_pipeline.experiments.fold_step import FoldSeries, FoldTrained, train_fold_step


def fold_of_run(history: FoldHistory, month: date, label: str) -> FoldData:
    """The fold of ``month`` from the months the run read; a failure names ``label``."""
    try:
        return history.fold(month)
    except FoldInputError as error:
        raise dg.Failure(f"{label}: {error}") from error


def train_in_run(
    context: dg.AssetExecutionContext, series: FoldSeries, data: FoldData, label: str
) -> FoldTrained:
    """``train_fold_step`` with its lines in the run's log under ``label``; a training that
    cannot run (a state of another training, a NaN loss, too few samples) fails the run."""

    def log(level: str, line: str) -> None:
        getattr(context.log, level)(f"{label} {line}")

    try:
        return train_fold_step(series, data, log)
    except ValueError as error:
        raise dg.Failure(f"{label}: {error}") from error
