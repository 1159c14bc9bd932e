"""Class probabilities from a trained model, in batches, without building autograd graphs.

The fast path is the default: inference mode, bf16 autocast where the device computes bf16
natively (``precision`` 'auto', as training), batches of ``INFERENCE_BATCH`` windows fed
without copies (a contiguous float32 batch goes to the model as it is; a loader may pin its
batches for a GPU). On a CPU with AVX512-BF16 it scores 2.1-2.2x the windows/s of fp32
(``benchmarks/bench_walk_forward.py --files``: 2.10x); its probabilities differ from fp32 by
up to about 0.01 on a fold model (bf16 keeps 8 bits of mantissa), so the argmax can differ
where two classes are that close. ``precision='fp32'`` gives the exact fp32 figures.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from resnet_pipeline.ml.training.device import autocast_dtype
from resnet_pipeline.ml.training.trainer import autocast

# Bound on the difference between bf16 and fp32 class probabilities of a fold model of the
# synthetic market (measured up to 0.0098): the argmax agrees wherever fp32's two best classes
# are more than twice this apart. The difference grows with the logits (bf16 rounds them
# relatively): 0.037 on a model certain of a planted pattern, where the argmax still agreed.
BF16_PROBA_TOLERANCE = 0.02
# Windows per forward pass: fp32 and bf16 CPU throughput peak at 256-512 for ResNet-18-1D on
# [B, 15, 256] (measured per CPU second; 1024 is slower), and 256 holds a quarter of the memory.
INFERENCE_BATCH = 256


def predict_proba(
    model: nn.Module,
    windows: np.ndarray | torch.Tensor | torch.utils.data.DataLoader,
    batch_size: int = INFERENCE_BATCH,
    precision: str = "auto",
) -> np.ndarray:
    """[N, C, L] windows (an array, a tensor, or a loader of (x, y) batches) -> softmax
    probabilities [N, classes] (for the SPEC's 3 classes: 0 Down, 1 Neutral, 2 Up). Inputs
    of any float dtype are cast to float32; ``precision`` as training's ('auto': bf16 where
    native)."""
    device = next(model.parameters()).device
    amp = autocast_dtype(device, precision)
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
            with autocast(device, amp):
                logits = model(x.to(device, torch.float32, non_blocking=True))
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    model.train(was_training)
    if out:
        return np.concatenate(out)
    classes = getattr(getattr(model, "cfg", None), "num_classes", 3)
    return np.zeros((0, classes), np.float32)
