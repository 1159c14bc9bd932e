"""Self-contained checkpoints: weights, model config, features, normalization, labels, lineage.

Saved as plain types and tensors only, so loading never unpickles arbitrary objects
(``torch.load(weights_only=True)``); contents are validated on load.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from upath import UPath

from resnet_pipeline.artifacts import (
    as_path,
    atomic_write_path,
    exists,
    is_local,
    local_copy,
    local_path,
)
from resnet_pipeline.commands import materialize
from resnet_pipeline.ml.data.lineage import (
    LineageError,
    check_same_dataset,
    relative_paths,
)
from resnet_pipeline.ml.data.normalization import Normalizer
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model

FORMAT_VERSION = 1
REQUIRED = (
    "format_version",
    "state_dict",
    "model_config",
    "feature_names",
    "normalizer",
    "label_config",
    "split_config",
    "lineage",
    "metrics",
    "history",
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with what to do about it."""


@dataclass
class Checkpoint:
    model: nn.Module
    model_config: ModelConfig
    feature_names: tuple[str, ...]
    normalizer: Normalizer
    label_config: dict
    split_config: dict
    lineage: dict
    metrics: dict
    history: list[dict]
    train_config: dict
    path: str = ""
    sha256: str = ""  # of the file's bytes as loaded: the model's identity

    def check_dataset(self, dataset_lineage: dict, normalizer: Normalizer, symbol: str) -> None:
        """Refuse to be used with a dataset other than the one it was trained on (SPEC 11):
        the fingerprints must be equal, and so must the normalization statistics (inference
        normalizes with the checkpoint's own; equal statistics make the dataset's normalized
        matrix the same input)."""
        check_same_dataset(self.lineage, dataset_lineage, symbol, self.path or "the checkpoint")
        if normalizer.to_dict() != self.normalizer.to_dict():
            raise LineageError(
                f"{self.path or 'the checkpoint'} normalizes with other statistics than the "
                f"current dataset of {symbol} although both carry the same fingerprint: "
                f"retrain with {materialize('trained_model', symbol)}"
            )

    def check_features(self, feature_names: tuple[str, ...] | list[str]) -> None:
        """Refuse inputs whose channels differ from those the model was trained on."""
        if tuple(feature_names) != self.feature_names:
            raise CheckpointError(
                f"the model was trained on {len(self.feature_names)} channels "
                f"{list(self.feature_names)} but the input has {len(feature_names)} "
                f"{list(feature_names)}: rebuild the dataset with the same features or retrain"
            )


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    model_config: ModelConfig,
    *,
    feature_names: tuple[str, ...],
    normalizer: Normalizer,
    label_config: dict,
    split_config: dict,
    lineage: dict,
    metrics: dict,
    history: list[dict],
    train_config: dict,
    data_root: str | os.PathLike[str] | None = None,
) -> Path | UPath:
    """Write the checkpoint through a temp file unique to this writer, then publish it in
    one step (``artifacts.atomic_write_path``: rename, or temporary key + copy on object
    storage). Absolute local paths in ``lineage`` under a local ``data_root`` are stored
    relative to it (lineage then holds no machine's directories)."""
    path = Path(path) if is_local(path) else as_path(path)
    if data_root is not None and is_local(data_root):
        lineage = relative_paths(lineage, local_path(data_root))
    else:
        lineage = dict(lineage)
    payload = {
        "format_version": FORMAT_VERSION,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_config": model_config.to_dict(),
        "feature_names": list(feature_names),
        "normalizer": normalizer.to_dict(),
        "label_config": label_config,
        "split_config": split_config,
        "lineage": lineage,
        "metrics": metrics,
        "history": history,
        "train_config": {
            k: list(v) if isinstance(v, tuple) else v for k, v in train_config.items()
        },
    }
    with atomic_write_path(path) as tmp:  # unique per writer: two trainings never share one
        torch.save(payload, tmp)
    return path


def _rebuild(asset: str | None, partition: str | None) -> str:
    """The command that rebuilds a checkpoint of ``asset`` (the caller knows which)."""
    if asset is None:
        return "the asset that wrote it (trained_model or wf_model)"
    return materialize(asset, partition)


def load_checkpoint(
    path: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    *,
    asset: str | None = None,
    partition: str | None = None,
) -> Checkpoint:
    """A checkpoint from a local file or object storage (read from a cached local copy).
    ``asset`` and ``partition``: what wrote it, named with the rebuild command in every error.
    ``Checkpoint.sha256`` is the digest of exactly the bytes loaded."""
    path = Path(path) if is_local(path) else as_path(path)
    rebuild = _rebuild(asset, partition)
    if not exists(path):
        raise CheckpointError(
            f"no checkpoint at {path}: materialize {asset or 'its asset'} first ({rebuild})"
        )
    try:
        content = Path(local_copy(path)).read_bytes()
        data = torch.load(io.BytesIO(content), map_location=device, weights_only=True)
    except Exception as error:  # a foreign or corrupted file: say so instead of a pickle trace
        # torch's own text suggests weights_only=False: never do that with an unknown file
        raise CheckpointError(
            f"{path} is not a loadable resnet_pipeline checkpoint (truncated, corrupt or "
            f"foreign: {type(error).__name__}). Rebuild it with {rebuild}"
        ) from error
    missing = [k for k in REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        raise CheckpointError(
            f"{path} lacks {missing}: it was not written by resnet_pipeline. Rebuild it with "
            f"{rebuild}"
        )
    if data["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format {data['format_version']}, expected {FORMAT_VERSION}: "
            f"rebuild it with {rebuild}"
        )
    try:
        config = ModelConfig(**data["model_config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"{path}: invalid model config: {error}. Rebuild it with {rebuild}"
        ) from error
    if len(data["feature_names"]) != config.in_channels:
        raise CheckpointError(
            f"{path}: {len(data['feature_names'])} feature names for a "
            f"{config.in_channels}-channel model. Rebuild it with {rebuild}"
        )
    model = build_model(config)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(
            f"{path}: weights do not fit the model config: {error}. Rebuild it with {rebuild}"
        ) from error
    model.to(device).eval()
    return Checkpoint(
        model=model,
        model_config=config,
        feature_names=tuple(data["feature_names"]),
        normalizer=Normalizer.from_dict(data["normalizer"]),
        label_config=data["label_config"],
        split_config=data["split_config"],
        lineage=data["lineage"],
        metrics=data["metrics"],
        history=data["history"],
        train_config=data.get("train_config", {}),
        path=str(path),
        sha256=hashlib.sha256(content).hexdigest(),
    )
