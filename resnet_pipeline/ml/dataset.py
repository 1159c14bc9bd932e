"""Leak-free chronological splits over one feature matrix, and zero-copy windowed datasets.

A sample is the ``window`` most recent feature rows ending at row t plus the label at t. The
matrix is stored once ([N, 15] float32); windows are gathered per batch from a strided view,
never materialized as [N, 15, window] (a year of minutes would need ~8 GB per symbol).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler

from resnet_pipeline.features.channels import FEATURE_CHANNELS
from resnet_pipeline.ml.augment import AugmentConfig, augment_batch
from resnet_pipeline.ml.normalization import PRICE_NORMS, Normalizer, fit_normalizer

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitConfig:
    window: int = 256
    train_ratio: float = 0.70
    val_ratio: float = 0.15
    test_ratio: float = 0.15
    forward_window: int = 12  # the label horizon in minutes (LabelConfig.forward_window)
    purge_minutes: int | None = None  # default: forward_window
    max_gap_minutes: float = 5.0
    price_norm: str = "window_relative"

    def __post_init__(self) -> None:
        ratios = (self.train_ratio, self.val_ratio, self.test_ratio)
        if any(r <= 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-9:
            raise ValueError(
                f"split ratios {ratios} must be positive and sum to 1 (e.g. 0.7, 0.15, 0.15)"
            )
        if self.window < 8:
            raise ValueError(f"window={self.window}: use at least 8 rows (the default is 256)")
        if self.price_norm not in PRICE_NORMS:
            raise ValueError(f"price_norm={self.price_norm!r}: use one of {PRICE_NORMS}")
        if self.max_gap_minutes < 1:
            raise ValueError(f"max_gap_minutes={self.max_gap_minutes}: must be >= 1 (no gap)")

    @property
    def purge(self) -> int:
        return self.forward_window if self.purge_minutes is None else self.purge_minutes


@dataclass
class SplitStats:
    labelled: int
    eligible: int
    gap_excluded: int
    warmup_excluded: int
    purged: dict[str, int]


@dataclass
class DatasetSplits:
    matrix: np.ndarray  # [N, C] float32, normalized except the per-window price part
    labels: np.ndarray  # [N] int64, -1 where unknown
    timestamps: np.ndarray  # [N] datetime64[ns] UTC
    train_ends: np.ndarray
    val_ends: np.ndarray
    test_ends: np.ndarray
    normalizer: Normalizer
    config: SplitConfig
    channel_names: tuple[str, ...] = FEATURE_CHANNELS
    stats: SplitStats | None = None
    lineage: dict = field(default_factory=dict)
    _views: np.ndarray | None = field(default=None, repr=False)

    def ends(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: use one of {SPLITS}")
        return {"train": self.train_ends, "val": self.val_ends, "test": self.test_ends}[split]

    def windows(self, ends: np.ndarray) -> np.ndarray:
        """[B, C, window] model inputs for the samples ending at ``ends`` (a fresh array)."""
        if self._views is None:
            self._views = np.lib.stride_tricks.sliding_window_view(
                self.matrix, self.config.window, axis=0
            )  # [N - L + 1, C, L], a view
        gathered = self._views[np.asarray(ends) - self.config.window + 1].astype(np.float32)
        return self.normalizer.finish(gathered)

    def window(self, end: int) -> np.ndarray:
        return self.windows(np.array([end]))[0]

    def summary(self) -> dict:
        """Samples, time range and class shares per split (plain values, for metadata)."""
        out: dict = {}
        for split in SPLITS:
            ends = self.ends(split)
            labels = self.labels[ends]
            counts = np.bincount(labels, minlength=3) if len(labels) else np.zeros(3, int)
            out[split] = {
                "samples": len(ends),
                "first": str(pd.Timestamp(self.timestamps[ends[0]], tz="UTC"))
                if len(ends)
                else None,
                "last": str(pd.Timestamp(self.timestamps[ends[-1]], tz="UTC"))
                if len(ends)
                else None,
                "share_down": float(counts[0] / max(len(ends), 1)),
                "share_neutral": float(counts[1] / max(len(ends), 1)),
                "share_up": float(counts[2] / max(len(ends), 1)),
            }
        return out

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write atomically: a new directory is filled, then swapped in by rename."""
        final = Path(directory)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        tmp.mkdir()
        try:
            np.save(tmp / "matrix.npy", self.matrix)
            np.save(tmp / "labels.npy", self.labels)
            np.save(tmp / "timestamps.npy", self.timestamps.astype("datetime64[ns]").view(np.int64))
            np.savez(
                tmp / "splits.npz", train=self.train_ends, val=self.val_ends, test=self.test_ends
            )
            meta = {
                "config": asdict(self.config),
                "normalizer": self.normalizer.to_dict(),
                "channel_names": list(self.channel_names),
                "stats": asdict(self.stats) if self.stats else None,
                "lineage": self.lineage,
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
            old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
            if final.exists():
                final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final

    @classmethod
    def load(cls, directory: str | os.PathLike[str], mmap: bool = True) -> DatasetSplits:
        root = Path(directory)
        if not (root / "meta.json").exists():
            raise FileNotFoundError(
                f"no dataset at {root}: materialize dataset_splits for this symbol first"
            )
        meta = json.loads((root / "meta.json").read_text())
        splits = np.load(root / "splits.npz")
        stats = meta.get("stats")
        return cls(
            matrix=np.load(root / "matrix.npy", mmap_mode="r" if mmap else None),
            labels=np.load(root / "labels.npy"),
            timestamps=np.load(root / "timestamps.npy").view("datetime64[ns]"),
            train_ends=splits["train"],
            val_ends=splits["val"],
            test_ends=splits["test"],
            normalizer=Normalizer.from_dict(meta["normalizer"]),
            config=SplitConfig(**meta["config"]),
            channel_names=tuple(meta["channel_names"]),
            stats=SplitStats(**stats) if stats else None,
            lineage=meta.get("lineage", {}),
        )


def _window_count(flags: np.ndarray, window: int) -> np.ndarray:
    """For each row t: how many of the rows t-window+1..t are flagged (0 before a full window)."""
    csum = np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))
    counts = np.zeros(len(flags), np.int64)
    counts[window - 1 :] = csum[window:] - csum[: len(flags) - window + 1]
    return counts


def build_splits(
    features: pd.DataFrame, labels: pd.DataFrame, config: SplitConfig = SplitConfig()
) -> DatasetSplits:
    """Samples, chronological 70/15/15 split with purge, and train-fitted normalization."""
    missing = [c for c in (*FEATURE_CHANNELS, "warmup", "gap_minutes") if c not in features]
    if missing:
        raise ValueError(f"features lack columns {missing}: re-materialize the features asset")
    frame = features.merge(labels[["timestamp", "label"]], on="timestamp", how="left")
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    n, window = len(frame), config.window
    if n < window:
        raise ValueError(
            f"{n} feature rows is less than one window of {window}: select a longer month range"
        )
    label = frame["label"].astype("Int64").fillna(-1).to_numpy(np.int64)
    warm = _window_count(frame["warmup"].to_numpy(bool), window)
    gaps = frame["gap_minutes"].to_numpy(np.float64) > config.max_gap_minutes
    gaps[0] = False  # the first row's gap looks back before its window
    # a window ending at t spans the gaps *between* its rows: rows t-window+2..t
    gap_in_window = _window_count(gaps, window) - np.concatenate(
        ([0] * (window - 1), gaps[: n - window + 1].astype(np.int64))
    )
    full = np.arange(n) >= window - 1
    labelled = (label >= 0) & full
    no_warmup = warm == 0
    eligible = labelled & no_warmup & (gap_in_window == 0)
    samples = np.flatnonzero(eligible)
    if len(samples) < 3:
        raise ValueError(
            f"only {len(samples)} usable samples (labelled, full {window}-row window without "
            f"warm-up or gaps > {config.max_gap_minutes} min): select more months of data"
        )
    times = frame["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    n_train = int(len(samples) * config.train_ratio)
    n_val = int(len(samples) * config.val_ratio)
    parts = np.split(samples, [n_train, n_train + n_val])
    horizon = np.timedelta64(config.purge, "m")
    purged: dict[str, int] = {}
    kept = []
    for name, part, nxt in zip(SPLITS, parts, [*parts[1:], None], strict=True):
        if nxt is not None and len(nxt) and len(part):
            # a label at t sees close[t + horizon]: it must not reach the next split's first sample
            keep = times[part] + horizon < times[nxt[0]]
            purged[name] = int((~keep).sum())
            part = part[keep]
        kept.append(part)
    train, val, test = kept
    for name, part in zip(SPLITS, kept, strict=True):
        if not len(part):
            raise ValueError(
                f"the {name} split is empty ({len(samples)} samples in all): select more "
                "months of data or change the split ratios"
            )
    raw = frame[list(FEATURE_CHANNELS)].to_numpy(np.float64)
    train_rows = slice(int(train[0]) - window + 1, int(train[-1]) + 1)
    normalizer = fit_normalizer(raw, train_rows, train, window, config.price_norm)
    return DatasetSplits(
        matrix=normalizer.transform_rows(raw),
        labels=label,
        timestamps=times,
        train_ends=train,
        val_ends=val,
        test_ends=test,
        normalizer=normalizer,
        config=config,
        stats=SplitStats(
            labelled=int(labelled.sum()),
            eligible=int(len(samples)),
            gap_excluded=int((labelled & no_warmup & (gap_in_window > 0)).sum()),
            warmup_excluded=int((labelled & ~no_warmup).sum()),
            purged=purged,
        ),
    )


class WindowDataset(Dataset):
    """Samples of one split: items are ``(x [C, window] float32, label)``; batches via
    ``__getitems__`` gather all windows at once (one numpy fancy index per batch)."""

    def __init__(
        self,
        splits: DatasetSplits,
        split: str,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.splits = splits
        self.split = split
        self.ends = splits.ends(split)
        if augment is not None and split != "train":
            raise ValueError("augmentation is for the training split only")
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentation draws depend on (seed, epoch, sample): reproducible, new each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ends)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.asarray(indices)
        ends = self.ends[idx]
        x = self.splits.windows(ends)
        if self.augment is not None:
            x = augment_batch(x, idx, self.augment, self.seed, self.epoch)
        return torch.from_numpy(x), torch.from_numpy(self.splits.labels[ends])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]


def _batch_as_is(batch):
    return batch


def make_loader(
    dataset: WindowDataset,
    batch_size: int = 64,
    shuffle: bool = False,
    num_samples: int | None = None,
    seed: int = 0,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader over whole-batch gathers. ``num_samples``: a fresh random subset of that
    size each epoch (quick runs); workers are rarely worth it since a gather is one memcpy."""
    generator = torch.Generator().manual_seed(seed)
    if shuffle or num_samples is not None:
        count = None if num_samples is None else min(num_samples, len(dataset))
        sampler = RandomSampler(dataset, num_samples=count, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=_batch_as_is,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
    )
