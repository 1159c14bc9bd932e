"""What a training computes (``TrainConfig``, SPEC 8 defaults) and how one run of it is held
(``RunOptions``): each knob declared once, with its default, its check and its description.

Both assets that train (``trained_model``, ``wf_model``) derive their Dagster config from these
dataclasses, so every field here is settable from the Launchpad and ``--config-json``. This
module imports no torch: an experiment file is checked against it in a light process.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from resnet_pipeline.knobs import check_knobs, knob

MIN_EPOCH_SAMPLES = 8192  # below this many windows an epoch is the whole training set
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LOSSES = ("weighted_ce", "focal")
FOLLOW_LOAD = 0  # num_threads: follow the machine's load (an opt-in: results then move with it)
DEVICES = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,2})?)$")
MAX_THREADS = 1024
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds both take it


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = knob(100, "at most this many epochs", ge=1)
    batch_size: int = knob(64, "windows per optimizer step", ge=1, le=2**20)
    lr: float = knob(1e-3, "AdamW learning rate", gt=0)
    weight_decay: float = knob(1e-4, "AdamW weight decay", ge=0)
    eta_min: float = knob(1e-6, "the cosine annealing's final learning rate", ge=0)
    patience: int = knob(15, "early stopping: epochs without a better validation loss", ge=1)
    min_delta: float = knob(1e-4, "early stopping: the least decrease that counts as better", ge=0)
    min_steps: int = knob(
        500, "early stopping waits for this many optimizer steps (small data)", ge=0
    )
    loss: str = knob("weighted_ce", "training loss", choices=LOSSES)
    class_weights: tuple[float, ...] | None = knob(
        (1.2, 0.8, 1.2),
        "weighted_ce: one weight per class (Down, Neutral, Up); null: equal",
        gt=0,
    )
    focal_alpha: float = knob(0.25, "focal loss alpha", gt=0, le=1)
    focal_gamma: float = knob(2.0, "focal loss gamma", ge=0)
    seed: int = knob(0, "initial weights, epoch draws, dropout and augmentation", ge=0, le=MAX_SEED)
    device: str = knob("auto", "auto (a GPU when present) | cpu | cuda | cuda:N | mps")
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
        gt=0,
        le=1,
    )
    max_train_samples: int | None = knob(
        None, "at most this many training windows per epoch (quick runs)", ge=1
    )
    max_val_samples: int | None = knob(
        4096,
        "validate on this many evenly spaced windows of the validation range (null: all of "
        "them; an expanding walk-forward range and a symbol-year hold tens of thousands)",
        ge=1,
    )
    time_budget_minutes: float | None = knob(
        None, "stop after the epoch that crosses this many minutes", gt=0
    )
    num_threads: int | None = knob(
        None,
        "CPU threads; null: a fixed count, the physical cores this process may use (affinity, "
        "cgroup quota), so the same config on the same machine gives the same numbers "
        f"whatever else runs; {FOLLOW_LOAD}: follow the machine's load (the cores other "
        "processes leave free, re-checked after each epoch; busy_threads while other runs are "
        "in progress): faster beside busy neighbours, but the numbers then change with the "
        "load (the thread count changes the order of floating-point sums)",
        ge=0,
        le=MAX_THREADS,
        note=f"{FOLLOW_LOAD} (follow the machine's load) or null (the fixed default)",
    )
    progress_every_seconds: float = knob(
        30.0, "a progress line at least this often inside an epoch", ge=0
    )
    bn_refresh_batches: int = knob(
        0,
        "recompute BatchNorm statistics of the best weights on this many training batches "
        "before the final validation (kept only if validation loss is not worse)",
        ge=0,
    )

    def __post_init__(self) -> None:
        check_knobs(self)
        if self.class_weights is not None:
            object.__setattr__(self, "class_weights", tuple(float(w) for w in self.class_weights))
            if len(self.class_weights) < 2:
                raise ValueError(
                    f"class_weights={list(self.class_weights)}: give one positive weight per class"
                )
        if not DEVICES.match(self.device):
            raise ValueError(
                f"device={self.device[:40]!r}: use auto (a GPU when present), cpu, cuda, "
                "cuda:N or mps"
            )
        if self.precision == "fp16" and not self.device.startswith(("auto", "cuda")):
            raise ValueError(
                f"precision='fp16' needs a CUDA GPU (device={self.device!r}): use precision "
                "'bf16' or 'fp32', or device cuda"
            )

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
        ge=1,
        le=MAX_THREADS,
    )

    def __post_init__(self) -> None:
        check_knobs(self)
