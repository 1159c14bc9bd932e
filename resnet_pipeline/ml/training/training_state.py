"""The resumable training state: what the loop carries between epochs, its file (atomic
writes, safe loads), and when to resume it.

A state is resumed only when its identity (dataset fingerprint, model config and shapes,
training config) equals the current run's: a state left by other months or another
architecture must never be continued silently.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field, fields

import torch
from torch import nn

from resnet_pipeline.artifacts import atomic_write_path, exists, local_copy
from resnet_pipeline.ml.training.train_batches import TrainingError
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.ml.training.train_session import Messages, Session

# Settings that change how fast a training runs or reports, not what it computes.
IDENTITY_FREE_FIELDS = frozenset(
    {"num_threads", "progress_every_seconds", "time_budget_minutes", "device"}
)
AFRESH = "resume: false (in the trained_model config) starts afresh"


class TrainingStateError(ValueError):
    """A training state that cannot be used, naming the file and the config that starts afresh."""


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
    if state_path is not None and resume is not False and exists(state_path):
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
    elif state_path is not None and resume and not exists(state_path):
        raise TrainingError(
            f"resume was required but there is no training state at {state_path}: "
            "set resume to auto (null) or false to start afresh"
        )
    return state


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
        },
    )
