"""The training loop (SPEC 8): flat, seeded, resumable; progress goes to a callback.

Reproducibility without saving RNG states: every epoch re-seeds torch from (seed, epoch) and
the sampler and augmentation draw from (seed, epoch), so epoch k is the same computation
whether the run got there directly or resumed from a state written after epoch k - 1.

An epoch is a fresh random sample of the training windows (``epoch_fraction``): adjacent
1-minute windows share 255 of 256 rows, so a sample loses little while validation, early
stopping and the saved state come often enough to watch and resume a symbol-year.

The callback receives each epoch's history record, and between them dicts with a ``kind``:
``progress`` (inside an epoch, at least every ``progress_every_s``), ``note`` and ``warning``.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from resnet_pipeline.artifacts import exists
from resnet_pipeline.ml.device import (
    autocast_plan,
    configure_threads,
    cpu_has_native_bf16,
    pick_device,
)
from resnet_pipeline.ml.losses import make_loss
from resnet_pipeline.ml.training_state import (
    IDENTITY_FREE_FIELDS,
    load_state,
    resume_decision,
    save_state,
)
from resnet_pipeline.ml.windows import make_loader

Progress = Callable[[dict], None]
MIN_EPOCH_SAMPLES = 8192  # below this many windows an epoch is the whole training set


class TrainingError(ValueError):
    """Training cannot give a usable model (e.g. the loss became NaN); says what to change."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    eta_min: float = 1e-6
    patience: int = 15
    min_delta: float = 1e-4
    min_steps: int = 500  # early stopping waits for this many optimizer steps (small data)
    loss: str = "weighted_ce"  # or "focal"
    class_weights: tuple[float, ...] | None = (1.2, 0.8, 1.2)  # Down, Neutral, Up; None: equal
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"  # "bf16" (autocast) or "fp16" (CUDA only, with a GradScaler)
    epoch_fraction: float = 0.1  # share of training windows drawn afresh each epoch
    max_train_samples: int | None = None  # a cap on the windows per epoch (quick runs)
    max_val_samples: int | None = None  # a fixed, evenly spaced subset of validation
    time_budget_s: float | None = None  # stop after the epoch that crosses it
    num_threads: int | None = None  # None: the physical cores available to this process
    progress_every_s: float = 30.0  # a progress record at least this often inside an epoch
    bn_refresh_batches: int = 0  # >0: recompute BatchNorm statistics on training batches

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")
        if self.lr <= 0 or self.patience < 1 or self.min_steps < 0:
            raise ValueError("lr must be > 0, patience >= 1 and min_steps >= 0")
        if not 0 < self.epoch_fraction <= 1:
            raise ValueError(
                f"epoch_fraction={self.epoch_fraction}: use a share in (0, 1] "
                "(1 = every training window each epoch)"
            )
        if self.class_weights is not None:
            object.__setattr__(self, "class_weights", tuple(float(w) for w in self.class_weights))
        make_loss(self.loss, self.class_weights, self.focal_alpha, self.focal_gamma)
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(
                f"precision={self.precision!r}: use 'fp32', 'bf16' or 'fp16' (CUDA only)"
            )
        if self.bn_refresh_batches < 0 or self.progress_every_s < 0:
            raise ValueError("bn_refresh_batches and progress_every_s must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    def epoch_samples(self, train_size: int) -> int:
        """Training windows drawn per epoch: the fraction, at least MIN_EPOCH_SAMPLES (or all),
        at most ``max_train_samples``."""
        count = max(math.ceil(self.epoch_fraction * train_size), min(MIN_EPOCH_SAMPLES, train_size))
        if self.max_train_samples is not None:
            count = min(count, self.max_train_samples)
        return max(min(count, train_size), 1)


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
    steps: int = 0
    threads: int | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _train_loader(
    dataset: Dataset, cfg: TrainConfig, epoch: int, pin: bool, drop_last: bool
) -> DataLoader:
    """This epoch's fresh draw of ``epoch_samples`` windows, shuffled from (seed, epoch)."""
    return make_loader(
        dataset,
        cfg.batch_size,
        num_samples=cfg.epoch_samples(len(dataset)),
        seed=_epoch_seed(cfg.seed, epoch),
        drop_last=drop_last,
        pin_memory=pin,
    )


def _val_loader(dataset: Dataset, cfg: TrainConfig, pin: bool) -> DataLoader:
    """Validation in order; ``max_val_samples``: a fixed, evenly spaced subset."""
    if cfg.max_val_samples is not None and cfg.max_val_samples < len(dataset):
        picks = np.linspace(0, len(dataset) - 1, cfg.max_val_samples).round().astype(int)
        dataset = Subset(dataset, picks.tolist())
    return make_loader(dataset, max(cfg.batch_size, 256), pin_memory=pin)


def _to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, classes: int | None):
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
            x, y = _to_device(batch_x, batch_y, device, classes)
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


def _num_classes(model: nn.Module) -> int | None:
    cfg = getattr(model, "cfg", None)
    return getattr(cfg, "num_classes", None)


def _check_class_weights(cfg: TrainConfig, classes: int | None) -> None:
    if cfg.loss != "weighted_ce" or cfg.class_weights is None or classes is None:
        return
    if len(cfg.class_weights) != classes:
        raise ValueError(
            f"class_weights has {len(cfg.class_weights)} entries {list(cfg.class_weights)} but "
            f"the model has {classes} classes: give one weight per class (or None: equal weights)"
        )


def refresh_batchnorm(
    model: nn.Module, batches, device: torch.device, amp: torch.dtype | None = None
) -> None:
    """Recompute BatchNorm running statistics as the plain average over ``batches`` of
    training inputs (torch's ``update_bn``): the running averages lag the weights when there
    were few optimizer steps, and the best-by-validation model then predicts one class."""
    inputs = (x.to(device, torch.float32) for x, _ in batches)
    with _autocast(device, amp):
        torch.optim.swa_utils.update_bn(inputs, model, device)


def _identity(model: nn.Module, cfg: TrainConfig, identity: dict | None) -> dict:
    """What a saved state must match to be resumed: the data, the model and the training."""
    model_cfg = getattr(model, "cfg", None)
    return {
        "dataset_fingerprint": (identity or {}).get("dataset_fingerprint"),
        **{k: v for k, v in (identity or {}).items() if k != "dataset_fingerprint"},
        "model_config": model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else None,
        "parameter_shapes": {k: list(v.shape) for k, v in model.state_dict().items()},
        "train_config": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in cfg.to_dict().items()
            if k not in IDENTITY_FREE_FIELDS
        },
    }


def train(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    cfg: TrainConfig = TrainConfig(),
    progress: Progress | None = None,
    state_path: str | os.PathLike[str] | None = None,
    identity: dict | None = None,
    resume: bool | None = None,
) -> TrainResult:
    """Train with AdamW + cosine annealing + early stopping on validation loss.

    ``val_set`` None: no early stopping, the last epoch's weights are the result.
    ``state_path``: after every epoch the full training state (model, optimizer, scheduler,
    best weights, history, identity) is written there atomically. ``resume``: None resumes a
    state whose identity (``identity`` e.g. the dataset fingerprint, plus the model and
    training config) equals this run's and otherwise starts afresh with a note; True
    requires resuming and fails naming what differs; False always starts afresh.
    """
    started = time.perf_counter()
    notes: list[str] = []
    warnings: list[str] = []

    def tell(kind: str, message: str) -> None:
        (notes if kind == "note" else warnings).append(message)
        if progress is not None:
            progress({"kind": kind, "message": message})

    device = pick_device(cfg.device)
    threads = configure_threads(cfg.num_threads) if device.type == "cpu" else None
    amp, use_scaler = autocast_plan(device, cfg.precision)
    if cfg.precision == "bf16" and amp == torch.float16:
        tell("note", "this GPU has no bf16: training in fp16 with a GradScaler")
    if cfg.precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        tell(
            "warning",
            "precision 'bf16' on a CPU without native bf16 (no avx512_bf16/amx_bf16 flag in "
            "/proc/cpuinfo) is emulated and many times slower than fp32: use precision 'fp32'",
        )
    classes = _num_classes(model)
    _check_class_weights(cfg, classes)
    if len(train_set) == 0:
        raise TrainingError("the training set is empty: rebuild the dataset with more months")
    pin = device.type == "cuda"
    torch.manual_seed(cfg.seed)
    model.to(device)
    loss_fn = make_loss(cfg.loss, cfg.class_weights, cfg.focal_alpha, cfg.focal_gamma).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=cfg.epochs, eta_min=cfg.eta_min
    )
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    state = {
        "epoch": 0,
        "best_val_loss": math.inf,
        "best_epoch": 0,
        "best_state": copy.deepcopy(model.state_dict()),
        "bad_epochs": 0,
        "history": [],
        "train_seconds": 0.0,
        "train_samples": 0,
        "steps": 0,
    }
    ident = _identity(model, cfg, identity)
    if state_path is not None and resume is not False and exists(state_path):
        saved = load_state(state_path, device)
        go, why = resume_decision(saved.get("identity"), ident, state_path, required=resume)
        if go:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            if "scaler" in saved:
                scaler.load_state_dict(saved["scaler"])
            state.update({k: saved[k] for k in state if k in saved})
        tell("note", why)
    elif state_path is not None and resume and not exists(state_path):
        raise TrainingError(
            f"resume was required but there is no training state at {state_path}: "
            "set resume to auto (null) or false to start afresh"
        )

    epoch_size = cfg.epoch_samples(len(train_set))
    if cfg.batch_size > len(train_set):
        tell(
            "warning",
            f"batch_size {cfg.batch_size} exceeds the {len(train_set)} training windows: one "
            "optimizer step per epoch; use a smaller batch_size (or more data) and min_steps",
        )
    drop_last = _has_batchnorm(model) and epoch_size % cfg.batch_size == 1 and epoch_size > 1
    if drop_last:
        tell("note", "the last batch of each epoch would hold 1 window: it is dropped")
    val_loader = _val_loader(val_set, cfg, pin) if val_set is not None else None
    stop_reason = "epochs"
    first_epoch = state["epoch"]
    for epoch in range(first_epoch, cfg.epochs):
        torch.manual_seed(_epoch_seed(cfg.seed, epoch))  # dropout draws
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        model.train()
        epoch_start = last_report = time.perf_counter()
        total_loss, correct, count = 0.0, 0, 0
        for batch_x, batch_y in _train_loader(train_set, cfg, epoch, pin, drop_last):
            x, y = _to_device(batch_x, batch_y, device, classes)
            with _autocast(device, amp):
                logits = model(x)
            loss = loss_fn(logits.float(), y)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TrainingError(
                    f"the training loss became {loss_value} at epoch {epoch + 1}, step "
                    f"{state['steps'] + 1} (lr {optimizer.param_groups[0]['lr']:.2e}): lower lr, "
                    "use precision 'fp32', or rebuild the dataset if its windows hold NaN/inf"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            state["steps"] += 1
            total_loss += loss_value * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
            now = time.perf_counter()
            if progress is not None and now - last_report >= cfg.progress_every_s:
                last_report = now
                rate = count / max(now - epoch_start, 1e-9)
                progress(
                    {
                        "kind": "progress",
                        "epoch": epoch + 1,
                        "epochs": cfg.epochs,
                        "samples_done": count,
                        "samples_total": epoch_size,
                        "samples_per_s": rate,
                        "epoch_eta_s": (epoch_size - count) / max(rate, 1e-9),
                        "train_loss": total_loss / count,
                    }
                )
        train_seconds = time.perf_counter() - epoch_start
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        if val_loader is not None:
            val_loss, val_acc = evaluate(model, val_loader, loss_fn, device, amp, classes)
            if not math.isfinite(val_loss):
                raise TrainingError(
                    f"the validation loss is {val_loss} after epoch {epoch + 1}: the weights "
                    "diverged or the validation windows hold NaN/inf; lower lr, use precision "
                    "'fp32', or rebuild the dataset"
                )
        else:
            val_loss, val_acc = math.nan, math.nan
        state["train_seconds"] += train_seconds
        state["train_samples"] += count
        improved = val_loader is None or val_loss < state["best_val_loss"] - cfg.min_delta
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
            "steps": state["steps"],
        }
        state["history"].append(record)
        state["epoch"] = epoch + 1
        if state_path is not None:
            save_state(
                state_path,
                {
                    **state,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "identity": ident,
                },
            )
        if progress is not None:
            progress(record)
        if state["bad_epochs"] >= cfg.patience and state["steps"] >= cfg.min_steps:
            stop_reason = "early_stopping"
            break
        if cfg.time_budget_s is not None and elapsed >= cfg.time_budget_s:
            stop_reason = "time_budget"
            break
    model.load_state_dict(state["best_state"])
    extra: dict = {}
    if cfg.bn_refresh_batches:
        extra["bn_refresh"] = _refresh_and_validate(
            model, train_set, val_loader, loss_fn, cfg, device, amp, classes, pin, drop_last
        )
        state["best_state"] = copy.deepcopy(model.state_dict())
        if val_loader is not None:
            state["best_val_loss"] = extra["bn_refresh"]["val_loss_kept"]
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
        steps=state["steps"],
        threads=threads,
        notes=notes,
        warnings=warnings,
        extra=extra,
    )


def _refresh_and_validate(
    model, train_set, val_loader, loss_fn, cfg, device, amp, classes, pin, drop_last
) -> dict:
    """Refresh BatchNorm statistics of the best weights on training batches; with a
    validation set, keep the refreshed statistics only when validation loss is not worse."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loader = _train_loader(train_set, cfg, cfg.epochs, pin, drop_last)  # a draw no epoch used
    if hasattr(train_set, "set_epoch"):
        train_set.set_epoch(cfg.epochs)
    loss_before = math.nan
    if val_loader is not None:
        loss_before = evaluate(model, val_loader, loss_fn, device, amp, classes)[0]
    refresh_batchnorm(model, itertools.islice(loader, cfg.bn_refresh_batches), device, amp)
    if val_loader is None:
        return {"val_loss_before": None, "val_loss_after": None, "kept": True}
    loss_after = evaluate(model, val_loader, loss_fn, device, amp, classes)[0]
    kept = loss_after <= loss_before
    if not kept:
        model.load_state_dict(before)
    return {
        "val_loss_before": loss_before,
        "val_loss_after": loss_after,
        "kept": kept,
        "val_loss_kept": loss_after if kept else loss_before,
    }


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
