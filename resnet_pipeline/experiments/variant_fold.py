"""The computing part of the one fold step (SPEC 13 and 14): train, calibrate and predict one
variant's walk-forward fold for month M (``fold_step`` reads, names and writes around it).

- **Training**: ``fold_training.train_fold`` (warm start included) on ``monthly_folds``'
  splits, with the majority and logistic baselines (``ml.evaluation.baselines``, stored with the
  fold).
- **Calibration**: one temperature fitted on the fold's validation split (the windows the
  training validated on; ``ml.evaluation.calibration.TemperatureScaling``), applied to the month's
  probabilities.
- **Prediction**: every eligible minute of M from the model, the stored baselines and the
  temperature (``predict_variant_fold``: what ``wf_predictions`` runs from a stored fold); an
  experiment's fold adds the gradient-boosted trees (``baselines.fit_fold_trees``, refitted on the
  fold's training rows with the logistic regression's inputs).
- **Importances** (``ml.evaluation.permutation_importance``): per channel and family, the drop in
  log loss, AUC and direction AUC when the channel is shuffled across the month's windows, for
  the model and for the trees (``FoldRun.importance``; the variant's ``ImportanceConfig``).
- **Scores** of the month for the fold's record and MLflow: classification metrics of the
  probabilities the strategy reads, ECE before and after calibration, and the SPEC 9 strategy
  over the month's candles (Sharpe after costs).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from torch import nn

from resnet_pipeline.experiments.variant_config import VariantConfig
from resnet_pipeline.ml.data.augment import AugmentConfig
from resnet_pipeline.ml.data.normalization import Normalizer
from resnet_pipeline.ml.data.windows import WindowDataset
from resnet_pipeline.ml.evaluation.baselines import (
    PROBA_COLUMNS,
    FoldBaselines,
    TreesBaseline,
    fit_fold_trees,
    last_rows,
)
from resnet_pipeline.ml.evaluation.calibration import (
    TemperatureScaling,
    calibrate_probabilities,
    expected_calibration_error,
    log_loss_at,
    logits_from_probabilities,
)
from resnet_pipeline.ml.evaluation.classification import classification_metrics
from resnet_pipeline.ml.evaluation.permutation_importance import (
    trees_importance,
    window_importance,
)
from resnet_pipeline.ml.folds.fold_training import FoldModel, predict_month, train_fold
from resnet_pipeline.ml.folds.monthly_folds import Fold, Samples
from resnet_pipeline.ml.training.inference import predict_proba
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.ml.training.trainer import val_loader
from resnet_pipeline.trading.performance import daily_returns, sharpe
from resnet_pipeline.trading.strategy_evaluation import evaluate_strategy

# Beside the walk-forward's columns (model, majority, logistic): the trees baseline and the
# model's temperature-scaled probabilities.
EXPERIMENT_COLUMNS = PROBA_COLUMNS | {
    "trees": ("trees_down", "trees_neutral", "trees_up"),
    "calibrated": ("calibrated_down", "calibrated_neutral", "calibrated_up"),
}
BASELINES = ("majority", "logistic", "trees")
SCORED = ("accuracy", "macro_f1", "auc_roc_ovr", "log_loss")


class Stopwatch:
    """Wall seconds per named phase: ``with clock("train"): ...``; repeated names add up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[phase] = self.seconds.get(phase, 0.0) + elapsed


def strategy_columns(config: VariantConfig) -> str:
    """Which probabilities the variant's strategy (and its leaderboard line) reads."""
    return "calibrated" if config.calibration.calibrated_strategy else "model"


@dataclass(frozen=True)
class Calibration:
    temperature: float
    val_samples: int
    val_log_loss_before: float
    val_log_loss_after: float


def fit_calibration(model: nn.Module, fold: Fold, train_cfg: TrainConfig) -> Calibration:
    """The temperature minimizing the log loss on the fold's validation windows (the evenly
    spaced subset the training validated on when ``max_val_samples`` is set)."""
    loader = val_loader(WindowDataset(fold.splits, "val"), train_cfg, pin=False)
    logits = logits_from_probabilities(predict_proba(model, loader))
    labels = np.concatenate([y.numpy() for _, y in loader]).astype(np.int64)
    scaling = TemperatureScaling().fit(logits, labels)
    return Calibration(
        temperature=scaling.temperature_,
        val_samples=len(labels),
        val_log_loss_before=log_loss_at(logits, labels, 1.0),
        val_log_loss_after=scaling.log_loss(logits, labels),
    )


def proba(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[list(EXPERIMENT_COLUMNS[name])].to_numpy(np.float64)


@dataclass
class FoldRun:
    """What a variant-fold made: the fold, its trained model, its calibration, the month's
    predictions (every column of ``EXPERIMENT_COLUMNS`` and the label) and its scores."""

    fold: Fold
    trained: FoldModel
    calibration: Calibration
    predictions: pd.DataFrame
    scores: dict
    seconds: dict[str, float]  # wall time per phase (``Stopwatch``)
    importance: pd.DataFrame | None  # ``permutation_importance.COLUMNS``; None: not measured

    def reliability(self) -> tuple[dict, dict]:
        """The month's ECE and its bins, of the raw and of the calibrated probabilities."""
        y = self.predictions["label"].to_numpy(np.int64)
        return tuple(
            expected_calibration_error(proba(self.predictions, name), y).to_dict()
            for name in ("model", "calibrated")
        )


def month_scores(predictions: pd.DataFrame, candles: pd.DataFrame, config: VariantConfig) -> dict:
    """The month's classification metrics (of the probabilities the strategy reads) beside the
    baselines', ECE before/after calibration, and the strategy's Sharpe after costs."""
    y = predictions["label"].to_numpy(np.int64)
    used = strategy_columns(config)
    out: dict = {"probabilities": used, "samples": int(len(y))}
    for name in (used, *BASELINES):
        metrics = classification_metrics(y, proba(predictions, name))
        prefix = "model" if name == used else name
        out |= {f"{prefix}_{k}": metrics[k] for k in SCORED}
    for when, name in (("before", "model"), ("after", "calibrated")):
        out[f"ece_{when}"] = expected_calibration_error(proba(predictions, name), y).ece
    columns = dict(zip(("p_down", "p_neutral", "p_up"), proba(predictions, used).T, strict=True))
    signals = predictions[["timestamp"]].assign(**columns)
    evaluation = evaluate_strategy(candles, signals, config.strategy)
    out["sharpe_after_costs"] = sharpe(daily_returns(evaluation.result.equity))
    out["trades"] = int(evaluation.metrics["trades"])
    return out


@dataclass
class TrainedFold:
    """A fold's trained model (baselines included) and its temperature."""

    fold: Fold
    trained: FoldModel
    calibration: Calibration
    seconds: dict[str, float]  # wall time per phase (``Stopwatch``)


def train_variant_fold(
    fold: Fold,
    config: VariantConfig,
    train_cfg: TrainConfig,
    augment: AugmentConfig | None,
    warm_from: tuple[str, dict] | None = None,
    progress: Callable[[dict], None] | None = None,
    state_path: str | None = None,
    identity: dict | None = None,
) -> TrainedFold:
    """Train the variant's ``fold`` (``monthly_folds.build_fold``; warm-started from
    ``warm_from``), fit its majority and logistic baselines, then its temperature;
    ``train_cfg`` is the variant's with the run's threads."""
    clock = Stopwatch()
    with clock("train"):  # the training loop, and the majority and logistic baselines' fit
        trained = train_fold(
            fold,
            config.model,
            train_cfg,
            warm_from,
            config.warm.warm_start_epochs,
            augment,
            progress,
            state_path=state_path,
            identity=identity,
            resume=config.run.resume,
        )
    with clock("calibration"):
        calibration = fit_calibration(trained.model, fold, train_cfg)
    return TrainedFold(fold, trained, calibration, clock.seconds)


def predict_variant_fold(
    model: nn.Module,
    normalizer: Normalizer,
    baselines: FoldBaselines,
    temperature: float,
    samples: Samples,
    month: date,
    trees: np.ndarray | None = None,
) -> pd.DataFrame:
    """Every eligible minute of ``month`` (``fold_training.predict_month``: the model, the
    stored baselines, the label), with the temperature-scaled probabilities and, when given,
    the trees' (``baselines.fit_fold_trees``: they need the fold's training rows)."""
    frame = predict_month(model, normalizer, baselines, samples, month)
    calibrated = calibrate_probabilities(proba(frame, "model"), temperature)
    added = {"trees": trees, "calibrated": calibrated}
    for name, values in added.items():
        if values is None:
            continue
        for column, values_k in zip(EXPERIMENT_COLUMNS[name], values.T, strict=True):
            frame[column] = values_k.astype(np.float64)
    return frame


def fold_importance(
    model: nn.Module, trees: TreesBaseline, fold: Fold, config: VariantConfig
) -> pd.DataFrame:
    """The model's and the trees' permutation importances on the fold's month (the same
    seeded sample of its windows for both)."""
    splits, ends, seed = fold.splits, fold.splits.test_ends, config.train.seed
    window = window_importance(model, splits, ends, config.importance, seed, config.train.precision)
    tree = trees_importance(trees, splits, ends, config.importance, seed)
    return pd.concat([window, tree], ignore_index=True)


def predict_and_score(
    done: TrainedFold, samples: Samples, config: VariantConfig, candles: pd.DataFrame
) -> FoldRun:
    """The month's predictions of a trained fold (the trees refitted on its training rows),
    their scores and, when the variant measures them, the importances."""
    clock = Stopwatch()
    fold, trained = done.fold, done.trained
    with clock("trees"):
        trees = fit_fold_trees(fold.splits, config.train.seed)
        trees_proba = trees.predict_proba(last_rows(fold.splits, fold.splits.test_ends))
    with clock("predict"):
        frame = predict_variant_fold(
            trained.model,
            fold.splits.normalizer,
            trained.baselines,
            done.calibration.temperature,
            samples,
            fold.month,
            trees_proba,
        )
    with clock("scores"):
        scores = month_scores(frame, candles, config) if len(frame) else {"samples": 0}
    importance = None
    if config.importance.measure_importance and len(frame):
        with clock("importance"):
            importance = fold_importance(trained.model, trees, fold, config)
    seconds = done.seconds | clock.seconds
    return FoldRun(fold, trained, done.calibration, frame, scores, seconds, importance)
