"""The training loop (SPEC 8), read top to bottom: ``train`` sets up a session, resumes or
starts, and runs epochs (optimizer steps, validation, the best weights kept, the state saved,
early stopping); the batch-level helpers it uses (this epoch's draw, inputs on the device,
evaluation under no_grad, the BatchNorm refresh) follow it. What stays fixed while the epochs
run and what they carry from one to the next (device, threads, optimizer, the resumable state)
is ``session.py``.

Reproducibility without saving RNG states: every epoch re-seeds torch from (seed, epoch) and
the sampler and augmentation draw from (seed, epoch), so epoch k is the same computation
whether the run got there directly or resumed from a state written after epoch k - 1.

An epoch is a fresh random sample of the training windows (``epoch_fraction``): adjacent
1-minute windows share 255 of 256 rows, so a sample loses little while validation, early
stopping and the saved state come often enough to watch and resume a symbol-year.

Progress goes to a callback, not to a logger (the assets turn it into log lines with
``progress_line``): each epoch's history record, and between them dicts with a ``kind``:
``progress`` (inside an epoch, at least every ``progress_every_seconds``), ``note`` and
``warning``.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from resnet_pipeline.ml.data.windows import make_loader
from resnet_pipeline.ml.training.session import (
    LoopState,
    Messages,
    Progress,
    Session,
    TrainingError,
    adapt_threads,
    plan_batches,
    resume_or_start,
    save_training_state,
    start_session,
    training_identity,
)
from resnet_pipeline.ml.training.train_config import TrainConfig


@dataclass
class TrainResult:
    """What a training gives: the best weights and how it got there (its history, why it
    stopped), and what it ran on."""

    history: list[dict]
    best_epoch: int
    best_val_loss: float
    best_state: dict
    epochs_run: int
    stop_reason: str
    device: str
    wall_s: float
    train_samples_per_s: float
    steps: int = 0
    threads: int | None = None
    precision: str = ""  # in use, 'auto' decided
    train_seconds: float = 0.0  # in optimizer steps (with their batches), validation apart
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def train(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    cfg: TrainConfig | None = None,
    progress: Progress | None = None,
    state_path: str | os.PathLike[str] | None = None,
    identity: dict | None = None,
    resume: bool | None = None,
) -> TrainResult:
    """Train with AdamW + cosine annealing + early stopping on validation loss (``cfg`` None:
    the SPEC 8 defaults).

    ``val_set`` None: no early stopping, the last epoch's weights are the result.
    ``state_path``: after every epoch the full training state (model, optimizer, scheduler,
    best weights, history, identity) is written there atomically. ``resume``: None resumes a
    state whose identity (``identity`` e.g. the dataset fingerprint, plus the model and
    training config) equals this run's and otherwise starts afresh with a note; True
    requires resuming and fails naming what differs; False always starts afresh.
    """
    cfg = cfg or TrainConfig()
    started = time.perf_counter()
    messages = Messages(progress)
    session = start_session(model, train_set, cfg, messages)
    ident = training_identity(model, cfg, identity)
    state = resume_or_start(session, state_path, ident, resume, messages)
    plan_batches(session, train_set, messages)
    loader = val_loader(val_set, cfg, session.pin) if val_set is not None else None
    reason, first_epoch = "epochs", state.epoch
    for epoch in range(first_epoch, cfg.epochs):
        stats = run_epoch(session, train_set, epoch, state, progress)
        lr = session.optimizer.param_groups[0]["lr"]
        session.scheduler.step()
        val_loss, val_acc = validate(session, loader, epoch)
        state.train_seconds += stats.seconds
        state.train_samples += stats.count
        improved = keep_if_better(session, state, epoch, val_loss, loader is not None)
        elapsed = time.perf_counter() - started
        record = {
            "epoch": epoch + 1,
            "train_loss": stats.loss,
            "train_acc": stats.accuracy,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": lr,
            "samples_per_s": stats.count / max(stats.seconds, 1e-9),
            "eta_s": elapsed / (epoch + 1 - first_epoch) * (cfg.epochs - epoch - 1),
            "improved": improved,
            "steps": state.steps,
        }
        state.history.append(record)
        state.epoch = epoch + 1
        if state_path is not None:
            save_training_state(state_path, session, state, ident)
        if progress is not None:
            progress(record)
        adapt_threads(session, messages)
        stop = stop_reason(cfg, state, elapsed)
        if stop is not None:
            reason = stop
            break
    model.load_state_dict(state.best_state)
    extra = {}
    if cfg.bn_refresh_batches:
        extra["bn_refresh"] = refresh_best(session, train_set, loader, state)
    return TrainResult(
        history=state.history,
        best_epoch=state.best_epoch,
        best_val_loss=state.best_val_loss,
        best_state=state.best_state,
        epochs_run=state.epoch,
        stop_reason=reason,
        device=str(session.device),
        wall_s=time.perf_counter() - started,
        train_samples_per_s=state.train_samples / max(state.train_seconds, 1e-9),
        steps=state.steps,
        threads=session.threads,
        precision=session.precision,
        train_seconds=state.train_seconds,
        notes=messages.notes,
        warnings=messages.warnings,
        extra=extra,
    )


@dataclass
class EpochStats:
    """Sums over the batches of one pass (an epoch's training or a validation)."""

    loss_sum: float = 0.0
    correct: int = 0
    count: int = 0
    seconds: float = 0.0

    def add(self, loss: float, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss_sum += loss * len(y)
        self.correct += (logits.argmax(1) == y).sum().item()
        self.count += len(y)

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.count, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.count, 1)


def run_epoch(
    session: Session, train_set: Dataset, epoch: int, state: LoopState, progress: Progress | None
) -> EpochStats:
    """One epoch of optimizer steps over this epoch's draw; progress records inside it."""
    cfg, model = session.cfg, session.model
    torch.manual_seed(epoch_seed(cfg.seed, epoch))  # dropout draws
    loader = _draw(session, train_set, epoch)
    model.train()
    epoch_size = cfg.epoch_samples(len(train_set))
    stats = EpochStats()
    epoch_start = last_report = time.perf_counter()
    for batch_x, batch_y in loader:
        x, y = to_device(batch_x, batch_y, session.device, session.classes)
        with autocast(session.device, session.amp):
            logits = model(x)
        loss = session.loss_fn(logits.float(), y)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingError(
                f"the training loss became {loss_value} at epoch {epoch + 1}, step "
                f"{state.steps + 1} (lr {session.optimizer.param_groups[0]['lr']:.2e}): lower "
                "lr, use precision 'fp32', or rebuild the dataset if its windows hold NaN/inf"
            )
        session.optimizer.zero_grad(set_to_none=True)
        session.scaler.scale(loss).backward()
        session.scaler.step(session.optimizer)
        session.scaler.update()
        state.steps += 1
        stats.add(loss_value, logits, y)
        now = time.perf_counter()
        if progress is not None and now - last_report >= cfg.progress_every_seconds:
            last_report = now
            progress(_progress_record(cfg, epoch, epoch_size, stats, now - epoch_start))
    stats.seconds = time.perf_counter() - epoch_start
    return stats


def _progress_record(
    cfg: TrainConfig, epoch: int, epoch_size: int, stats: EpochStats, seconds: float
) -> dict:
    rate = stats.count / max(seconds, 1e-9)
    return {
        "kind": "progress",
        "epoch": epoch + 1,
        "epochs": cfg.epochs,
        "samples_done": stats.count,
        "samples_total": epoch_size,
        "samples_per_s": rate,
        "epoch_eta_s": (epoch_size - stats.count) / max(rate, 1e-9),
        "train_loss": stats.loss,
    }


def validate(session: Session, loader: DataLoader | None, epoch: int) -> tuple[float, float]:
    """Validation loss and accuracy (NaN without a validation set); a NaN loss ends training."""
    if loader is None:
        return math.nan, math.nan
    val_loss, val_acc = _evaluate(session, loader)
    if not math.isfinite(val_loss):
        raise TrainingError(
            f"the validation loss is {val_loss} after epoch {epoch + 1}: the weights "
            "diverged or the validation windows hold NaN/inf; lower lr, use precision "
            "'fp32', or rebuild the dataset"
        )
    return val_loss, val_acc


def keep_if_better(
    session: Session, state: LoopState, epoch: int, val_loss: float, validated: bool
) -> bool:
    """Keep these weights as the best when validation improved by ``min_delta`` (always,
    without validation); count the epochs without improvement otherwise."""
    improved = not validated or val_loss < state.best_val_loss - session.cfg.min_delta
    if improved:
        state.best_val_loss, state.best_epoch, state.bad_epochs = val_loss, epoch + 1, 0
        state.best_state = copy.deepcopy(session.model.state_dict())
    else:
        state.bad_epochs += 1
    return improved


def stop_reason(cfg: TrainConfig, state: LoopState, elapsed: float) -> str | None:
    """Early stopping (patience, once ``min_steps`` were taken) or the time budget; None: go on."""
    if state.bad_epochs >= cfg.patience and state.steps >= cfg.min_steps:
        return "early_stopping"
    if cfg.time_budget_s is not None and elapsed >= cfg.time_budget_s:
        return "time_budget"
    return None


def refresh_best(
    session: Session, train_set: Dataset, loader: DataLoader | None, state: LoopState
) -> dict:
    """Refresh BatchNorm statistics of the best weights on training batches; with a
    validation set, keep the refreshed statistics only when validation loss is not worse."""
    model, cfg = session.model, session.cfg
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = _draw(session, train_set, cfg.epochs)  # a draw no epoch used
    loss_before = _evaluate(session, loader)[0] if loader is not None else math.nan
    refresh_batchnorm(
        model, itertools.islice(batches, cfg.bn_refresh_batches), session.device, session.amp
    )
    if loader is None:
        outcome = {"val_loss_before": None, "val_loss_after": None, "kept": True}
    else:
        loss_after = _evaluate(session, loader)[0]
        kept = loss_after <= loss_before
        if not kept:
            model.load_state_dict(before)
        outcome = {
            "val_loss_before": loss_before,
            "val_loss_after": loss_after,
            "kept": kept,
            "val_loss_kept": loss_after if kept else loss_before,
        }
        state.best_val_loss = outcome["val_loss_kept"]
    state.best_state = copy.deepcopy(model.state_dict())
    return outcome


def _draw(session: Session, train_set: Dataset, epoch: int) -> DataLoader:
    """Epoch ``epoch``'s batches: its sample of windows and, on a dataset that augments, its
    augmentation draws."""
    if hasattr(train_set, "set_epoch"):
        train_set.set_epoch(epoch)
    return train_loader(train_set, session.cfg, epoch, session.pin, session.drop_last)


def _evaluate(session: Session, loader: DataLoader) -> tuple[float, float]:
    return evaluate(
        session.model, loader, session.loss_fn, session.device, session.amp, session.classes
    )


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


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


def to_device(
    x: torch.Tensor, y: torch.Tensor, device: torch.device, classes: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
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


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[object]:
    """Autocast to ``dtype`` on ``device``; None: fp32, no autocast."""
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
    stats = EpochStats()
    with torch.no_grad():
        for batch_x, batch_y in loader:
            x, y = to_device(batch_x, batch_y, device, classes)
            with autocast(device, amp):
                logits = model(x)
            stats.add(loss_fn(logits.float(), y).item(), logits, y)
    model.train(was_training)
    return stats.loss, stats.accuracy


def refresh_batchnorm(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    amp: torch.dtype | None = None,
) -> None:
    """Recompute BatchNorm running statistics as the plain average over ``batches`` of
    training inputs (torch's ``update_bn``): the running averages lag the weights when there
    were few optimizer steps, and the best-by-validation model then predicts one class."""
    inputs = (x.to(device, torch.float32) for x, _ in batches)
    with autocast(device, amp):
        torch.optim.swa_utils.update_bn(inputs, model, device)


def progress_line(record: dict, epochs: int) -> tuple[str, str]:
    """(log level, text) for a record the training reports (see the module docstring)."""
    kind = record.get("kind")
    if kind in ("note", "warning"):
        return ("warning" if kind == "warning" else "info"), record["message"]
    if kind == "progress":
        return "info", (
            f"epoch {record['epoch']}/{record['epochs']}: {record['samples_done']:,}/"
            f"{record['samples_total']:,} samples | {record['samples_per_s']:.0f} samples/s | "
            f"train loss {record['train_loss']:.4f} | epoch ETA {record['epoch_eta_s']:.0f} s"
        )
    return "info", (
        f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f} "
        f"acc {record['train_acc']:.3f} | val loss {record['val_loss']:.4f} acc "
        f"{record['val_acc']:.3f} | lr {record['lr']:.2e} | {record['samples_per_s']:.0f} "
        f"samples/s | ETA {record['eta_s'] / 60:.1f} min"
    )
