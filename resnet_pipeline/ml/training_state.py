"""The resumable training state file: atomic writes, safe loads, and when to resume.

A state is resumed only when its identity (dataset fingerprint, model config and shapes,
training config) equals the current run's: a state left by other months or another
architecture must never be continued silently.
"""

from __future__ import annotations

import os

import torch

from resnet_pipeline.artifacts import atomic_write_path, local_copy

# Settings that change how fast a training runs or reports, not what it computes.
IDENTITY_FREE_FIELDS = frozenset({"num_threads", "progress_every_s", "time_budget_s", "device"})
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
