"""Class probabilities from a trained model, in batches, without building autograd graphs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def predict_proba(
    model: nn.Module, windows: np.ndarray | torch.utils.data.DataLoader, batch_size: int = 512
) -> np.ndarray:
    """[N, C, L] windows (or a loader of (x, y) batches) -> softmax probabilities [N, classes]
    (classes 0 Down, 1 Neutral, 2 Up)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    if isinstance(windows, np.ndarray):
        batches = (
            torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size], np.float32))
            for i in range(0, len(windows), batch_size)
        )
    else:
        batches = (x for x, _ in windows)
    out = []
    with torch.inference_mode():
        for x in batches:
            out.append(torch.softmax(model(x.to(device)).float(), dim=1).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 3), np.float32)
