"""Which feature rows can end a sample, and the leak-free chronological split with purge.

Leakage rules (SPEC 6), shared by ``dataset_splits`` and the walk-forward folds:
- a sample needs a label, a full window, no warm-up or non-finite row inside it and no gap
  between consecutive rows longer than ``max_gap_minutes`` (measured on the timestamps of the
  assembled rows, so a missing month is a gap even when each month's features look complete);
- samples are split 70/15/15 by time; a sample whose label horizon (t + purge minutes, at
  least the label's forward window) reaches the first sample of the next split is purged, so
  no training label sees a validation price and no validation label a test price; a later
  split's window may contain earlier rows (past features are not labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.knobs import check_knobs, knob
from resnet_pipeline.ml.data.normalization import PRICE_NORMS

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitConfig:
    window: int = knob(256, "rows (minutes) per sample window", ge=8)
    train_ratio: float = knob(0.70, "share of samples, oldest first", gt=0)
    val_ratio: float = knob(0.15, "share of samples after training", gt=0)
    test_ratio: float = knob(0.15, "share of samples, newest last", gt=0)
    forward_window: int = knob(
        LabelConfig().forward_window, "the label horizon in minutes", from_data=True, ge=1
    )
    purge_minutes: int | None = knob(
        None,
        "drop samples whose label horizon (t + this many minutes) reaches the next part; "
        "default and minimum: the label's forward window (12); more is an embargo",
        ge=1,
    )
    max_gap_minutes: float = knob(
        5.0,
        "exclude windows with a longer gap between consecutive candles (minutes)",
        ge=1,
        note="1 allows no missing candle, 5 tolerates up to 4 missing minutes",
    )
    price_norm: str = knob(
        "window_relative",
        "price channels: window_relative (price / the window's last close - 1, z-scored) or "
        "zscore (the seed's plain z-score)",
        choices=PRICE_NORMS,
    )

    def __post_init__(self) -> None:
        check_knobs(self)
        ratios = (self.train_ratio, self.val_ratio, self.test_ratio)
        if any(r <= 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(
                f"split ratios {ratios} must be positive and sum to 1 (e.g. 0.7, 0.15, 0.15)"
            )
        if self.purge_minutes is not None and self.purge_minutes < self.forward_window:
            raise ValueError(
                f"purge_minutes={self.purge_minutes} is shorter than the label horizon "
                f"({self.forward_window} min): training labels would see validation prices. "
                f"Use at least {self.forward_window} (or leave it unset)"
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
class SampleRows:
    """Feature rows in time order, their labels, and why each row can or cannot end a sample
    (the ``has_*`` flags: such a row lies inside the window ending there)."""

    rows: np.ndarray  # [N, C] float32 raw channels
    labels: np.ndarray  # [N] int64, -1 where unknown
    times: np.ndarray  # [N] datetime64[ns] UTC, strictly increasing
    labelled: np.ndarray  # [N] bool: a label and a full window behind it
    has_warmup: np.ndarray
    has_nonfinite: np.ndarray
    has_gap: np.ndarray
    channels: tuple[str, ...] = FEATURE_CHANNELS  # the columns of ``rows``, in order

    @property
    def eligible_ends(self) -> np.ndarray:
        """int64 row indices that can end a sample."""
        ok = self.labelled & ~self.has_warmup & ~self.has_nonfinite & ~self.has_gap
        return np.flatnonzero(ok)

    def stats(self) -> SplitStats:
        """Counts per exclusion reason (each labelled row counted once, first reason wins)."""
        lab, warm, nan = self.labelled, self.has_warmup, self.has_nonfinite
        return SplitStats(
            rows=len(self.times),
            labelled=int(lab.sum()),
            eligible=len(self.eligible_ends),
            warmup_excluded=int((lab & warm).sum()),
            nonfinite_excluded=int((lab & ~warm & nan).sum()),
            gap_excluded=int((lab & ~warm & ~nan & self.has_gap).sum()),
        )


def require_feature_columns(
    features: pd.DataFrame, channels: tuple[str, ...] = FEATURE_CHANNELS
) -> None:
    missing = [c for c in ("timestamp", *channels, "warmup") if c not in features]
    if missing:
        raise ValueError(f"features lack columns {missing}: re-materialize the features asset")


def sample_rows(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    config: SplitConfig,
    channels: tuple[str, ...] = FEATURE_CHANNELS,
) -> SampleRows:
    """Assemble the feature rows (sorted by time) with their labels and eligibility flags.

    ``features``: timestamp, the ``channels`` (the stored FEATURE_CHANNELS, or a feature
    variant's computed ones), ``warmup``; ``labels``: timestamp, label.
    Memory: one float32 [N, C] copy of the channels plus O(N) flags.
    """
    require_feature_columns(features, channels)
    times = utc_ns(features["timestamp"], "features")
    if not (np.diff(times) > np.timedelta64(0)).all():
        order = np.argsort(times, kind="stable")
        features, times = features.iloc[order], times[order]
        if not (np.diff(times) > np.timedelta64(0)).all():
            raise ValueError("features have duplicate timestamps: re-materialize features")
    n, window = len(times), config.window
    label = aligned_labels(labels, times)
    rows = np.empty((n, len(channels)), np.float32)
    nonfinite = np.zeros(n, bool)
    for i, name in enumerate(channels):
        rows[:, i] = features[name].to_numpy(np.float32, na_value=np.nan)
        nonfinite |= ~np.isfinite(rows[:, i])
    warmup = features["warmup"].to_numpy(bool)
    gap_minutes = np.diff(times).astype("timedelta64[s]").astype(np.float64) / 60.0
    # a flag at row r means: more than max_gap_minutes between rows r-1 and r
    gap = np.concatenate(([False], gap_minutes > config.max_gap_minutes))
    return SampleRows(
        rows=rows,
        labels=label,
        times=times,
        labelled=(label >= 0) & (np.arange(n) >= window - 1),
        has_warmup=flags_in_window(warmup, window) > 0,
        has_nonfinite=flags_in_window(nonfinite, window) > 0,
        has_gap=flags_in_window(gap, window - 1) > 0,  # rows t-window+2..t: gaps inside it
        channels=tuple(channels),
    )


def split_and_purge(
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


def utc_ns(timestamps: pd.Series, what: str) -> np.ndarray:
    """UTC datetime64[ns] values (tz-naive input is taken as UTC)."""
    ts = pd.to_datetime(timestamps)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    values = ts.to_numpy("datetime64[ns]")
    if np.isnat(values).any():
        raise ValueError(f"{what} has missing timestamps")
    return values


def iso_utc(value: np.datetime64) -> str:
    """ISO text of a UTC datetime64 (for metadata)."""
    return pd.Timestamp(value).tz_localize("UTC").isoformat()


def flags_in_window(flags: np.ndarray, width: int) -> np.ndarray:
    """For each row t: how many of the rows t-width+1..t are flagged (0 for t < width-1)."""
    counts = np.zeros(len(flags), np.int32)
    if width > len(flags):
        return counts
    csum = np.concatenate(([0], np.cumsum(flags, dtype=np.int32)))
    counts[width - 1 :] = csum[width:] - csum[: len(flags) - width + 1]
    return counts


def aligned_labels(labels: pd.DataFrame, times: np.ndarray) -> np.ndarray:
    """The label of each feature row (int64, -1 where unknown or absent)."""
    missing = [c for c in ("timestamp", "label") if c not in labels]
    if missing:
        raise ValueError(f"labels lack columns {missing}: re-materialize the labels asset")
    label_times = utc_ns(labels["timestamp"], "labels")
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
