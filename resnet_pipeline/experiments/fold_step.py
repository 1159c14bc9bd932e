"""The one fold step of both research paths (SPEC 13, 14): a walk-forward is the experiment of
one variant.

``wf_model`` / ``wf_predictions`` (the walk-forward a user runs every month, its config a
``VariantConfig`` with the SPEC 5 labels: ``walk_forward_variant``) and ``experiment_fold`` (a
variant of an experiment file) are adapters over these functions:

- **reading**: ``fold_inputs.read_history`` (the months, each once, with their digests);
- **identity**: ``fold_fingerprint``, the data fingerprint of ``ml.data.lineage`` over the files
  read, the configuration's name (``FoldSeries.configuration``), the month and the normalizer;
  ``fold_identity``, what decides whether a finished fold is the one a run would train now
  (the configuration's name, the code, the month, the files read and the model a warm start
  begins from), recorded in ``fold.json``; ``finished_fold`` reads it back, so a rerun skips;
- **warm start**: ``warm_start``, M-1's fold model of the same series when it fits;
- **training**: ``train_fold_step`` (``variant_fold.train_variant_fold``: the training loop,
  the majority and logistic baselines, the temperature), then ``model.pt``;
- **prediction**: ``variant_fold.predict_variant_fold`` (the model, the baselines, the
  calibrated probabilities; the trees when the fold's training rows are at hand);
- **writing**: ``write_fold_model`` (``model.pt``), then ``fold_files``:
  ``write_fold_predictions`` (each row names the model) and ``write_fold_record`` (``fold.json``,
  last: it names the model it describes); reading back: ``fold_files.current_fold``, refusing
  files another model made.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from upath import UPath

from resnet_pipeline.artifacts import exists, file_sha256, remove
from resnet_pipeline.experiments.fold_files import current_fold, read_fold_record
from resnet_pipeline.experiments.fold_inputs import FoldData
from resnet_pipeline.experiments.variant_config import (
    CalibrationConfig,
    VariantConfig,
    resolve_config,
)
from resnet_pipeline.experiments.variant_fold import TrainedFold, train_variant_fold
from resnet_pipeline.layout import FoldFiles
from resnet_pipeline.ml.data.augment import AugmentConfig
from resnet_pipeline.ml.data.lineage import FINGERPRINT_KEY, dataset_fingerprint
from resnet_pipeline.ml.folds.fold_identity import (
    MODEL_DIGEST_KEY,
)
from resnet_pipeline.ml.folds.monthly_folds import Fold, FoldConfig, add_months
from resnet_pipeline.ml.folds.warm_start import WarmStart
from resnet_pipeline.ml.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.training.train_config import RunOptions, TrainConfig
from resnet_pipeline.ml.training.trainer import progress_line


def walk_forward_variant(
    folds: FoldConfig, warm: WarmStart, model: ModelConfig, train: TrainConfig, run: RunOptions
) -> VariantConfig:
    """The walk-forward as a variant: its fold, warm-start and training knobs on the SPEC 5
    labels, its strategy reading the model's raw probabilities (``wf_report`` sets the rules)."""
    defaults = resolve_config({})
    return replace(
        defaults,
        model=model,
        train=train,
        run=run,
        folds=folds,
        warm=warm,
        calibration=CalibrationConfig(calibrated_strategy=False),
    )


@dataclass(frozen=True)
class FoldSeries:
    """Where and as what a series of monthly folds is trained: the walk-forward of a symbol, or
    a trial of an experiment."""

    symbol: str
    config: VariantConfig
    train: TrainConfig  # config.train with this run's threads
    augment: AugmentConfig | None
    root: UPath  # the data root (the checkpoint records paths relative to it)
    files: Callable[[date], FoldFiles]  # the month's fold files
    configuration: dict[str, Any]  # what names the configuration in the fingerprint
    asset: str  # the asset writing the folds, named with its command in refusals
    partition: Callable[[date], str]  # the asset's partition key of a month
    lineage: dict[str, Any] = field(default_factory=dict)  # recorded besides (run id, trial)
    code: str | None = None  # the asset's code version


def fold_fingerprint(
    symbol: str, digests: dict[str, str], configuration: dict, fold: Fold, code: str | None
) -> str:
    """The fold's data fingerprint (``ml.data.lineage``): the files read (their digests), the
    configuration's name and the month, the fold's normalizer and the code version."""
    partitions: dict[str, dict[str, str]] = {}
    for key, digest in digests.items():
        asset, month = key.split("/")
        partitions.setdefault(month, {})[asset] = digest
    split = configuration | {"fold_month": f"{fold.month:%Y-%m}"}
    return dataset_fingerprint(symbol, partitions, split, fold.splits.normalizer.to_dict(), code)


IDENTITY_KEY = "fold_identity"
COMPLETE = "is complete (same config, inputs and warm start): skipped"


def warm_source(series: FoldSeries, month: date) -> str | None:
    """The sha256 of M-1's fold model when the variant warm-starts and there is one: a fold
    warm-started from another model is another fold."""
    if not series.config.warm.warm_start:
        return None
    path = series.files(add_months(month, -1)).model
    return file_sha256(path) if exists(path) else None


def fold_identity(series: FoldSeries, month: date, digests: dict[str, str]) -> str:
    """What a fold of ``month`` is made from: the configuration's name, the code version, the
    files read (``digests``) and the model a warm start begins from (sha256 over them)."""
    parts = {
        "configuration": series.configuration,
        "code": series.code,
        "month": f"{month:%Y-%m}",
        "inputs": dict(sorted(digests.items())),
        "warm_start_from": warm_source(series, month),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def finished_fold(series: FoldSeries, month: date, digests: dict[str, str]) -> dict | None:
    """The fold's ``fold.json`` when the fold is complete (its predictions and record made by
    its current model) and made from what a run would train it from now (``fold_identity``
    over ``digests``, the files it would read); None when it must be trained."""
    files = series.files(month)
    try:
        record = read_fold_record(files)
    except ValueError:  # a fold.json cut short: the fold is trained again and rewrites it
        return None
    if not record or record.get(IDENTITY_KEY) != fold_identity(series, month, digests):
        return None
    try:
        current_fold(files, month)
    except (OSError, ValueError):  # a file missing, unreadable or of another model (StaleFold)
        return None
    return record


@dataclass(frozen=True)
class WarmFrom:
    month: str  # YYYY-MM
    state: dict
    sha256: str


def warm_start(series: FoldSeries, month: date) -> tuple[WarmFrom | None, str]:
    """M-1's fold model of the series when it fits this configuration, else None; and what was
    decided, in words."""
    previous = add_months(month, -1)
    path = series.files(previous).model
    if not exists(path):
        return None, f"no fold model for {previous:%Y-%m}, training cold"
    try:
        checkpoint = load_checkpoint(path, asset=series.asset, partition=series.partition(previous))
    except CheckpointError as error:
        return None, f"{error}; training cold"
    if checkpoint.model_config != series.config.model:
        return None, f"{previous:%Y-%m}'s model has another config, cold"
    state = checkpoint.model.state_dict()
    return WarmFrom(f"{previous:%Y-%m}", state, checkpoint.sha256), f"warm from {previous:%Y-%m}"


@dataclass
class FoldTrained:
    """A trained fold written to ``model.pt``: what ``fold.json`` and the predictions name."""

    data: FoldData
    done: TrainedFold
    model_sha256: str
    lineage: dict
    record: dict  # fold.json's content (plain values once the adapter has made them so)


def train_fold_step(
    series: FoldSeries, data: FoldData, log: Callable[[str, str], None] = lambda level, line: None
) -> FoldTrained:
    """Train the fold of ``data`` (warm-started when the variant asks and M-1's model fits),
    calibrate it and write its ``model.pt``; ``ValueError`` when the training cannot run.
    ``log(level, line)`` hears the warm-start decision and the training's progress."""
    started = time.perf_counter()
    fold, month, config = data.fold, data.fold.month, series.config
    files = series.files(month)
    warm = None
    if config.warm.warm_start:
        warm, said = warm_start(series, month)
        log("info", said)
    fingerprint = fold_fingerprint(
        series.symbol, data.digests, series.configuration, fold, series.code
    )
    done = train_variant_fold(
        fold,
        config,
        series.train,
        series.augment,
        (warm.month, warm.state) if warm else None,
        lambda record: log(*progress_line(record, series.train.epochs)),
        state_path=files.training_state,
        identity={
            FINGERPRINT_KEY: fingerprint,
            "warm_start_from": warm and {"month": warm.month, "sha256": warm.sha256},
        },
    )
    lineage = fold_lineage(series, data, done, fingerprint)
    digest = write_fold_model(series, files, done, lineage)
    trained = done.trained
    normalizer = fold.splits.normalizer
    record = fold.info | {
        "symbol": series.symbol,
        "start": trained.start,
        "epochs_run": trained.epochs_run,
        "wall_s": round(trained.wall_s, 2),
        "train_steps_s": round(trained.train_steps_s, 2),
        "precision": trained.precision,
        "best_val_loss": trained.best_val_loss,
        "training_months": lineage["training_months"],
        "normalizer_mean": dict(
            zip(normalizer.channel_names, normalizer.mean.tolist(), strict=True)
        ),
        "history": trained.history,
        "calibration": asdict(done.calibration),
        "temperature": done.calibration.temperature,
        "notes": trained.notes,
        MODEL_DIGEST_KEY: digest,
        IDENTITY_KEY: fold_identity(series, month, data.digests),
        "fold_s": round(time.perf_counter() - started, 2),
    }
    return FoldTrained(data, done, digest, lineage, record)


def fold_lineage(series: FoldSeries, data: FoldData, done: TrainedFold, fingerprint: str) -> dict:
    """What the fold model proves it was built from (SPEC 11)."""
    info = data.fold.info
    return {
        FINGERPRINT_KEY: fingerprint,
        "symbol": series.symbol,
        "fold_month": f"{data.fold.month:%Y-%m}",
        "train_last": info["train_last"],
        "val_last": info["val_last"],
        "training_months": [f"{m:%Y-%m}" for m in data.training_months],
        "training_data_sha256": data.digests,
        "code_version": series.code,
        "start": done.trained.start,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **series.lineage,
    }


def write_fold_model(series: FoldSeries, files: FoldFiles, done: TrainedFold, lineage: dict) -> str:
    """``model.pt``: weights, configs, normalizer, baselines and temperature as plain numbers;
    returns its sha256. A finished fold drops its resumable training state."""
    config, fold, trained = series.config, done.fold, done.trained
    save_checkpoint(
        files.model,
        trained.model,
        config.model,
        feature_names=fold.splits.channel_names,
        normalizer=fold.splits.normalizer,
        label_config=asdict(config.labels),
        split_config=config.folds.split_config(config.labels.forward_window).__dict__
        | {"months": lineage["training_months"]},
        lineage=lineage,
        metrics={
            "best_val_loss": trained.best_val_loss,
            "baselines": trained.baselines.to_dict(),
            "temperature": done.calibration.temperature,
        },
        history=trained.history,
        train_config=series.train.to_dict(),
        data_root=series.root,
    )
    remove(files.training_state)
    return file_sha256(files.model)
