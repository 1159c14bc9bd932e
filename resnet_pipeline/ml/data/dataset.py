"""The built dataset of one symbol: one feature matrix, its labels and the split window ends.

A sample is the ``window`` most recent feature rows ending at row t plus the label at t. The
matrix is stored once ([N, 15] float32); windows are gathered per batch from a strided view,
never materialized as [N, 15, window] (a year of minutes would need ~8 GB per symbol).
Which rows may end a sample and the purge live in ml/data/splits.py, the files in
ml/data/dataset_store.py, the torch side (Dataset, loader) in ml/data/windows.py. Normalization
statistics come from the rows of training windows only.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from upath import UPath

from resnet_pipeline.artifacts import as_path
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.ml.data import dataset_store
from resnet_pipeline.ml.data.lineage import FINGERPRINT_KEY, dataset_fingerprint
from resnet_pipeline.ml.data.normalization import Normalizer, fit_normalizer
from resnet_pipeline.ml.data.splits import (
    SPLITS,
    SplitConfig,
    SplitStats,
    iso_utc,
    require_feature_columns,
    sample_rows,
    split_and_purge,
)

DEFAULT_SPLIT_CONFIG = SplitConfig()


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
                "first": iso_utc(self.timestamps[ends[0]]) if len(ends) else None,
                "last": iso_utc(self.timestamps[ends[-1]]) if len(ends) else None,
                "share_down": float(shares[0]),
                "share_neutral": float(shares[1]),
                "share_up": float(shares[2]),
            }
        return out

    @property
    def fingerprint(self) -> str:
        """Hex sha256 of what this dataset was built from: the months with the content hashes
        of their feature/label files (``lineage["partitions"]``), the split config, the
        normalizer statistics and the dataset code version (see ml/data/lineage.py)."""
        return dataset_fingerprint(
            self.lineage.get("symbol"),
            self.lineage.get("partitions", {}),
            asdict(self.config),
            self.normalizer.to_dict(),
            self.lineage.get("code_version"),
        )

    def save(self, directory: str | os.PathLike[str]) -> Path | UPath:
        """Store atomically (see ``dataset_store.write_dataset``; a local directory or object
        storage), fingerprint included."""
        self.lineage = {**self.lineage, FINGERPRINT_KEY: self.fingerprint}
        meta = {
            "fingerprint": self.lineage[FINGERPRINT_KEY],
            "config": asdict(self.config),
            "normalizer": self.normalizer.to_dict(),
            "channel_names": list(self.channel_names),
            "stats": asdict(self.stats) if self.stats else None,
            "lineage": self.lineage,
            "summary": self.summary(),
        }
        ends = {split: self.ends(split) for split in SPLITS}
        return dataset_store.write_dataset(
            directory, self.matrix, self.labels, self.timestamps, ends, meta
        )

    @staticmethod
    def read_meta(directory: str | os.PathLike[str]) -> dict:
        """meta.json of a stored dataset (after recovering from an interrupted save)."""
        return dataset_store.read_meta(directory)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], mmap: bool = True) -> DatasetSplits:
        """``mmap``: the matrix stays on disk and pages in as windows are read (on object
        storage: a local cached copy, downloaded once per stored version). A truncated or
        corrupt file fails naming it and the command that rebuilds the dataset."""
        root = as_path(directory)
        meta, (matrix, labels, timestamps, ends) = dataset_store.read_dataset(directory, mmap)
        stats = meta.get("stats")
        splits = cls(
            matrix=matrix,
            labels=labels,
            timestamps=timestamps,
            train_ends=ends["train"],
            val_ends=ends["val"],
            test_ends=ends["test"],
            normalizer=Normalizer.from_dict(meta["normalizer"]),
            config=SplitConfig(**meta["config"]),
            channel_names=tuple(meta["channel_names"]),
            stats=SplitStats(**stats) if stats else None,
            lineage=meta.get("lineage", {}),
        )
        if splits.fingerprint != meta.get("fingerprint"):
            raise dataset_store.unreadable(
                root / "meta.json", root.name, "its fingerprint does not match its content"
            )
        return splits


def build_splits(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    config: SplitConfig = DEFAULT_SPLIT_CONFIG,
    channels: tuple[str, ...] = FEATURE_CHANNELS,
) -> DatasetSplits:
    """Samples, the chronological split with purge, and train-fitted normalization.

    ``features``: timestamp, the ``channels``, ``warmup``; ``labels``: timestamp, label.
    Memory: one float32 [N, C] copy of the channels (normalized in place) plus O(N) flags.
    """
    require_feature_columns(features, channels)
    window = config.window
    if len(features) < window:
        raise ValueError(
            f"{len(features)} feature rows is less than one window of {window}: select a longer "
            "month range (or materialize more months of features)"
        )
    rows = sample_rows(features, labels, config, channels)
    samples = rows.eligible_ends
    stats = rows.stats()
    if not stats.labelled:
        raise ValueError(
            f"no labelled sample among {stats.rows} rows with a full {window}-row window: "
            f"materialize labels for these months (a label needs the candle "
            f"{config.forward_window} minutes after its row)"
        )
    if len(samples) < 3:
        raise ValueError(
            f"only {len(samples)} usable samples of {stats.labelled} labelled: "
            f"{stats.warmup_excluded} windows hold warm-up rows, {stats.nonfinite_excluded} "
            f"NaN rows, {stats.gap_excluded} span gaps > {config.max_gap_minutes} min. Select "
            "more months of data (or raise max_gap_minutes)"
        )
    (train, val, test), stats.purged = split_and_purge(samples, rows.times, config)

    normalizer = fit_normalizer(rows.rows, train, window, config.price_norm, rows.channels)
    return DatasetSplits(
        matrix=normalizer.transform_rows_(rows.rows),
        labels=rows.labels,
        timestamps=rows.times,
        train_ends=train,
        val_ends=val,
        test_ends=test,
        normalizer=normalizer,
        config=config,
        channel_names=rows.channels,
        stats=stats,
    )
