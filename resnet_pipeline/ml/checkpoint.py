"""Self-contained checkpoints: weights, model config, features, normalization, labels, lineage.

Saved as plain types and tensors only, so loading never unpickles arbitrary objects
(``torch.load(weights_only=True)``); contents are validated on load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from resnet_pipeline.ml.normalization import Normalizer
from resnet_pipeline.ml.resnet import ModelConfig, build_model

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
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Checkpoint:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"no checkpoint at {path}: materialize trained_model for this symbol first "
            "(dagster asset materialize -m resnet_pipeline.definitions --select trained_model "
            "--partition <SYMBOL>)"
        )
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # a foreign or corrupted file: say so instead of a pickle trace
        raise CheckpointError(
            f"{path} is not a loadable resnet_pipeline checkpoint: {error}"
        ) from error
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}: it was not written by resnet_pipeline")
    if data["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format {data['format_version']}, expected {FORMAT_VERSION}"
        )
    try:
        config = ModelConfig(**data["model_config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid model config: {error}") from error
    if len(data["feature_names"]) != config.in_channels:
        raise CheckpointError(
            f"{path}: {len(data['feature_names'])} feature names for a "
            f"{config.in_channels}-channel model"
        )
    model = build_model(config)
    try:
        model.load_state_dict(data["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit the model config: {error}") from error
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
    )
