"""What a training computes (``TrainConfig``, SPEC 8 defaults) and how one run of it is held
(``RunOptions``): each knob declared once, with its default, its check and its description.

Both assets that train (``trained_model``, ``wf_model``) derive their Dagster config from these
dataclasses, so every field here is settable from the Launchpad and ``--config-json``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from resnet_pipeline.knobs import knob
from resnet_pipeline.ml.training.device import FOLLOW_LOAD
from resnet_pipeline.ml.training.losses import LOSSES, make_loss

MIN_EPOCH_SAMPLES = 8192  # below this many windows an epoch is the whole training set
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = knob(100, "at most this many epochs")
    batch_size: int = knob(64, "windows per optimizer step")
    lr: float = knob(1e-3, "AdamW learning rate")
    weight_decay: float = knob(1e-4, "AdamW weight decay")
    eta_min: float = knob(1e-6, "the cosine annealing's final learning rate")
    patience: int = knob(15, "early stopping: epochs without a better validation loss")
    min_delta: float = knob(1e-4, "early stopping: the least decrease that counts as better")
    min_steps: int = knob(500, "early stopping waits for this many optimizer steps (small data)")
    loss: str = knob("weighted_ce", "training loss", choices=LOSSES)
    class_weights: tuple[float, ...] | None = knob(
        (1.2, 0.8, 1.2), "weighted_ce: one weight per class (Down, Neutral, Up); null: equal"
    )
    focal_alpha: float = knob(0.25, "focal loss alpha")
    focal_gamma: float = knob(2.0, "focal loss gamma")
    seed: int = knob(0, "initial weights, epoch draws, dropout and augmentation")
    device: str = knob("auto", "auto (a GPU when present) | cpu | cuda")
    precision: str = knob(
        "auto",
        "auto: bf16 where the device computes it natively (CPU AVX512-BF16/AMX, a GPU with "
        "bf16), else fp32; bf16: autocast; fp16: CUDA only, with a GradScaler",
        choices=PRECISIONS,
    )
    epoch_fraction: float = knob(
        0.1,
        "share of the training windows drawn afresh each epoch (at least 8192 or all of them); "
        "1 = every window each epoch",
    )
    max_train_samples: int | None = knob(
        None, "at most this many training windows per epoch (quick runs)"
    )
    max_val_samples: int | None = knob(
        4096,
        "validate on this many evenly spaced windows of the validation range (null: all of "
        "them; an expanding walk-forward range and a symbol-year hold tens of thousands)",
    )
    time_budget_minutes: float | None = knob(
        None, "stop after the epoch that crosses this many minutes"
    )
    num_threads: int | None = knob(
        None,
        "CPU threads; null: a fixed count, the physical cores this process may use (affinity, "
        "cgroup quota), so the same config on the same machine gives the same numbers "
        f"whatever else runs; {FOLLOW_LOAD}: follow the machine's load (the cores other "
        "processes leave free, re-checked after each epoch; busy_threads while other runs are "
        "in progress): faster beside busy neighbours, but the numbers then change with the "
        "load (the thread count changes the order of floating-point sums)",
    )
    progress_every_seconds: float = knob(
        30.0, "a progress line at least this often inside an epoch"
    )
    bn_refresh_batches: int = knob(
        0,
        "recompute BatchNorm statistics of the best weights on this many training batches "
        "before the final validation (kept only if validation loss is not worse)",
    )

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
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision={self.precision!r}: use 'auto', 'fp32', 'bf16' or 'fp16' (CUDA only)"
            )
        if self.num_threads is not None and self.num_threads < 0:
            raise ValueError(
                f"num_threads={self.num_threads}: use a count >= 1, null (the fixed default) or "
                f"{FOLLOW_LOAD} (follow the machine's load)"
            )
        if self.bn_refresh_batches < 0 or self.progress_every_seconds < 0:
            raise ValueError("bn_refresh_batches and progress_every_seconds must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def time_budget_s(self) -> float | None:
        return None if self.time_budget_minutes is None else 60 * self.time_budget_minutes

    def epoch_samples(self, train_size: int) -> int:
        """Training windows drawn per epoch: the fraction, at least MIN_EPOCH_SAMPLES (or all),
        at most ``max_train_samples``."""
        count = max(math.ceil(self.epoch_fraction * train_size), min(MIN_EPOCH_SAMPLES, train_size))
        if self.max_train_samples is not None:
            count = min(count, self.max_train_samples)
        return max(min(count, train_size), 1)


@dataclass(frozen=True)
class RunOptions:
    """Switches of one run beside the model and training configs; none of them is part of
    the checkpoint's ``train_config`` or of the resume identity."""

    augment: bool = knob(True, "noise, time warp and scaling of the training windows")
    resume: bool | None = knob(
        None,
        "null: continue an interrupted training when its data fingerprint and configs are the "
        "same, else start afresh (logged); true: fail unless it can continue; false: always "
        "start afresh",
    )
    busy_threads: int = knob(
        1,
        f"num_threads {FOLLOW_LOAD} (following the load): CPU threads while other runs are "
        "in progress",
    )

    def __post_init__(self) -> None:
        if self.busy_threads < 1:
            raise ValueError(f"busy_threads={self.busy_threads}: use at least 1")
