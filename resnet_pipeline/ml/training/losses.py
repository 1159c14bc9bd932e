"""Losses of SPEC 8: class-weighted cross-entropy (default) and focal loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resnet_pipeline.ml.training.train_config import LOSSES


class FocalLoss(nn.Module):
    """``alpha * (1 - p_t)^gamma * CE``: down-weights easy (mostly Neutral) samples."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0) -> None:
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.float(), target, reduction="none")
        pt = torch.exp(-ce)
        return (self.alpha * (1 - pt) ** self.gamma * ce).mean()


def make_loss(
    kind: str, class_weights: tuple[float, ...] | None, alpha: float, gamma: float
) -> nn.Module:
    """``class_weights`` None: every class weighs the same."""
    if kind == "weighted_ce":
        if class_weights is None:
            return nn.CrossEntropyLoss()
        weights = torch.tensor(class_weights, dtype=torch.float32)
        if weights.ndim != 1 or len(weights) < 2 or not bool((weights > 0).all()):
            raise ValueError(
                f"class_weights={list(class_weights)}: give one positive weight per class"
            )
        return nn.CrossEntropyLoss(weight=weights)
    if kind == "focal":
        return FocalLoss(alpha, gamma)
    raise ValueError(f"loss={kind!r}: use one of {list(LOSSES)}")
