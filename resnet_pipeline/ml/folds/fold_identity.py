"""Which model a fold's files belong to: the sha256 of the fold's ``model.pt``.

``wf_model`` records it in ``fold.json`` (``MODEL_DIGEST_KEY``) and as the partition's Dagster
data version; ``wf_predictions`` writes the digest of the model it loaded into every row
(``PREDICTIONS_DIGEST_COLUMN``). A fold is used only when they agree with the model on disk:
re-running ``wf_model`` alone (or a run killed between its writes) must never pair one
model's ``fold.json`` or predictions with another model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import pandas as pd

from resnet_pipeline.ml.data.lineage import LineageError

MODEL_DIGEST_KEY = "model_sha256"
PREDICTIONS_DIGEST_COLUMN = "fold_model_sha256"


class FoldMismatchError(LineageError):
    """A fold file that was not made with (or for) the fold's current model."""


def _short(digest: str | None) -> str:
    return "none recorded" if not digest else digest[:12]


def check_fold_info(info: Mapping[str, Any] | None, model_sha256: str, month: date) -> None:
    """``fold.json`` must describe the model it sits beside."""
    recorded = (info or {}).get(MODEL_DIGEST_KEY)
    if recorded != model_sha256:
        raise FoldMismatchError(
            f"fold {month:%Y-%m}: fold.json describes model {_short(recorded)} but model.pt is "
            f"{_short(model_sha256)} (a training was interrupted between its writes, or a file "
            "was replaced)"
        )


def check_predictions(frame: pd.DataFrame, model_sha256: str, month: date) -> None:
    """Every prediction of the fold must come from its current model."""
    made_by = (
        sorted(frame[PREDICTIONS_DIGEST_COLUMN].unique())
        if PREDICTIONS_DIGEST_COLUMN in frame
        else []
    )
    if made_by != [model_sha256]:
        found = ", ".join(_short(d) for d in made_by) or "none recorded"
        raise FoldMismatchError(
            f"fold {month:%Y-%m}: the predictions were made by model {found}, but the fold's "
            f"current model is {_short(model_sha256)} (the fold was trained again since)"
        )


def run_data_version(digests: Iterable[tuple[str, str]]) -> str:
    """The data version of one ``wf_model`` run: the model digest of its only fold, or a
    digest over (partition, model digest) pairs when a run trains several (Dagster gives every
    partition of a single-run backfill the same version; it still changes whenever any of
    their models does)."""
    pairs = sorted(digests)
    if len(pairs) == 1:
        return pairs[0][1]
    return hashlib.sha256("\n".join(f"{k}={v}" for k, v in pairs).encode()).hexdigest()
