"""One training's fixed parts: device, threads, precision, loss, optimizer and schedule, and
the notes and warnings it reports; refuses up front what cannot train. Threads that follow
the machine's load (``num_threads`` ``FOLLOW_LOAD``, an opt-in) are re-set between epochs
(``adapt_threads``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import Dataset

from resnet_pipeline.ml.training.cpu_load import CpuSample, others_busy, sample_cpus
from resnet_pipeline.ml.training.device import (
    FOLLOW_LOAD,
    allowed_cpus,
    autocast_plan,
    configure_threads,
    cpu_has_native_bf16,
    pick_device,
    resolve_precision,
    threads_for_load,
)
from resnet_pipeline.ml.training.losses import make_loss
from resnet_pipeline.ml.training.train_batches import TrainingError, has_batchnorm
from resnet_pipeline.ml.training.train_config import TrainConfig

Progress = Callable[[dict], None]


@dataclass
class Messages:
    """Notes and warnings of one training, each also handed to the progress callback."""

    progress: Progress | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def tell(self, kind: str, message: str) -> None:
        (self.notes if kind == "note" else self.warnings).append(message)
        if self.progress is not None:
            self.progress({"kind": kind, "message": message})


@dataclass
class Session:
    """The parts of one training that stay fixed while its epochs run."""

    model: nn.Module
    cfg: TrainConfig
    device: torch.device
    threads: int | None
    amp: torch.dtype | None
    classes: int | None
    pin: bool
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    precision: str = "fp32"  # the one in use ('auto' decided)
    drop_last: bool = False
    load_sample: CpuSample | None = None  # threads following the load: the last check


def start_session(
    model: nn.Module, train_set: Dataset, cfg: TrainConfig, messages: Messages
) -> Session:
    """Device, threads, precision, loss and optimizer; refuses what cannot train."""
    device = pick_device(cfg.device)
    threads = configure_threads(cfg.num_threads) if device.type == "cpu" else None
    precision = resolve_precision(cfg.precision, device)
    amp, use_scaler = autocast_plan(device, precision)
    if cfg.precision == "bf16" and amp == torch.float16:
        messages.tell("note", "this GPU has no bf16: training in fp16 with a GradScaler")
    if cfg.precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        messages.tell(
            "warning",
            "precision 'bf16' on a CPU without native bf16 (no avx512_bf16/amx_bf16 flag in "
            "/proc/cpuinfo) is emulated and many times slower than fp32: use precision 'fp32'",
        )
    classes = getattr(getattr(model, "cfg", None), "num_classes", None)
    _check_class_weights(cfg, classes)
    if len(train_set) == 0:
        raise TrainingError("the training set is empty: rebuild the dataset with more months")
    torch.manual_seed(cfg.seed)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return Session(
        model=model,
        cfg=cfg,
        device=device,
        threads=threads,
        amp=amp,
        classes=classes,
        pin=device.type == "cuda",
        loss_fn=make_loss(cfg.loss, cfg.class_weights, cfg.focal_alpha, cfg.focal_gamma).to(device),
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg.epochs, eta_min=cfg.eta_min
        ),
        scaler=torch.amp.GradScaler(device.type, enabled=use_scaler),
        precision=precision,
        load_sample=(
            sample_cpus(allowed_cpus()) if threads and cfg.num_threads == FOLLOW_LOAD else None
        ),
    )


def adapt_threads(session: Session, messages: Messages) -> None:
    """Threads following the load (``num_threads`` ``FOLLOW_LOAD``, on a CPU): set them for
    what other processes kept busy since the last check (an epoch: no waiting), telling when
    the count changes."""
    if session.load_sample is None:
        return
    now = sample_cpus(allowed_cpus())
    if now is None:
        return
    others = others_busy(session.load_sample, now)
    session.load_sample = now
    threads = threads_for_load(others)
    if threads != session.threads:
        torch.set_num_threads(threads)
        messages.tell(
            "note",
            f"other processes kept {others:.1f} CPUs busy during the last epoch: training "
            f"continues on {threads} thread{'s' if threads > 1 else ''} instead of "
            f"{session.threads} (num_threads null or a count keeps it fixed)",
        )
        session.threads = threads


def _check_class_weights(cfg: TrainConfig, classes: int | None) -> None:
    if cfg.loss != "weighted_ce" or cfg.class_weights is None or classes is None:
        return
    if len(cfg.class_weights) != classes:
        raise ValueError(
            f"class_weights has {len(cfg.class_weights)} entries {list(cfg.class_weights)} but "
            f"the model has {classes} classes: give one weight per class (or None: equal weights)"
        )


def plan_batches(session: Session, train_set: Dataset, messages: Messages) -> None:
    """Warn about a batch larger than the data; drop a last batch of one window (BatchNorm
    cannot normalize a single value)."""
    cfg, size = session.cfg, len(train_set)
    epoch_size = cfg.epoch_samples(size)
    if cfg.batch_size > size:
        messages.tell(
            "warning",
            f"batch_size {cfg.batch_size} exceeds the {size} training windows: one "
            "optimizer step per epoch; use a smaller batch_size (or more data) and min_steps",
        )
    session.drop_last = (
        has_batchnorm(session.model) and epoch_size % cfg.batch_size == 1 and epoch_size > 1
    )
    if session.drop_last:
        messages.tell("note", "the last batch of each epoch would hold 1 window: it is dropped")
