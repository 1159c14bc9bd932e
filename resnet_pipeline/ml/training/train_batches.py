"""Batches in and out of the model during training: this epoch's draw, validation in order,
inputs and labels on the device, evaluation under no_grad, BatchNorm statistics refreshed.

Every draw comes from (seed, epoch), so epoch k is the same computation whether a training got
there directly or resumed from a state written after epoch k - 1.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from resnet_pipeline.ml.data.windows import make_loader
from resnet_pipeline.ml.training.train_config import TrainConfig


class TrainingError(ValueError):
    """Training cannot give a usable model (e.g. the loss became NaN); says what to change."""


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def train_loader(
    dataset: Dataset, cfg: TrainConfig, epoch: int, pin: bool, drop_last: bool
) -> DataLoader:
    """This epoch's fresh draw of ``epoch_samples`` windows, shuffled from (seed, epoch)."""
    return make_loader(
        dataset,
        cfg.batch_size,
        num_samples=cfg.epoch_samples(len(dataset)),
        seed=epoch_seed(cfg.seed, epoch),
        drop_last=drop_last,
        pin_memory=pin,
    )


def val_loader(dataset: Dataset, cfg: TrainConfig, pin: bool) -> DataLoader:
    """Validation in order; ``max_val_samples``: a fixed, evenly spaced subset."""
    if cfg.max_val_samples is not None and cfg.max_val_samples < len(dataset):
        picks = np.linspace(0, len(dataset) - 1, cfg.max_val_samples).round().astype(int)
        dataset = Subset(dataset, picks.tolist())
    return make_loader(dataset, max(cfg.batch_size, 256), pin_memory=pin)


def to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, classes: int | None):
    """Inputs as float32 and labels as int64 (float64 / int32 fail deep inside torch)."""
    x = x.to(device, torch.float32, non_blocking=True)
    y = y.to(device, torch.int64, non_blocking=True)
    if classes is not None and len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise TrainingError(
            f"labels must be class indices 0..{classes - 1} for a {classes}-class model; "
            f"found {int(y.min())}..{int(y.max())}: build the model with num_classes matching "
            "the labels"
        )
    return x, y


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: nn.Module,
    device: torch.device,
    amp: torch.dtype | None,
    classes: int | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy under no_grad in eval mode (restores the previous mode)."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for batch_x, batch_y in loader:
            x, y = to_device(batch_x, batch_y, device, classes)
            with autocast(device, amp):
                logits = model(x)
            total_loss += loss_fn(logits.float(), y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
    model.train(was_training)
    return total_loss / max(count, 1), correct / max(count, 1)


def refresh_batchnorm(
    model: nn.Module, batches, device: torch.device, amp: torch.dtype | None = None
) -> None:
    """Recompute BatchNorm running statistics as the plain average over ``batches`` of
    training inputs (torch's ``update_bn``): the running averages lag the weights when there
    were few optimizer steps, and the best-by-validation model then predicts one class."""
    inputs = (x.to(device, torch.float32) for x, _ in batches)
    with autocast(device, amp):
        torch.optim.swa_utils.update_bn(inputs, model, device)
