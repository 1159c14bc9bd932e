"""Class probabilities from a trained model, in batches, without building autograd graphs.

The fast path is the default: inference mode, bf16 where the device computes bf16 natively
(``precision`` 'auto', as training), batches of ``INFERENCE_BATCH`` windows fed without copies
(a contiguous float32 batch goes to the model as it is; a loader may pin its batches for a
GPU). In bf16 the model runs as a copy whose BatchNorms are folded into the convolutions
before them, with its weights cast to bf16 once (``fast_model``) instead of per batch by
autocast: 1.05-1.09x the windows/s of autocast on one core of the project's AVX512-BF16 EPYC,
which itself is 1.8x fp32 and 2.5x ONNX Runtime's fp32 (``benchmarks/bench_prediction.py``);
ResNet-18-1D's 89 MFLOP a window then run near the core's bf16 peak. Its probabilities differ
from fp32 by up to about 0.01 on a fold model (bf16 keeps 8 bits of mantissa), so the argmax
can differ where two classes are that close. ``precision='fp32'`` gives the exact fp32
figures of the model as it is.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from resnet_pipeline.ml.training.device import autocast_dtype
from resnet_pipeline.ml.training.trainer import autocast

# Bound on the difference between bf16 and fp32 class probabilities of a fold model of the
# synthetic market (measured up to 0.0098): the argmax agrees wherever fp32's two best classes
# are more than twice this apart. The difference grows with the logits (bf16 rounds them
# relatively): 0.037 on a model certain of a planted pattern, where the argmax still agreed.
BF16_PROBA_TOLERANCE = 0.02
# Windows per forward pass: bf16 CPU throughput is flat from 128 to 1024 windows for
# ResNet-18-1D on [B, 15, 256] (bench_prediction.py), and 256 holds a quarter of 1024's memory.
INFERENCE_BATCH = 256
# A folded copy whose fp32 logits move more than this (relative to their size) from the
# model's on the first batch is refused: its layers were not applied in the order registered.
FOLD_CHECK_TOLERANCE = 1e-3
FOLD_CHECK_WINDOWS = 4


def fold_batch_norms(model: nn.Module) -> tuple[nn.Module, int]:
    """An eval-mode copy of ``model`` where each BatchNorm1d registered right after a Conv1d of
    its width (a Sequential's layers, a block's ``conv1``/``bn1``) is folded into that conv's
    weights and bias; the count folded. Folding assumes the norm is applied to the conv's
    output, which registration order does not prove: ``fast_model`` checks the result."""
    folded = copy.deepcopy(model).eval()
    count = 0
    for parent in list(folded.modules()):
        children = list(parent.named_children())
        for (conv_name, conv), (norm_name, norm) in zip(children, children[1:], strict=False):
            if (
                isinstance(conv, nn.Conv1d)
                and isinstance(norm, nn.BatchNorm1d)
                and norm.running_mean is not None
                and conv.out_channels == norm.num_features
            ):
                setattr(parent, conv_name, fuse_conv_bn_eval(conv, norm))
                setattr(parent, norm_name, nn.Identity())
                count += 1
    return folded, count


def fast_model(model: nn.Module, probe: torch.Tensor) -> tuple[nn.Module, str | None]:
    """(the module to run in bf16, None) or (``model`` itself, why not): the BatchNorm-folded
    copy in bf16 when its fp32 logits on ``probe`` (a few real windows) match the model's."""
    folded, count = fold_batch_norms(model)
    if count == 0:
        return model, "no BatchNorm follows a convolution: nothing to fold"
    was_training = model.training
    with torch.inference_mode():
        expected = model.eval()(probe)
        got = folded(probe)
    model.train(was_training)
    scale = float(expected.abs().max()) + 1.0
    if float((got - expected).abs().max()) > FOLD_CHECK_TOLERANCE * scale:
        return model, (
            "folding the BatchNorms into the convolutions changed the model's logits (a norm "
            "registered after a convolution is not applied to its output)"
        )
    return folded.to(torch.bfloat16), None


def _batches(windows: np.ndarray | torch.Tensor | torch.utils.data.DataLoader, batch_size: int):
    if isinstance(windows, np.ndarray | torch.Tensor):
        if windows.ndim != 3:
            raise ValueError(f"expected windows [N, channels, length], got {tuple(windows.shape)}")
        return (windows[i : i + batch_size] for i in range(0, len(windows), batch_size))
    return (x for x, _ in windows)


def predict_proba(
    model: nn.Module,
    windows: np.ndarray | torch.Tensor | torch.utils.data.DataLoader,
    batch_size: int = INFERENCE_BATCH,
    precision: str = "auto",
) -> np.ndarray:
    """[N, C, L] windows (an array, a tensor, or a loader of (x, y) batches) -> softmax
    probabilities [N, classes] (for the SPEC's 3 classes: 0 Down, 1 Neutral, 2 Up). Inputs
    of any float dtype are cast to float32; ``precision`` as training's ('auto': bf16 where
    native). In bf16 the BatchNorm-folded copy runs (``fast_model``); where it cannot, the
    model under autocast, with a warning that says why."""
    device = next(model.parameters()).device
    amp = autocast_dtype(device, precision)
    was_training = model.training
    model.eval()
    runner = None
    out = []
    with torch.inference_mode():
        for x in _batches(windows, batch_size):
            x = torch.as_tensor(np.ascontiguousarray(x) if isinstance(x, np.ndarray) else x)
            x = x.to(device, torch.float32, non_blocking=True)
            if runner is None:
                runner, why = (model, None)
                if amp == torch.bfloat16:
                    runner, why = fast_model(model, x[:FOLD_CHECK_WINDOWS])
                    if why is not None:
                        warnings.warn(f"bf16 predictions run under autocast: {why}", stacklevel=2)
            if runner is not model:
                logits = runner(x.to(torch.bfloat16))
            else:
                with autocast(device, amp):
                    logits = model(x)
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
    model.train(was_training)
    if out:
        return np.concatenate(out)
    classes = getattr(getattr(model, "cfg", None), "num_classes", 3)
    return np.zeros((0, classes), np.float32)
