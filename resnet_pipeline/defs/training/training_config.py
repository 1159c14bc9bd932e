"""The training knobs every asset that trains shares (``trained_model``, ``wf_model``): one
config derived from the domain dataclasses, and one function that turns it into what the
trainer takes, so a knob set for one asset means the same for the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import dagster as dg

from resnet_pipeline.defs.dagster_config import dagster_config, part_of
from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.ml.data.augment import AugmentConfig
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.training.device import run_threads
from resnet_pipeline.ml.training.train_config import RunOptions, TrainConfig

TRAINING_PARTS = (ModelConfig, TrainConfig, RunOptions)

TrainingConfig = dagster_config(
    "TrainingConfig",
    __name__,
    "Every field of the model (ModelConfig), the training (TrainConfig) and the run "
    "(RunOptions), flat, with SPEC 8 defaults; the window, channels and classes come from "
    "the dataset.",
    *TRAINING_PARTS,
)


@dataclass(frozen=True)
class TrainingPlan:
    model: ModelConfig
    train: TrainConfig
    augment: AugmentConfig | None
    run: RunOptions


def training_plan(
    config: dg.Config, window: int, channels: Sequence[str], runs_in_progress: int
) -> TrainingPlan:
    """The configs of one training from an asset's config and the data's shape; threads as
    ``num_threads`` says (``busy_threads`` while other runs are in progress only when it
    follows the load). An invalid value fails the run naming the field."""
    try:
        run = part_of(RunOptions, config)
        model = part_of(ModelConfig, config, **model_data(window, channels))
        train = part_of(TrainConfig, config)
    except ValueError as error:
        raise dg.Failure(f"invalid training config: {error}") from error
    return plan_of(model, train, run, runs_in_progress)


def model_data(window: int, channels: Sequence[str]) -> dict[str, int]:
    """The ``from_data`` fields of ModelConfig: the window, channels and classes of the data."""
    return {"window": window, "in_channels": len(channels), "num_classes": len(CLASS_NAMES)}


def plan_of(
    model: ModelConfig, train: TrainConfig, run: RunOptions, runs_in_progress: int
) -> TrainingPlan:
    """The plan from validated parts: threads and augmentation as the run options say."""
    threads = run_threads(train.num_threads, runs_in_progress, run.busy_threads)
    return TrainingPlan(
        model=model,
        train=replace(train, num_threads=threads),
        augment=AugmentConfig() if run.augment else None,
        run=run,
    )


def runs_in_progress(context: dg.AssetExecutionContext) -> int:
    """Runs of this instance now started, this one included (they share the machine)."""
    return context.instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
