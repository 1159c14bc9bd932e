"""A trial's folds as one series of the fold step, and which of them are finished: what
``experiment_fold`` trains and what it (and ``experiments run``, before it starts a run) skips
because the fold on disk is the one a run would train now (``fold_step.finished_fold``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from resnet_pipeline.commands import month_key
from resnet_pipeline.defs.experiments.trials import ResolvedTrial
from resnet_pipeline.experiments.fold_inputs import fold_digests
from resnet_pipeline.experiments.fold_step import COMPLETE, FoldSeries, finished_fold
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.data.augment import AugmentConfig
from resnet_pipeline.ml.training.train_config import TrainConfig

FOLD_ASSET = "experiment_fold"
FOLD_CODE_VERSION = "1"  # experiment_fold's code version: part of each fold's identity


def trial_series(
    layout: Layout,
    trial: ResolvedTrial,
    train: TrainConfig | None = None,
    augment: AugmentConfig | None = None,
    lineage: dict[str, Any] | None = None,
) -> FoldSeries:
    """The trial's folds: one variant's series, stored under its configuration's hash
    (``train``: the run's training plan; the variant's own when only checking)."""
    config, key = trial.config, str(trial.key)
    files = trial.files(layout)
    return FoldSeries(
        symbol=trial.key.symbol,
        config=config,
        train=train or config.train,
        augment=augment,
        root=layout.root,
        files=files.trial(config.config_hash).fold,
        configuration={"config_hash": config.config_hash},
        asset=FOLD_ASSET,
        partition=lambda month: month_key(key, month),
        lineage=(lineage or {})
        | {
            "experiment": trial.experiment.name,
            "variant": trial.key.variant,
            "config_hash": config.config_hash,
        },
        code=FOLD_CODE_VERSION,
    )


def finished(layout: Layout, series: FoldSeries, month: date) -> dict | None:
    """The fold's ``fold.json`` when the fold of ``month`` is complete and made from the same
    configuration, inputs and warm start as a run would use now; None when it must train."""
    config = series.config
    digests = fold_digests(
        layout, series.symbol, month, config.folds, config.labels, config.features
    )
    return finished_fold(series, month, digests)


def skipped_line(trial: ResolvedTrial, month: date) -> str:
    """What a run says of a fold it skips."""
    return f"fold {month:%Y-%m} of trial {trial.key.variant} ({trial.key.symbol}) {COMPLETE}"
