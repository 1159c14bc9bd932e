"""What the training loop (``trainer.py``) stands on: the parts of one training that stay fixed
while its epochs run (``Session``: device, threads, precision, loss, optimizer and schedule),
the state it carries from epoch to epoch (``LoopState``) and that state's file, resumed only by
the same training.

Refused up front: what cannot train (an empty training set, class weights of the wrong
length). A state is resumed only when its identity (dataset fingerprint, model config and
shapes, training config) equals the current run's: a state left by other months or another
architecture must never be continued silently. Where it runs is not part of the identity: a
state resumed on another device or thread count (or where 'auto' precision decides otherwise)
continues with a note, since its remaining epochs then sum in another order than an
uninterrupted run's and the result is not bit-identical to it.

Threads that follow the machine's load (``num_threads`` ``FOLLOW_LOAD``, an opt-in) are re-set
between epochs (``adapt_threads``).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import torch
from torch import nn
from torch.utils.data import Dataset

from resnet_pipeline.artifacts import atomic_write_path, exists, local_copy
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
from resnet_pipeline.ml.training.train_config import TrainConfig

Progress = Callable[[dict], None]

# Settings a state may be resumed under changed: how often a training reports and when it
# stops, and where it runs. Device and threads do not change what is computed, only the order
# of its floating-point sums; a resume that changes them is noted (``_setup_changes``).
IDENTITY_FREE_FIELDS = frozenset(
    {"num_threads", "progress_every_seconds", "time_budget_minutes", "device"}
)
AFRESH = "resume: false (in the trained_model config) starts afresh"


class TrainingError(ValueError):
    """Training cannot give a usable model (e.g. the loss became NaN); says what to change."""


class TrainingStateError(ValueError):
    """A training state that cannot be used, naming the file and the config that starts afresh."""


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

    def setup(self) -> dict:
        """Where this training computes: what a resumed state is compared with."""
        return {"device": str(self.device), "threads": self.threads, "precision": self.precision}


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
    has_batchnorm = any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in session.model.modules()
    )
    session.drop_last = has_batchnorm and epoch_size % cfg.batch_size == 1 and epoch_size > 1
    if session.drop_last:
        messages.tell("note", "the last batch of each epoch would hold 1 window: it is dropped")


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


@dataclass
class LoopState:
    """What the loop carries from epoch to epoch; saved after each (with the optimizer's)."""

    epoch: int = 0
    best_val_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict = field(default_factory=dict)
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    train_samples: int = 0
    steps: int = 0

    def as_saved(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def restore(self, saved: dict) -> None:
        for f in fields(self):
            if f.name in saved:
                setattr(self, f.name, saved[f.name])


def training_identity(model: nn.Module, cfg: TrainConfig, identity: dict | None) -> dict:
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


def resume_or_start(
    session: Session,
    state_path: str | os.PathLike[str] | None,
    identity: dict,
    resume: bool | None,
    messages: Messages,
) -> LoopState:
    """A fresh state, or the saved one when ``resume`` allows and its identity matches."""
    state = LoopState(best_state=copy.deepcopy(session.model.state_dict()))
    if state_path is None or resume is False:
        return state
    if not exists(state_path):
        if resume:
            raise TrainingError(
                f"resume was required but there is no training state at {state_path}: "
                "set resume to auto (null) or false to start afresh"
            )
        return state
    saved = load_state(state_path, session.device)
    go, why = resume_decision(saved.get("identity"), identity, state_path, required=resume)
    if go:
        session.model.load_state_dict(saved["model"])
        session.optimizer.load_state_dict(saved["optimizer"])
        session.scheduler.load_state_dict(saved["scheduler"])
        if "scaler" in saved:
            session.scaler.load_state_dict(saved["scaler"])
        state.restore(saved)
    messages.tell("note", why)
    changes = _setup_changes(saved.get("setup"), session.setup()) if go else []
    if changes:
        messages.tell(
            "note",
            f"the interrupted training ran with {', '.join(changes)}: the resumed epochs "
            "compute their floating-point sums differently, so the result will not be "
            "bit-identical to an uninterrupted run's (resume with the same device, num_threads "
            "and precision for that)",
        )
    return state


def _setup_changes(saved: dict | None, current: dict) -> list[str]:
    """E.g. ``threads 2 (now 1)``; nothing for a state that did not record its setup."""
    return [
        f"{key} {saved[key]} (now {current[key]})"
        for key in current
        if saved is not None and key in saved and saved[key] != current[key]
    ]


def resume_decision(
    saved_identity: dict | None, current: dict, path, required: bool | None
) -> tuple[bool, str]:
    """(resume?, why). ``required`` True raises when the identities differ."""
    differences = identity_differences(saved_identity, current)
    if not differences:
        return True, f"resuming the interrupted training from {path}"
    what = "; ".join(differences)
    if required:
        raise TrainingStateError(
            f"resume is required but the training state {path} belongs to another training "
            f"({what}): {AFRESH}, or restore the previous dataset/config to continue it"
        )
    return False, f"the training state {path} was not resumed, starting afresh: {what}"


def identity_differences(saved: dict | None, current: dict) -> list[str]:
    """Human-readable differences, e.g. ``train_config.lr: 0.001 -> 0.01``."""
    if saved is None:
        return ["the state was written by an older version without an identity"]
    out = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            if key == "parameter_shapes":
                out.append(f"parameter_shapes: {len(changed)} tensors differ")
                continue
            out += [f"{key}.{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed]
        else:
            out.append(f"{key}: {_short(old)} -> {_short(new)}")
    return out


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def save_training_state(
    path: str | os.PathLike[str], session: Session, state: LoopState, identity: dict
) -> None:
    save_state(
        path,
        {
            **state.as_saved(),
            "model": session.model.state_dict(),
            "optimizer": session.optimizer.state_dict(),
            "scheduler": session.scheduler.state_dict(),
            "scaler": session.scaler.state_dict(),
            "identity": identity,
            "setup": session.setup(),
        },
    )


def save_state(path: str | os.PathLike[str], payload: dict) -> None:
    """Write atomically through a temp name unique to this writer (two runs never share one),
    locally or on object storage (``artifacts.atomic_write_path``)."""
    with atomic_write_path(path) as tmp:
        torch.save(payload, tmp)


def load_state(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> dict:
    """The saved state (tensors and plain types only), or an error naming the file."""
    source = local_copy(path)  # object storage: a cached download of this version
    try:
        saved = torch.load(source, map_location=device, weights_only=True)
    except Exception as error:  # truncated, foreign or code-carrying pickles alike
        raise TrainingStateError(
            f"the training state {path} cannot be read ({type(error).__name__}); it is "
            f"corrupt or not written by resnet_pipeline: {AFRESH} (or delete the file)"
        ) from None
    if not isinstance(saved, dict) or "model" not in saved:
        raise TrainingStateError(f"{path} is not a resnet_pipeline training state: {AFRESH}")
    return saved
