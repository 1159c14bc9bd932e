"""Train one walk-forward fold (cold, or warm-started from the previous month's model), fit
its baselines on the same training samples, and predict its month.

The fold goes through the project's training loop (``ml.training.trainer.train``) with every knob of
``trained_model``, so a GPU is used when present. Baselines are fitted per fold, on the fold's
own training samples, and stored as plain numbers (``ml.evaluation.baselines``) so predictions can
apply
them later without refitting. Predictions take the fast inference path (``ml.training.inference``)
on
the rows of the month alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd
import torch
from torch import nn

from resnet_pipeline.ml.data.augment import AugmentConfig
from resnet_pipeline.ml.data.normalization import Normalizer
from resnet_pipeline.ml.data.windows import WindowDataset, make_loader
from resnet_pipeline.ml.evaluation.baselines import PROBA_COLUMNS, FoldBaselines, last_rows
from resnet_pipeline.ml.folds.monthly_folds import (
    Fold,
    Samples,
    predict_ends,
    take_rows,
    with_normalizer,
)
from resnet_pipeline.ml.folds.warm_start import WarmStart
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.device import configure_threads, pick_device
from resnet_pipeline.ml.training.inference import INFERENCE_BATCH, predict_proba
from resnet_pipeline.ml.training.train_config import FOLLOW_LOAD, TrainConfig
from resnet_pipeline.ml.training.trainer import train


@dataclass
class FoldModel:
    model: nn.Module
    history: list[dict]
    best_val_loss: float
    start: str  # "cold" or "warm from YYYY-MM"
    epochs_run: int
    wall_s: float
    baselines: FoldBaselines
    notes: list[str] = field(default_factory=list)
    train_steps_s: float = 0.0  # of wall_s: the optimizer steps with their batches
    precision: str = ""  # in use ('auto' decided)


def train_fold(
    fold: Fold,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    warm_from: tuple[str, dict] | None = None,
    warm_epochs: int = WarmStart().warm_start_epochs,
    augment: AugmentConfig | None = None,
    progress: Callable[[dict], None] | None = None,
    state_path: str | os.PathLike[str] | None = None,
    identity: dict | None = None,
    resume: bool | None = None,
) -> FoldModel:
    """``warm_from``: (month, state_dict) of the previous fold's model: fine-tune it for
    ``warm_epochs`` instead of training ``train_cfg.epochs`` from scratch. ``state_path``,
    ``identity`` and ``resume``: as ``trainer.train`` (a killed fold continues)."""
    started = time.perf_counter()
    torch.manual_seed(train_cfg.seed)  # the initial weights are part of the configuration
    model = build_model(model_cfg)
    start = "cold"
    if warm_from is not None:
        month, state = warm_from
        model.load_state_dict(state)
        train_cfg = replace(train_cfg, epochs=min(warm_epochs, train_cfg.epochs))
        start = f"warm from {month}"
    train_set = WindowDataset(fold.splits, "train", augment, seed=train_cfg.seed)
    result = train(
        model,
        train_set,
        WindowDataset(fold.splits, "val"),
        train_cfg,
        progress,
        state_path=state_path,
        identity=identity,
        resume=resume,
    )
    return FoldModel(
        model=model,
        history=result.history,
        best_val_loss=float(result.best_val_loss),
        start=start,
        epochs_run=int(result.epochs_run),
        wall_s=time.perf_counter() - started,
        baselines=FoldBaselines.fit(fold.splits, train_cfg.seed),
        notes=result.notes + result.warnings,
        train_steps_s=result.train_seconds,
        precision=result.precision,
    )


def predict_month(
    model: nn.Module,
    normalizer: Normalizer,
    baselines: FoldBaselines,
    samples: Samples,
    month: date,
    precision: str = "auto",
    device: str = "auto",
    threads: int | None = None,
) -> pd.DataFrame:
    """Every eligible minute of ``month``: the model's probabilities (inputs normalized with
    the fold model's own ``normalizer``), the fold's baselines and the label. The model moves
    to ``device`` ('auto': a GPU when present); on a CPU it runs ``threads`` (None: the cores
    other processes leave free now, ``FOLLOW_LOAD``: unlike a training's numbers, the
    probabilities do not depend on the thread count, and two threads on two cores beside a
    busy neighbour wait on each other)."""
    ends = predict_ends(samples, month)
    first = int(ends[0]) - samples.config.window + 1 if len(ends) else 0
    part = take_rows(samples, first, int(ends[-1]) + 1 if len(ends) else 0)
    ends = ends - first
    empty = np.zeros(0, np.int64)
    splits = with_normalizer(part, normalizer, empty, empty, ends)
    target = pick_device(device)
    if target.type == "cpu":
        configure_threads(FOLLOW_LOAD if threads is None else threads)
    loader = make_loader(WindowDataset(splits, "test"), INFERENCE_BATCH)
    proba = predict_proba(model.to(target), loader, precision=precision)
    frame = pd.DataFrame({"timestamp": pd.to_datetime(part.times[ends]).tz_localize("UTC")})
    columns = {"model": proba, **baselines.predict_proba(last_rows(splits, ends))}
    for name, values in columns.items():
        for column, values_k in zip(PROBA_COLUMNS[name], np.asarray(values).T, strict=True):
            frame[column] = values_k.astype(np.float64)
    frame["label"] = part.labels[ends].astype(np.int64)
    return frame
