"""Dataset fingerprints: what a dataset, and every model trained on it, was built from.

A fingerprint is the sha256 of a canonical JSON of the symbol, each month read with the
sha256 of its feature and label Parquet bytes (a silently rewritten month changes it), the
split config, the normalizer statistics and the dataset code version. Checkpoints carry it in
``lineage["dataset_fingerprint"]``; evaluating or signalling with a checkpoint whose
fingerprint is not the current dataset's is refused (SPEC 11).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path, PurePath
from typing import Any

import pandas as pd

from resnet_pipeline.commands import materialize

FINGERPRINT_KEY = "dataset_fingerprint"
# The selected channels (a ``FeatureConfig``'s fields) in a dataset's lineage: the checkpoint
# carries them, so the live signal computes the same channels for the newest candles.
FEATURES_KEY = "features"


class LineageError(ValueError):
    """An artifact built from something other than what it is used with."""


def _canonical(value: Any) -> Any:
    """Equal values hash equally: numbers as floats (5 == 5.0), tuples as lists, keys sorted
    by json.dumps."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "item"):  # numpy scalars
        return _canonical(value.item())
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def dataset_fingerprint(
    symbol: str | None,
    partitions: Mapping[str, Mapping[str, str | None]],
    split_config: Mapping[str, Any],
    normalizer: Mapping[str, Any],
    code_version: str | None,
) -> str:
    """Hex sha256 of what a dataset was built from. ``partitions``: month -> {"features":
    sha256, "labels": sha256 or None when the month has no labels file}."""
    payload = {
        "symbol": symbol,
        "partitions": partitions,
        "split_config": split_config,
        "normalizer": normalizer,
        "code_version": code_version,
    }
    text = json.dumps(_canonical(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _months_text(months: Iterable[str] | None) -> str:
    months = list(months or [])
    if not months:
        return "months unknown"
    if len(months) <= 3:
        return "months " + ", ".join(months)
    return f"months {months[0]}..{months[-1]} ({len(months)})"


def check_same_dataset(
    checkpoint_lineage: Mapping[str, Any],
    dataset_lineage: Mapping[str, Any],
    symbol: str,
    checkpoint_path: str = "the checkpoint",
) -> None:
    """Refuse a checkpoint trained on another dataset than the current one (or one without a
    fingerprint: written before fingerprints existed), naming both and the retraining command."""
    trained_on = checkpoint_lineage.get(FINGERPRINT_KEY)
    current = dataset_lineage.get(FINGERPRINT_KEY)
    if trained_on and current and trained_on == current:
        return
    retrain = materialize("trained_model", symbol)
    if not current:
        raise LineageError(
            f"the current dataset of {symbol} has no fingerprint (written by an older version): "
            f"rebuild it with {materialize('dataset_splits', symbol)}, then {retrain}"
        )
    theirs = f"dataset {trained_on}" if trained_on else "a dataset without fingerprint (old format)"
    raise LineageError(
        f"{checkpoint_path} was trained on {theirs} "
        f"({_months_text(checkpoint_lineage.get('months'))}), but the current dataset of "
        f"{symbol} is {current} ({_months_text(dataset_lineage.get('months'))}): its test split "
        f"is not the model's test split. Retrain on the current dataset: {retrain} (or rebuild "
        "the dataset the model was trained on with dataset_splits and those months)"
    )


def relative_paths(lineage: Mapping[str, Any], root: str | os.PathLike[str]) -> dict:
    """The lineage with absolute paths under ``root`` made relative to it, so an artifact
    does not expose (or depend on) one machine's directory layout."""
    base = Path(os.path.abspath(root))

    def fix(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, str | PurePath) and os.path.isabs(str(value)):
            path = Path(os.path.abspath(value))
            if path == base or base in path.parents:
                return path.relative_to(base).as_posix() or "."
        return value

    return fix(dict(lineage))


def check_fold_lineage(lineage: Mapping[str, Any], symbol: str, month: date, path: str) -> None:
    """A walk-forward fold model may predict or signal ``month`` only when its lineage says it
    is ``symbol``'s fold for that month and its newest training or validation sample lies
    before the month starts (SPEC 13: trained strictly before M)."""
    last = lineage.get("val_last") or lineage.get("train_last")
    start = pd.Timestamp(month).tz_localize("UTC")
    if (
        lineage.get("symbol") != symbol
        or lineage.get("fold_month") != f"{month:%Y-%m}"
        or last is None
        or pd.Timestamp(last) >= start
    ):
        raise LineageError(
            f"{path} does not prove it is {symbol}'s fold model for {month:%Y-%m} trained before "
            f"it (lineage symbol={lineage.get('symbol')}, fold_month={lineage.get('fold_month')}, "
            f"last sample {last})"
        )
