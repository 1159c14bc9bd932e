"""The training loop (SPEC 8): flat, seeded, resumable; progress goes to a callback.

Reproducibility without saving RNG states: every epoch re-seeds torch from (seed, epoch) and
the sampler and augmentation draw from (seed, epoch), so epoch k is the same computation
whether the run got there directly or resumed from a checkpoint written after epoch k - 1.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset

from resnet_pipeline.ml.device import autocast_dtype, configure_threads, pick_device
from resnet_pipeline.ml.losses import make_loss

Progress = Callable[[dict], None]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    eta_min: float = 1e-6
    patience: int = 15
    min_delta: float = 1e-4
    loss: str = "weighted_ce"  # or "focal"
    class_weights: tuple[float, float, float] = (1.2, 0.8, 1.2)  # Down, Neutral, Up
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"  # or "bf16" (autocast; ~1.5x on recent CPUs)
    max_train_samples: int | None = None  # a fresh random subset per epoch (quick runs)
    max_val_samples: int | None = None  # a fixed, evenly spaced subset of validation
    time_budget_s: float | None = None  # stop after the epoch that crosses it
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if self.lr <= 0 or self.patience < 1:
            raise ValueError("lr must be > 0 and patience >= 1")
        make_loss(self.loss, self.class_weights, self.focal_alpha, self.focal_gamma)
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision={self.precision!r}: use 'fp32' or 'bf16'")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    history: list[dict]
    best_epoch: int
    best_val_loss: float
    best_state: dict
    epochs_run: int
    stop_reason: str
    device: str
    wall_s: float
    train_samples_per_s: float
    extra: dict = field(default_factory=dict)


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def _train_loader(dataset: Dataset, cfg: TrainConfig, epoch: int, pin: bool) -> DataLoader:
    generator = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch))
    count = None if cfg.max_train_samples is None else min(cfg.max_train_samples, len(dataset))
    sampler = RandomSampler(dataset, num_samples=count, generator=generator)
    return DataLoader(
        dataset, batch_size=cfg.batch_size, sampler=sampler, collate_fn=_as_is, pin_memory=pin
    )


def _val_loader(dataset: Dataset, cfg: TrainConfig, pin: bool) -> DataLoader:
    if cfg.max_val_samples is not None and cfg.max_val_samples < len(dataset):
        picks = np.linspace(0, len(dataset) - 1, cfg.max_val_samples).round().astype(int)
        dataset = Subset(dataset, picks.tolist())
    return DataLoader(
        dataset, batch_size=max(cfg.batch_size, 256), collate_fn=_as_is, pin_memory=pin
    )


def _as_is(batch):
    """Datasets here return whole batches (``__getitems__``); plain ones return item lists."""
    if isinstance(batch, list):
        xs, ys = zip(*batch, strict=True)
        return torch.stack(xs), torch.stack([torch.as_tensor(y) for y in ys])
    return batch


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: nn.Module,
    device: torch.device,
    amp: torch.dtype | None,
) -> tuple[float, float]:
    """Mean loss and accuracy under no_grad in eval mode (restores the previous mode)."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with _autocast(device, amp):
                logits = model(x)
            total_loss += loss_fn(logits.float(), y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
    model.train(was_training)
    return total_loss / max(count, 1), correct / max(count, 1)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def train(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset,
    cfg: TrainConfig = TrainConfig(),
    progress: Progress | None = None,
    state_path: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train with AdamW + cosine annealing + early stopping on validation loss.

    ``state_path``: after every epoch the full training state (model, optimizer, scheduler,
    best weights, history) is written there atomically; if it exists at the start, training
    resumes from it and ends where an uninterrupted run would have.
    """
    started = time.perf_counter()
    device = pick_device(cfg.device)
    if device.type == "cpu":
        configure_threads(cfg.num_threads)
    amp = autocast_dtype(device, cfg.precision)
    pin = device.type == "cuda"
    torch.manual_seed(cfg.seed)
    model.to(device)
    loss_fn = make_loss(cfg.loss, cfg.class_weights, cfg.focal_alpha, cfg.focal_gamma).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=cfg.epochs, eta_min=cfg.eta_min
    )
    state = {
        "epoch": 0,
        "best_val_loss": math.inf,
        "best_epoch": 0,
        "best_state": copy.deepcopy(model.state_dict()),
        "bad_epochs": 0,
        "history": [],
        "train_seconds": 0.0,
        "train_samples": 0,
    }
    if state_path is not None and Path(state_path).exists():
        saved = torch.load(state_path, map_location=device, weights_only=True)
        if saved.get("config") != cfg.to_dict():
            raise ValueError(
                f"{state_path} was written by a training with another configuration; delete it "
                "to start afresh or train with the same configuration to resume"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state.update({k: saved[k] for k in state})
    val_loader = _val_loader(val_set, cfg, pin)
    stop_reason = "epochs"
    first_epoch = state["epoch"]
    for epoch in range(first_epoch, cfg.epochs):
        torch.manual_seed(_epoch_seed(cfg.seed, epoch))  # dropout draws
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        model.train()
        epoch_start = time.perf_counter()
        total_loss, correct, count = 0.0, 0, 0
        for x, y in _train_loader(train_set, cfg, epoch, pin):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with _autocast(device, amp):
                logits = model(x)
            loss = loss_fn(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
        train_seconds = time.perf_counter() - epoch_start
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        val_loss, val_acc = evaluate(model, val_loader, loss_fn, device, amp)
        state["train_seconds"] += train_seconds
        state["train_samples"] += count
        improved = val_loss < state["best_val_loss"] - cfg.min_delta
        if improved:
            state.update(best_val_loss=val_loss, best_epoch=epoch + 1, bad_epochs=0)
            state["best_state"] = copy.deepcopy(model.state_dict())
        else:
            state["bad_epochs"] += 1
        elapsed = time.perf_counter() - started
        record = {
            "epoch": epoch + 1,
            "train_loss": total_loss / max(count, 1),
            "train_acc": correct / max(count, 1),
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "samples_per_s": count / max(train_seconds, 1e-9),
            "eta_s": elapsed / (epoch + 1 - first_epoch) * (cfg.epochs - epoch - 1),
            "improved": improved,
        }
        state["history"].append(record)
        state["epoch"] = epoch + 1
        if state_path is not None:
            _save_state(state_path, model, optimizer, scheduler, state, cfg)
        if progress is not None:
            progress(record)
        if state["bad_epochs"] >= cfg.patience:
            stop_reason = "early_stopping"
            break
        if cfg.time_budget_s is not None and elapsed >= cfg.time_budget_s:
            stop_reason = "time_budget"
            break
    model.load_state_dict(state["best_state"])
    return TrainResult(
        history=state["history"],
        best_epoch=state["best_epoch"],
        best_val_loss=state["best_val_loss"],
        best_state=state["best_state"],
        epochs_run=state["epoch"],
        stop_reason=stop_reason,
        device=str(device),
        wall_s=time.perf_counter() - started,
        train_samples_per_s=state["train_samples"] / max(state["train_seconds"], 1e-9),
    )


def _save_state(path, model, optimizer, scheduler, state: dict, cfg: TrainConfig) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    payload = {
        **state,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "config": cfg.to_dict(),
    }
    torch.save(payload, tmp)
    os.replace(tmp, path)
