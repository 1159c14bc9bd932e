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
from pathlib import Path, PurePath
from typing import Any

FINGERPRINT_KEY = "dataset_fingerprint"
_BLOCK = 1 << 20
_CLI = "dagster asset materialize -m resnet_pipeline.definitions"


class LineageError(ValueError):
    """An artifact built from something other than what it is used with."""


def rebuild_command(asset: str, symbol: str) -> str:
    return f"{_CLI} --select {asset} --partition {symbol}"


def content_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, streamed (``path`` may be an fsspec UPath)."""
    digest = hashlib.sha256()
    file = Path(path) if isinstance(path, str) else path
    with file.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


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
    retrain = rebuild_command("trained_model", symbol)
    if not current:
        raise LineageError(
            f"the current dataset of {symbol} has no fingerprint (written by an older version): "
            f"rebuild it with {rebuild_command('dataset_splits', symbol)}, then {retrain}"
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
