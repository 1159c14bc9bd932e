"""The demo's training job run config, derived from the demo experiment's first variant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from resnet_pipeline.defs.training.training_config import TRAINING_PARTS
from resnet_pipeline.experiments.variant_config import VariantConfig
from resnet_pipeline.knobs import flat_fields
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.training.train_config import RunOptions, TrainConfig
from resnet_pipeline.trading.strategy import StrategyConfig


def training_run_config(
    months: Sequence[date],
    variant: VariantConfig,
    epochs: int | None = None,
    train_samples: int | None = None,
) -> dict:
    """The training job on ``variant``'s settings (the demo experiment's first variant: its
    model, training budget, window and strategy are known to learn and trade the planted
    pattern), over ``months``, so the main job and the experiment tell one story and differ
    only where a walk-forward differs from one split. ``epochs`` and ``train_samples``, when
    given, replace the variant's budget."""
    parts = {ModelConfig: variant.model, TrainConfig: variant.train, RunOptions: variant.run}
    trained = {
        spec.name: _plain(getattr(parts[part], spec.name))
        for part in TRAINING_PARTS
        for spec in flat_fields(part)
    }
    if epochs is not None:
        trained |= {"epochs": epochs, "patience": epochs}
    if train_samples is not None:
        trained |= {"max_train_samples": train_samples}
    strategy = {
        spec.name: _plain(getattr(variant.strategy, spec.name))
        for spec in flat_fields(StrategyConfig)
    }
    return {
        "ops": {
            "dataset_splits": {
                "config": {
                    "start_month": f"{months[0]:%Y-%m}",
                    "end_month": f"{months[-1]:%Y-%m}",
                    "window": variant.folds.window,
                }
            },
            "trained_model": {"config": trained},
            "backtest_report": {"config": strategy},
        },
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
