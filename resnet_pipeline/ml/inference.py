"""Class probabilities from a trained model, in batches, without building autograd graphs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def predict_proba(
    model: nn.Module,
    windows: np.ndarray | torch.Tensor | torch.utils.data.DataLoader,
    batch_size: int = 512,
) -> np.ndarray:
    """[N, C, L] windows (an array, a tensor, or a loader of (x, y) batches) -> softmax
    probabilities [N, classes] (for the SPEC's 3 classes: 0 Down, 1 Neutral, 2 Up). Inputs
    of any float dtype are cast to float32."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    if isinstance(windows, np.ndarray | torch.Tensor):
        if windows.ndim != 3:
            raise ValueError(f"expected windows [N, channels, length], got {tuple(windows.shape)}")
        batches = (windows[i : i + batch_size] for i in range(0, len(windows), batch_size))
    else:
        batches = (x for x, _ in windows)
    out = []
    with torch.inference_mode():
        for x in batches:
            x = torch.as_tensor(np.ascontiguousarray(x) if isinstance(x, np.ndarray) else x)
            logits = model(x.to(device, torch.float32))
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    model.train(was_training)
    if out:
        return np.concatenate(out)
    classes = getattr(getattr(model, "cfg", None), "num_classes", 3)
    return np.zeros((0, classes), np.float32)
