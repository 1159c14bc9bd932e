"""Leak-free chronological splits over one feature matrix, and zero-copy windowed datasets.

A sample is the ``window`` most recent feature rows ending at row t plus the label at t. The
matrix is stored once ([N, 15] float32); windows are gathered per batch from a strided view,
never materialized as [N, 15, window] (a year of minutes would need ~8 GB per symbol).

Leakage rules (SPEC 6):
- a sample needs a label, a full window, no warm-up or non-finite row inside it and no gap
  between consecutive rows longer than ``max_gap_minutes`` (measured on the timestamps of the
  assembled rows, so a missing month is a gap even when each month's features look complete);
- samples are split 70/15/15 by time; a sample whose label horizon (t + purge minutes, at
  least the label's forward window) reaches the first sample of the next split is purged, so
  no training label sees a validation price and no validation label a test price; a later
  split's window may contain earlier rows (past features are not labels);
- normalization statistics come from the rows of training windows only.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from resnet_pipeline.features.channels import FEATURE_CHANNELS
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.ml.augment import AugmentConfig, augment_batch
from resnet_pipeline.ml.lineage import FINGERPRINT_KEY, dataset_fingerprint, rebuild_command
from resnet_pipeline.ml.normalization import PRICE_NORMS, Normalizer, fit_normalizer
from resnet_pipeline.storage import remove_stale_temps, temp_path_for

SPLITS = ("train", "val", "test")
FORMAT_VERSION = 2  # 2: fingerprint and partition content hashes


@dataclass(frozen=True)
class SplitConfig:
    window: int = 256
    train_ratio: float = 0.70
    val_ratio: float = 0.15
    test_ratio: float = 0.15
    forward_window: int = LabelConfig().forward_window  # the label horizon in minutes
    purge_minutes: int | None = None  # default: forward_window; more is an embargo
    max_gap_minutes: float = 5.0
    price_norm: str = "window_relative"

    def __post_init__(self) -> None:
        ratios = (self.train_ratio, self.val_ratio, self.test_ratio)
        if any(r <= 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(
                f"split ratios {ratios} must be positive and sum to 1 (e.g. 0.7, 0.15, 0.15)"
            )
        if self.window < 8:
            raise ValueError(f"window={self.window}: use at least 8 rows (the default is 256)")
        if self.forward_window < 1:
            raise ValueError(f"forward_window={self.forward_window}: must be >= 1 minute")
        if self.purge_minutes is not None and self.purge_minutes < self.forward_window:
            raise ValueError(
                f"purge_minutes={self.purge_minutes} is shorter than the label horizon "
                f"({self.forward_window} min): training labels would see validation prices. "
                f"Use at least {self.forward_window} (or leave it unset)"
            )
        if self.price_norm not in PRICE_NORMS:
            raise ValueError(f"price_norm={self.price_norm!r}: use one of {PRICE_NORMS}")
        if not self.max_gap_minutes >= 1:
            raise ValueError(
                f"max_gap_minutes={self.max_gap_minutes}: must be >= 1 (1 allows no missing "
                "candle, 5 tolerates up to 4 missing minutes)"
            )

    @property
    def purge(self) -> int:
        """Minutes before each boundary whose samples are dropped."""
        return self.forward_window if self.purge_minutes is None else self.purge_minutes


@dataclass
class SplitStats:
    rows: int = 0
    labelled: int = 0  # labelled rows with a full window behind them
    eligible: int = 0  # of those, the usable samples before purging
    warmup_excluded: int = 0
    nonfinite_excluded: int = 0
    gap_excluded: int = 0
    purged: dict[str, int] = field(default_factory=dict)


@dataclass
class DatasetSplits:
    matrix: np.ndarray  # [N, C] float32, normalized except the per-window price part
    labels: np.ndarray  # [N] int64, -1 where unknown
    timestamps: np.ndarray  # [N] datetime64[ns], UTC
    train_ends: np.ndarray  # int64 row indices where a sample's window ends
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
        """[B, C, window] float32 model inputs for the windows ending at rows ``ends`` (one
        fancy-index gather from a strided view of the matrix, then the per-window step)."""
        window = self.config.window
        ends = np.asarray(ends, np.int64)
        if len(ends) and (ends.min() < window - 1 or ends.max() >= len(self.matrix)):
            raise IndexError(
                f"window ends must lie in [{window - 1}, {len(self.matrix) - 1}], "
                f"got [{ends.min()}, {ends.max()}]"
            )
        if self._views is None:
            self._views = np.lib.stride_tricks.sliding_window_view(
                self.matrix, window, axis=0
            )  # [N - L + 1, C, L], a view: no copy
        return self.normalizer.finish(self._views[ends - window + 1])

    def window(self, end: int) -> np.ndarray:
        """The exact model input [C, window] of the sample ending at row ``end``."""
        return self.windows(np.array([end]))[0]

    def summary(self) -> dict:
        """Samples, time range and class shares per split (plain values, for metadata)."""
        out: dict = {}
        for split in SPLITS:
            ends = self.ends(split)
            counts = np.bincount(self.labels[ends], minlength=3)
            shares = counts / max(len(ends), 1)
            out[split] = {
                "samples": len(ends),
                "first": _iso(self.timestamps[ends[0]]) if len(ends) else None,
                "last": _iso(self.timestamps[ends[-1]]) if len(ends) else None,
                "share_down": float(shares[0]),
                "share_neutral": float(shares[1]),
                "share_up": float(shares[2]),
            }
        return out

    @property
    def fingerprint(self) -> str:
        """Hex sha256 of what this dataset was built from: the months with the content hashes
        of their feature/label files (``lineage["partitions"]``), the split config, the
        normalizer statistics and the dataset code version (see ml/lineage.py)."""
        return dataset_fingerprint(
            self.lineage.get("symbol"),
            self.lineage.get("partitions", {}),
            asdict(self.config),
            self.normalizer.to_dict(),
            self.lineage.get("code_version"),
        )

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write into a fresh temp directory (meta.json last), then swap it in: the previous
        dataset is renamed aside, the new one renamed in, the aside deleted. A kill between
        the two renames leaves the aside, which ``load`` renames back."""
        final = Path(directory)
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(final)  # temp directories of saves that were killed
        tmp = temp_path_for(final)
        old = final.with_name(f".{final.name}.{uuid.uuid4().hex}{_ASIDE}")
        self.lineage = {**self.lineage, FINGERPRINT_KEY: self.fingerprint}
        tmp.mkdir()
        try:
            np.save(tmp / "matrix.npy", np.ascontiguousarray(self.matrix, np.float32))
            np.save(tmp / "labels.npy", self.labels.astype(np.int8))
            np.save(tmp / "timestamps.npy", self.timestamps.astype("datetime64[ns]").view(np.int64))
            np.savez(
                tmp / "splits.npz", train=self.train_ends, val=self.val_ends, test=self.test_ends
            )
            meta = {
                "format": FORMAT_VERSION,
                "fingerprint": self.lineage[FINGERPRINT_KEY],
                "config": asdict(self.config),
                "normalizer": self.normalizer.to_dict(),
                "channel_names": list(self.channel_names),
                "stats": asdict(self.stats) if self.stats else None,
                "lineage": self.lineage,
                "summary": self.summary(),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
            if final.exists():
                final.rename(old)
            try:
                tmp.rename(final)
            except BaseException:
                if old.exists() and not final.exists():
                    old.rename(final)  # the new one did not land: put the previous one back
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        return final

    @staticmethod
    def read_meta(directory: str | os.PathLike[str]) -> dict:
        """meta.json of a stored dataset (after recovering from an interrupted save)."""
        root = Path(directory)
        _recover_aside(root)
        meta_path = root / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(
                f"no dataset at {root}: materialize dataset_splits for this symbol first "
                f"({rebuild_command('dataset_splits', root.name)})"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as error:
            raise _unreadable(meta_path, root.name, error) from error
        if meta.get("format", 1) != FORMAT_VERSION:
            raise DatasetError(
                f"dataset at {root} has format {meta.get('format', 1)}, this code reads "
                f"{FORMAT_VERSION}: re-materialize it with "
                f"{rebuild_command('dataset_splits', root.name)}"
            )
        return meta

    @classmethod
    def load(cls, directory: str | os.PathLike[str], mmap: bool = True) -> DatasetSplits:
        """``mmap``: the matrix stays on disk and pages in as windows are read. A truncated
        or corrupt file fails naming it and the command that rebuilds the dataset."""
        root = Path(directory)
        meta = cls.read_meta(root)
        symbol = root.name

        def read(name: str, **kwargs) -> np.ndarray:
            try:
                return np.load(root / name, **kwargs)
            except (OSError, ValueError, EOFError) as error:
                raise _unreadable(root / name, symbol, error) from error

        try:
            with np.load(root / "splits.npz") as splits:
                train, val, test = splits["train"], splits["val"], splits["test"]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
            raise _unreadable(root / "splits.npz", symbol, error) from error
        matrix = read("matrix.npy", mmap_mode="r" if mmap else None)
        labels = read("labels.npy").astype(np.int64)
        timestamps = read("timestamps.npy").view("datetime64[ns]")
        if not len(matrix) == len(labels) == len(timestamps):
            raise _unreadable(
                root,
                symbol,
                f"{len(matrix)} matrix rows, {len(labels)} labels, {len(timestamps)} timestamps",
            )
        stats = meta.get("stats")
        splits = cls(
            matrix=matrix,
            labels=labels,
            timestamps=timestamps,
            train_ends=train,
            val_ends=val,
            test_ends=test,
            normalizer=Normalizer.from_dict(meta["normalizer"]),
            config=SplitConfig(**meta["config"]),
            channel_names=tuple(meta["channel_names"]),
            stats=SplitStats(**stats) if stats else None,
            lineage=meta.get("lineage", {}),
        )
        if splits.fingerprint != meta.get("fingerprint"):
            raise _unreadable(
                root / "meta.json", symbol, "its fingerprint does not match its content"
            )
        return splits


class DatasetError(ValueError):
    """A stored dataset that cannot be used, with the command that rebuilds it."""


_ASIDE = ".aside"


def _unreadable(path: Path, symbol: str, error: object) -> DatasetError:
    return DatasetError(
        f"dataset file {path} is unreadable ({error}): it was truncated or corrupted. "
        f"Rebuild the dataset with {rebuild_command('dataset_splits', symbol)}"
    )


def _recover_aside(final: Path) -> None:
    """After a save killed between its two renames only the previous dataset's aside copy
    exists: rename it back. A complete directory always has meta.json (written last)."""
    if (final / "meta.json").exists():
        return
    asides = final.parent.glob(f".{final.name}.*{_ASIDE}")
    asides = [p for p in asides if (p / "meta.json").exists()]
    for aside in sorted(asides, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            if final.exists():
                final.rmdir()  # an empty directory left by hand; a non-empty one stays
            aside.rename(final)
            return
        except OSError:  # another reader recovered it first, or a new save landed
            if (final / "meta.json").exists():
                return


def _iso(value: np.datetime64) -> str:
    return pd.Timestamp(value).tz_localize("UTC").isoformat()


def _utc_ns(timestamps: pd.Series, what: str) -> np.ndarray:
    """UTC datetime64[ns] values (tz-naive input is taken as UTC)."""
    ts = pd.to_datetime(timestamps)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    values = ts.to_numpy("datetime64[ns]")
    if np.isnat(values).any():
        raise ValueError(f"{what} has missing timestamps")
    return values


def _window_count(flags: np.ndarray, width: int) -> np.ndarray:
    """For each row t: how many of the rows t-width+1..t are flagged (0 for t < width-1)."""
    csum = np.concatenate(([0], np.cumsum(flags, dtype=np.int32)))
    counts = np.zeros(len(flags), np.int32)
    counts[width - 1 :] = csum[width:] - csum[: len(flags) - width + 1]
    return counts


def _aligned_labels(labels: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """The label of each feature row (int64, -1 where unknown or absent)."""
    missing = [c for c in ("timestamp", "label") if c not in labels]
    if missing:
        raise ValueError(f"labels lack columns {missing}: re-materialize the labels asset")
    label_times = _utc_ns(labels["timestamp"], "labels")
    values = labels["label"].astype("Int64").fillna(-1).to_numpy(np.int64)
    bad = np.setdiff1d(np.unique(values), [-1, 0, 1, 2])
    if len(bad):
        raise ValueError(f"labels hold values {bad.tolist()}: expected 0, 1, 2 or <NA>")
    if not (np.diff(label_times) > np.timedelta64(0)).all():
        order = np.argsort(label_times, kind="stable")
        label_times, values = label_times[order], values[order]
        if not (np.diff(label_times) > np.timedelta64(0)).all():
            raise ValueError("labels have duplicate timestamps: re-materialize the labels asset")
    out = np.full(len(times), -1, np.int64)
    if len(label_times):
        pos = np.searchsorted(label_times, times).clip(max=len(label_times) - 1)
        hit = label_times[pos] == times
        out[hit] = values[pos[hit]]
    return out


def _split_and_purge(
    samples: np.ndarray, times: np.ndarray, config: SplitConfig
) -> tuple[list[np.ndarray], dict[str, int]]:
    """Chronological split by sample count, then drop each split's samples whose label
    horizon (t + purge minutes) reaches the first sample of the next split."""
    n_train = int(len(samples) * config.train_ratio)
    n_val = int(len(samples) * config.val_ratio)
    parts = np.split(samples, [n_train, n_train + n_val])
    horizon = np.timedelta64(config.purge, "m")
    purged: dict[str, int] = {}
    kept = []
    for name, part, following in zip(SPLITS, parts, [*parts[1:], None], strict=True):
        if following is not None and len(following) and len(part):
            keep = times[part] + horizon < times[following[0]]
            purged[name] = int((~keep).sum())
            part = part[keep]
        kept.append(part)
    for name, part in zip(SPLITS, kept, strict=True):
        if not len(part):
            raise ValueError(
                f"the {name} split is empty ({len(samples)} usable samples, {purged} purged): "
                "select more months of data or change the split ratios"
            )
    return kept, purged


def build_splits(
    features: pd.DataFrame, labels: pd.DataFrame, config: SplitConfig = SplitConfig()
) -> DatasetSplits:
    """Samples, the chronological split with purge, and train-fitted normalization.

    ``features``: timestamp, the FEATURE_CHANNELS, ``warmup``; ``labels``: timestamp, label.
    Memory: one float32 [N, C] copy of the channels (normalized in place) plus O(N) flags.
    """
    missing = [c for c in ("timestamp", *FEATURE_CHANNELS, "warmup") if c not in features]
    if missing:
        raise ValueError(f"features lack columns {missing}: re-materialize the features asset")
    window = config.window
    if len(features) < window:
        raise ValueError(
            f"{len(features)} feature rows is less than one window of {window}: select a longer "
            "month range (or materialize more months of features)"
        )
    times = _utc_ns(features["timestamp"], "features")
    if not (np.diff(times) > np.timedelta64(0)).all():
        order = np.argsort(times, kind="stable")
        features, times = features.iloc[order], times[order]
        if not (np.diff(times) > np.timedelta64(0)).all():
            raise ValueError("features have duplicate timestamps: re-materialize features")
    n = len(times)
    label = _aligned_labels(labels, times)

    rows = np.empty((n, len(FEATURE_CHANNELS)), np.float32)
    nonfinite = np.zeros(n, bool)
    for i, name in enumerate(FEATURE_CHANNELS):
        rows[:, i] = features[name].to_numpy(np.float32, na_value=np.nan)
        nonfinite |= ~np.isfinite(rows[:, i])
    warmup = features["warmup"].to_numpy(bool)
    gap_minutes = np.diff(times).astype("timedelta64[s]").astype(np.float64) / 60.0
    # a flag at row r means: more than max_gap_minutes between rows r-1 and r
    gap = np.concatenate(([False], gap_minutes > config.max_gap_minutes))

    labelled = (label >= 0) & (np.arange(n) >= window - 1)
    has_warmup = _window_count(warmup, window) > 0
    has_nonfinite = _window_count(nonfinite, window) > 0
    has_gap = _window_count(gap, window - 1) > 0  # rows t-window+2..t: gaps inside the window
    eligible = labelled & ~has_warmup & ~has_nonfinite & ~has_gap
    samples = np.flatnonzero(eligible)
    stats = SplitStats(
        rows=n,
        labelled=int(labelled.sum()),
        eligible=len(samples),
        warmup_excluded=int((labelled & has_warmup).sum()),
        nonfinite_excluded=int((labelled & ~has_warmup & has_nonfinite).sum()),
        gap_excluded=int((labelled & ~has_warmup & ~has_nonfinite & has_gap).sum()),
    )
    if not stats.labelled:
        raise ValueError(
            f"no labelled sample among {n} rows with a full {window}-row window: materialize "
            f"labels for these months (a label needs the candle {config.forward_window} minutes "
            "after its row)"
        )
    if len(samples) < 3:
        raise ValueError(
            f"only {len(samples)} usable samples of {stats.labelled} labelled: "
            f"{stats.warmup_excluded} windows hold warm-up rows, {stats.nonfinite_excluded} "
            f"NaN rows, {stats.gap_excluded} span gaps > {config.max_gap_minutes} min. Select "
            "more months of data (or raise max_gap_minutes)"
        )
    (train, val, test), stats.purged = _split_and_purge(samples, times, config)

    normalizer = fit_normalizer(rows, train, window, config.price_norm, FEATURE_CHANNELS)
    return DatasetSplits(
        matrix=normalizer.transform_rows_(rows),
        labels=label,
        timestamps=times,
        train_ends=train,
        val_ends=val,
        test_ends=test,
        normalizer=normalizer,
        config=config,
        stats=stats,
    )


class WindowDataset(Dataset):
    """Samples of one split: items are ``(x [C, window] float32, label int64)``. The
    DataLoader fetches whole batches through ``__getitems__``: one numpy gather per batch
    instead of a Python call per item."""

    def __init__(
        self,
        splits: DatasetSplits,
        split: str,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        if augment is not None and split != "train":
            raise ValueError("augmentation is for the training split only")
        self.splits = splits
        self.split = split
        self.ends = splits.ends(split)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentation draws depend on (seed, epoch, sample): reproducible, new each epoch."""
        self.epoch = epoch

    @property
    def labels(self) -> np.ndarray:
        return self.splits.labels[self.ends]

    def __len__(self) -> int:
        return len(self.ends)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.asarray(indices, np.int64)
        ends = self.ends[idx]
        x = self.splits.windows(ends)
        if self.augment is not None:
            x = augment_batch(x, idx, self.augment, self.seed, self.epoch)
        return torch.from_numpy(x), torch.from_numpy(self.splits.labels[ends])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]


class WindowBatchSampler(Sampler[np.ndarray]):
    """Yields whole batches of dataset indices as int64 arrays (one gather each), in order or
    shuffled by a seeded generator that advances per epoch. Holds one index array, not the
    Python list of ints torch's RandomSampler makes (~36 bytes a sample)."""

    def __init__(
        self,
        size: int,
        batch_size: int,
        shuffle: bool = False,
        num_samples: int | None = None,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        if num_samples is not None and num_samples < 1:
            raise ValueError(f"num_samples={num_samples}: must be >= 1 (or None: all)")
        self.size, self.batch_size, self.drop_last = size, batch_size, drop_last
        self.shuffle = shuffle or num_samples is not None
        self.count = size if num_samples is None else min(num_samples, size)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        full, rest = divmod(self.count, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        order = self.rng.permutation(self.size)[: self.count] if self.shuffle else None
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            stop = min(start + self.batch_size, self.count)
            yield order[start:stop] if order is not None else np.arange(start, stop)


def _batch_as_is(batch):
    return batch


def make_loader(
    dataset: WindowDataset,
    batch_size: int = 64,
    shuffle: bool = False,
    num_samples: int | None = None,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool | None = None,
) -> DataLoader:
    """A DataLoader over whole-batch gathers. ``num_samples``: a fresh random subset of that
    size each epoch (quick runs). ``num_workers=0`` is usually fastest on CPU (a gather is a
    memcpy; workers pay pickling); ``pin_memory`` defaults to on when CUDA is present."""
    sampler = WindowBatchSampler(len(dataset), batch_size, shuffle, num_samples, drop_last, seed)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=_batch_as_is,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
    )
