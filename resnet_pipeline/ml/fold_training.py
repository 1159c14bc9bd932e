"""Train one walk-forward fold (cold, or warm-started from the previous month's model), fit
its baselines on the same training samples, and predict its month.

The fold goes through the project's training loop (``ml.training.train``), so a GPU is used
when present. Baselines are fitted per fold, on the fold's own training samples, and stored
as plain numbers (class shares; logistic coefficients) so predictions can apply them later
without refitting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from resnet_pipeline.ml.augment import AugmentConfig
from resnet_pipeline.ml.dataset import DatasetSplits
from resnet_pipeline.ml.inference import predict_proba
from resnet_pipeline.ml.normalization import Normalizer
from resnet_pipeline.ml.resnet import ModelConfig, build_model
from resnet_pipeline.ml.training import TrainConfig, train
from resnet_pipeline.ml.walk_forward import Fold, Samples, predict_ends, with_normalizer
from resnet_pipeline.ml.windows import WindowDataset

PROBA_COLUMNS = {
    "model": ("p_down", "p_neutral", "p_up"),
    "majority": ("majority_down", "majority_neutral", "majority_up"),
    "logistic": ("logistic_down", "logistic_neutral", "logistic_up"),
}
_BATCH = 2048


@dataclass
class FoldModel:
    model: nn.Module
    history: list[dict]
    best_val_loss: float
    start: str  # "cold" or "warm from YYYY-MM"
    epochs_run: int
    wall_s: float
    baselines: dict


def last_rows(splits: DatasetSplits, ends: np.ndarray) -> np.ndarray:
    """The newest row of each model input window: the logistic baseline's features."""
    return np.concatenate(
        [splits.windows(ends[i : i + _BATCH])[:, :, -1] for i in range(0, len(ends), _BATCH)]
        or [np.zeros((0, splits.matrix.shape[1]), np.float32)]
    )


def fit_baselines(splits: DatasetSplits, seed: int = 0, max_rows: int = 50_000) -> dict:
    """The training majority shares and a multinomial logistic regression on each training
    window's newest row, as plain lists."""
    y = splits.labels[splits.train_ends]
    shares = np.bincount(y, minlength=3).astype(np.float64)
    ends = splits.train_ends
    if len(ends) > max_rows:
        ends = np.sort(np.random.default_rng(seed).choice(ends, max_rows, replace=False))
    model = LogisticRegression(max_iter=300)
    model.fit(np.nan_to_num(last_rows(splits, ends)), splits.labels[ends])
    return {
        "majority_shares": (shares / shares.sum()).tolist(),
        "logistic_classes": model.classes_.tolist(),
        "logistic_coef": model.coef_.tolist(),
        "logistic_intercept": model.intercept_.tolist(),
    }


def baseline_proba(baselines: dict, x_last: np.ndarray) -> dict[str, np.ndarray]:
    """[N, C] newest rows -> the baselines' probabilities [N, 3] each."""
    n = len(x_last)
    majority = np.tile(np.asarray(baselines["majority_shares"]), (n, 1))
    coef = np.asarray(baselines["logistic_coef"])
    intercept = np.asarray(baselines["logistic_intercept"])
    classes = np.asarray(baselines["logistic_classes"], np.int64)
    scores = np.nan_to_num(x_last).astype(np.float64) @ coef.T + intercept
    if len(classes) == 2:  # sklearn's binary case: one column of scores
        scores = np.concatenate([-scores / 2, scores / 2], axis=1)
    scores -= scores.max(axis=1, keepdims=True)
    partial = np.exp(scores)
    partial /= partial.sum(axis=1, keepdims=True)
    logistic = np.zeros((n, 3))
    logistic[:, classes] = partial
    return {"majority": majority, "logistic": logistic}


def train_fold(
    fold: Fold,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    warm_from: tuple[str, dict] | None = None,
    warm_epochs: int = 2,
    augment: bool = True,
    progress: Callable[[dict], None] | None = None,
) -> FoldModel:
    """``warm_from``: (month, state_dict) of the previous fold's model: fine-tune it for
    ``warm_epochs`` instead of training ``train_cfg.epochs`` from scratch."""
    started = time.perf_counter()
    torch.manual_seed(train_cfg.seed)  # the initial weights are part of the configuration
    model = build_model(model_cfg)
    start = "cold"
    if warm_from is not None:
        month, state = warm_from
        model.load_state_dict(state)
        train_cfg = replace(train_cfg, epochs=min(warm_epochs, train_cfg.epochs))
        start = f"warm from {month}"
    train_set = WindowDataset(
        fold.splits, "train", AugmentConfig() if augment else None, seed=train_cfg.seed
    )
    result = train(model, train_set, WindowDataset(fold.splits, "val"), train_cfg, progress)
    return FoldModel(
        model=model,
        history=result.history,
        best_val_loss=float(result.best_val_loss),
        start=start,
        epochs_run=int(result.epochs_run),
        wall_s=time.perf_counter() - started,
        baselines=fit_baselines(fold.splits, train_cfg.seed),
    )


def predict_month(
    model: nn.Module,
    normalizer: Normalizer,
    baselines: dict,
    samples: Samples,
    month: date,
) -> pd.DataFrame:
    """Every eligible minute of ``month``: the model's probabilities (inputs normalized with
    the fold model's own ``normalizer``), the fold's baselines and the label."""
    ends = predict_ends(samples, month)
    empty = np.zeros(0, np.int64)
    splits = with_normalizer(samples, normalizer, empty, empty, ends)
    proba = np.concatenate(
        [
            predict_proba(model, splits.windows(ends[i : i + _BATCH]))
            for i in range(0, len(ends), _BATCH)
        ]
        or [np.zeros((0, 3), np.float32)]
    )
    frame = pd.DataFrame({"timestamp": pd.to_datetime(samples.times[ends]).tz_localize("UTC")})
    columns = {"model": proba, **baseline_proba(baselines, last_rows(splits, ends))}
    for name, values in columns.items():
        for column, values_k in zip(PROBA_COLUMNS[name], np.asarray(values).T, strict=True):
            frame[column] = values_k.astype(np.float64)
    frame["label"] = samples.labels[ends].astype(np.int64)
    return frame
