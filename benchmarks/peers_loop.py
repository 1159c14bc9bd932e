"""What both sides of ``bench_peers.py`` share, in plain torch and numpy so that our
environment and the peer's (tsai's, its own venv) import the same code: the windows on disk,
the training recipe, a plain training loop that follows ``ml.training.trainer``'s recipe
(AdamW, cosine annealing per epoch, weighted cross-entropy, the best weights by validation
loss), one inference loop, the scores and the result line.

Nothing here imports ``resnet_pipeline`` or tsai: each side brings its model.
"""

from __future__ import annotations

import copy
import json
import math
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

WINDOW_FILES = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
RESULT_PREFIX = "PEERS-RESULT "
INFERENCE_BATCH = 512


@dataclass(frozen=True)
class Windows:
    """Model inputs [N, C, L] float32 and labels [N] int64 of each split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def length(self) -> int:
        return self.x_train.shape[2]

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_val.max(), self.y_test.max())) + 1


def save_windows(directory: Path, windows: Windows) -> None:
    """One ``.npy`` per array: both sides read exactly these bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in WINDOW_FILES:
        array = getattr(windows, name)
        dtype = np.float32 if name.startswith("x_") else np.int64
        np.save(directory / f"{name}.npy", np.ascontiguousarray(array, dtype=dtype))


def load_windows(directory: Path) -> Windows:
    missing = [n for n in WINDOW_FILES if not (directory / f"{n}.npy").is_file()]
    if missing:
        raise FileNotFoundError(
            f"{directory} lacks {', '.join(f'{n}.npy' for n in missing)}: run "
            "benchmarks/bench_peers.py, which writes the windows before either side trains"
        )
    return Windows(**{n: np.load(directory / f"{n}.npy") for n in WINDOW_FILES})


@dataclass(frozen=True)
class Recipe:
    """What every side trains with; ``class_weights`` None: equal weights."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    eta_min: float
    class_weights: tuple[float, ...] | None
    seed: int
    threads: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        fields = json.loads(text)
        weights = fields.pop("class_weights")
        return cls(**fields, class_weights=None if weights is None else tuple(weights))

    def loss(self) -> nn.Module:
        weight = None if self.class_weights is None else torch.tensor(self.class_weights)
        return nn.CrossEntropyLoss(weight=weight)


@dataclass
class FitTimes:
    """Optimizer steps (with their batches) apart from validation, as ``TrainResult`` counts."""

    train_seconds: float = 0.0
    train_samples: int = 0
    wall_seconds: float = 0.0
    best_epoch: int = 0


def epoch_batches(size: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled pass; a last batch of one window is dropped (BatchNorm cannot train on it)."""
    order = rng.permutation(size)
    batches = [order[i : i + batch_size] for i in range(0, size, batch_size)]
    return batches[:-1] if len(batches) > 1 and len(batches[-1]) == 1 else batches


def mean_loss(model: nn.Module, x: np.ndarray, y: np.ndarray, loss_fn: nn.Module) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x), INFERENCE_BATCH):
            xb = torch.from_numpy(x[start : start + INFERENCE_BATCH])
            yb = torch.from_numpy(y[start : start + INFERENCE_BATCH])
            total += loss_fn(model(xb), yb).item() * len(yb)
    model.train()
    return total / len(x)


def plain_fit(model: nn.Module, windows: Windows, recipe: Recipe) -> FitTimes:
    """Train ``model`` in place with our trainer's recipe and keep the best weights by
    validation loss: the loop a PyTorch user writes around any ``nn.Module``."""
    started = time.perf_counter()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=recipe.epochs, eta_min=recipe.eta_min
    )
    loss_fn = recipe.loss()
    rng = np.random.default_rng(recipe.seed)
    times, best_loss, best_state = FitTimes(), math.inf, copy.deepcopy(model.state_dict())
    model.train()
    for epoch in range(recipe.epochs):
        epoch_start = time.perf_counter()
        for idx in epoch_batches(len(windows.x_train), recipe.batch_size, rng):
            x = torch.from_numpy(windows.x_train[idx])
            y = torch.from_numpy(windows.y_train[idx])
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            times.train_samples += len(idx)
        times.train_seconds += time.perf_counter() - epoch_start
        scheduler.step()
        val_loss = mean_loss(model, windows.x_val, windows.y_val, loss_fn)
        if val_loss < best_loss:
            best_loss, times.best_epoch = val_loss, epoch + 1
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    times.wall_seconds = time.perf_counter() - started
    return times


def predict_proba(model: nn.Module, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Class probabilities in eval mode under no_grad, fp32, and the seconds they took."""
    model.eval()
    started = time.perf_counter()
    parts = []
    with torch.no_grad():
        for start in range(0, len(x), INFERENCE_BATCH):
            logits = model(torch.from_numpy(x[start : start + INFERENCE_BATCH]))
            parts.append(torch.softmax(logits.float(), dim=1).numpy())
    return np.concatenate(parts), time.perf_counter() - started


def scores(proba: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy and log loss (natural log, probabilities clipped at 1e-15, as scikit-learn)."""
    picked = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    return {
        "accuracy": float((proba.argmax(1) == y).mean()),
        "log_loss": float(-np.log(picked).mean()),
    }


def forward_gflop(model: nn.Module, channels: int, length: int) -> float:
    """Forward-pass GFLOP of one window (torch's FLOP counter: 2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, channels, length))
    model.train()
    return counter.get_total_flops() / 1e9


def peak_rss_mib() -> float:
    """This process's peak resident memory (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)


def emit(result: dict) -> None:
    """The one line the orchestrator reads from each side's output."""
    result = {**result, "peak_rss_mib": peak_rss_mib(), "load": os.getloadavg()}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
