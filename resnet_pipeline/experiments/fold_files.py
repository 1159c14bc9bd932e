"""A fold's files (``Layout.fold`` / ``TrialFiles.fold``: ``model.pt``, ``predictions.parquet``,
``fold.json``), written by the one fold step and read back by both reports: every row of the
predictions and the fold.json name the model they belong to (``ml.folds.fold_identity``), so no
report pairs one model's files with another model.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from resnet_pipeline.artifacts import exists, file_sha256, read_json, write_json_atomic
from resnet_pipeline.layout import FoldFiles
from resnet_pipeline.ml.folds.fold_identity import (
    PREDICTIONS_DIGEST_COLUMN,
    FoldMismatchError,
    check_fold_info,
    check_predictions,
)
from resnet_pipeline.storage import read_parquet, write_parquet_atomic

# The key of ``fold.json`` holding the fold's permutation importances (a list of records with
# ``permutation_importance.COLUMNS``; empty when the variant does not measure them).
IMPORTANCE = "importance"


def write_fold_predictions(files: FoldFiles, frame: pd.DataFrame, model_sha256: str) -> None:
    """The month's predictions, each row naming the model that made it (``fold_identity``)."""
    write_parquet_atomic(
        frame.assign(**{PREDICTIONS_DIGEST_COLUMN: model_sha256}), files.predictions
    )


def write_fold_record(files: FoldFiles, record: dict) -> None:
    """``fold.json`` (plain values): written last, it names the model it describes."""
    write_json_atomic(files.info, record)


def read_fold_record(files: FoldFiles) -> dict | None:
    """The fold's ``fold.json`` (None when there is none)."""
    return read_json(files.info) if exists(files.info) else None


class StaleFold(FoldMismatchError):
    """A fold file not made with the fold's current model; ``part`` names the file out of date:
    "model" (none), "record" (fold.json) or "predictions"."""

    def __init__(self, message: str, part: str) -> None:
        super().__init__(message)
        self.part = part


def current_fold(files: FoldFiles, month: date) -> tuple[pd.DataFrame, dict]:
    """The fold's predictions and ``fold.json``, when both belong to its current ``model.pt``
    (``ml.folds.fold_identity``): what a report may read; ``StaleFold`` otherwise."""
    if not exists(files.model):
        raise StaleFold(f"fold {month:%Y-%m} has predictions but no model.pt", "model")
    model = file_sha256(files.model)
    record = read_fold_record(files)
    try:
        check_fold_info(record, model, month)
    except FoldMismatchError as error:
        raise StaleFold(str(error), "record") from error
    frame = read_parquet(files.predictions)
    try:
        check_predictions(frame, model, month)
    except FoldMismatchError as error:
        raise StaleFold(str(error), "predictions") from error
    return frame, record
