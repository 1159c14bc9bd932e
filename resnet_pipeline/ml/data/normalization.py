"""Train-fitted normalization (SPEC 6), stored with the split and inside every checkpoint.

Non-price channels: z-score per channel with the statistics of the training rows (every row
inside at least one training window). Price channels (open, high, low, close) are not
stationary, so by default each window expresses them relative to its own last close
(``price / close[t] - 1``) and that quantity is z-scored with its statistics over every
training window, computed exactly (windowed prefix sums, no sampling);
``price_norm="zscore"`` keeps the seed's plain per-row z-score for the prices too.

The per-window part cannot be stored (a row belongs to ``window`` windows), so the stored
matrix keeps raw prices and ``finish`` applies the window-relative step to gathered windows.
``Normalizer.window`` runs the same two steps on fresh raw rows, bit for bit.

A feature variant may see any subset of the channels: the price channels it keeps are
normalized as above (window-relative needs ``close``, the reference), the others per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS, PRICE_CHANNELS

PRICE_NORMS = ("window_relative", "zscore")
_MIN_STD = 1e-8
_CHUNK = 16_384  # windows per prefix-sum block when fitting the relative-price statistics


def price_channels_problem(channels: tuple[str, ...], price_norm: str) -> str | None:
    """Why ``channels`` cannot be normalized with ``price_norm`` (None: they can): a
    window-relative price needs the window's last close."""
    prices = [c for c in PRICE_CHANNELS if c in channels]
    if price_norm == "window_relative" and prices and "close" not in channels:
        return (
            f"the price channels {prices} are normalized relative to the window's last close "
            "(price_norm=window_relative), but close is not selected: add close to the "
            "channels, or set folds.price_norm to zscore"
        )
    return None


@dataclass
class Normalizer:
    mean: np.ndarray  # [C] statistics of the normalized quantity per channel
    std: np.ndarray  # [C]
    price_norm: str = "window_relative"
    channel_names: tuple[str, ...] = FEATURE_CHANNELS
    price_idx: np.ndarray = field(init=False, repr=False)
    close_idx: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.price_norm not in PRICE_NORMS:
            raise ValueError(f"price_norm={self.price_norm!r}: use one of {PRICE_NORMS}")
        self.channel_names = tuple(self.channel_names)
        self.mean = np.asarray(self.mean, np.float64)
        self.std = np.maximum(np.asarray(self.std, np.float64), _MIN_STD)
        if self.mean.shape != (len(self.channel_names),) or self.std.shape != self.mean.shape:
            raise ValueError(
                f"normalizer statistics have shapes {self.mean.shape}/{self.std.shape} for "
                f"{len(self.channel_names)} channels"
            )
        problem = price_channels_problem(self.channel_names, self.price_norm)
        if problem:
            raise ValueError(problem)
        prices = [c for c in PRICE_CHANNELS if c in self.channel_names]
        self.price_idx = np.array([self.channel_names.index(c) for c in prices], np.int64)
        self.close_idx = self.channel_names.index("close") if "close" in prices else -1

    @property
    def relative(self) -> bool:
        return self.price_norm == "window_relative"

    def row_channels(self) -> list[int]:
        """Channels z-scored per row (stored normalized); the others are finished per window."""
        skip = set(self.price_idx.tolist()) if self.relative else set()
        return [i for i in range(len(self.channel_names)) if i not in skip]

    def transform_rows_(self, rows: np.ndarray) -> np.ndarray:
        """In place on float32 [N, C] raw rows -> the stored matrix (one channel at a time, so
        a year of rows needs no float64 copy). Raw prices stay raw when window-relative."""
        if rows.dtype != np.float32 or rows.ndim != 2 or rows.shape[1] != len(self.channel_names):
            raise ValueError(
                f"expected float32 rows [N, {len(self.channel_names)}], got {rows.dtype} "
                f"{rows.shape}"
            )
        for i in self.row_channels():
            rows[:, i] = (rows[:, i].astype(np.float64) - self.mean[i]) / self.std[i]
        return rows

    def finish(self, windows: np.ndarray) -> np.ndarray:
        """[B, C, L] float32 windows of the stored matrix -> model input, in place."""
        if self.relative and len(self.price_idx):
            prices = windows[:, self.price_idx, :].astype(np.float64)  # [B, 4, L]
            last_close = windows[:, self.close_idx, -1].astype(np.float64)[:, None, None]
            mean = self.mean[self.price_idx][None, :, None]
            std = self.std[self.price_idx][None, :, None]
            windows[:, self.price_idx, :] = (prices / last_close - 1.0 - mean) / std
        return windows

    def window(self, raw_rows: np.ndarray) -> np.ndarray:
        """[L, C] raw feature rows (oldest first, channel_names order) -> the [C, L] float32
        model input, identical to ``DatasetSplits.window`` for the same rows."""
        raw_rows = np.asarray(raw_rows)
        if raw_rows.ndim != 2 or raw_rows.shape[1] != len(self.channel_names):
            raise ValueError(
                f"expected raw rows [window, {len(self.channel_names)}], got {raw_rows.shape}"
            )
        if not np.isfinite(raw_rows).all():
            raise ValueError("raw rows hold NaN/inf (warm-up rows?): use a later window")
        rows = self.transform_rows_(np.array(raw_rows, dtype=np.float32))
        return self.finish(np.ascontiguousarray(rows.T[None]))[0]

    def to_dict(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "price_norm": self.price_norm,
            "channel_names": list(self.channel_names),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Normalizer:
        return cls(
            mean=np.asarray(data["mean"]),
            std=np.asarray(data["std"]),
            price_norm=data["price_norm"],
            channel_names=tuple(data["channel_names"]),
        )


def covered_rows(n: int, ends: np.ndarray, window: int) -> np.ndarray:
    """Boolean [n]: rows inside at least one window ending at ``ends``."""
    delta = np.zeros(n + 1, np.int32)
    np.add.at(delta, np.asarray(ends) - window + 1, 1)
    np.add.at(delta, np.asarray(ends) + 1, -1)
    return np.cumsum(delta[:-1]) > 0


def relative_price_moments(
    rows: np.ndarray, price_idx: np.ndarray, close_idx: int, ends: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and std of ``price[r] / close[t] - 1`` over every row r of every window
    ending at t in ``ends``, per price channel. ``rows``: raw [N, C]; ``price_idx``: the
    price columns; ``close_idx``: the close column.

    Per window, with u = x - ref (ref: a block's first close, to keep prefix sums small):
    sum(x/c - 1) = (S1 - L*d) / c and sum((x/c - 1)^2) = (S2 - 2*d*S1 + L*d^2) / c^2, where
    S1, S2 are the window sums of u and u^2 and d = c - ref. O(N) time, O(block) memory.
    """
    ends = np.sort(np.asarray(ends, np.int64))
    total = np.zeros(len(price_idx))
    squares = np.zeros(len(price_idx))
    for start in range(0, len(ends), _CHUNK):
        block_ends = ends[start : start + _CHUNK]
        lo, hi = int(block_ends[0]) - window + 1, int(block_ends[-1]) + 1
        ref = float(rows[lo, close_idx])
        block = rows[lo:hi, price_idx].astype(np.float64) - ref
        zero = np.zeros((1, block.shape[1]))
        c1 = np.concatenate((zero, np.cumsum(block, axis=0)))
        c2 = np.concatenate((zero, np.cumsum(block * block, axis=0)))
        local = block_ends - lo
        s1 = c1[local + 1] - c1[local + 1 - window]  # [n, 4]
        s2 = c2[local + 1] - c2[local + 1 - window]
        c = rows[block_ends, close_idx].astype(np.float64)[:, None]
        d = c - ref
        total += ((s1 - window * d) / c).sum(axis=0)
        squares += ((s2 - 2 * d * s1 + window * d * d) / (c * c)).sum(axis=0)
    count = len(ends) * window
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean**2, 0.0))


def fit_normalizer(
    rows: np.ndarray,
    train_ends: np.ndarray,
    window: int,
    price_norm: str = "window_relative",
    channel_names: tuple[str, ...] = FEATURE_CHANNELS,
) -> Normalizer:
    """Statistics from the training windows only. ``rows``: raw [N, C] feature rows (float32);
    nothing outside the rows covered by ``train_ends``' windows is read."""
    train_ends = np.asarray(train_ends, np.int64)
    if not len(train_ends):
        raise ValueError("no training windows to fit the normalization on")
    covered = covered_rows(len(rows), train_ends, window)
    mean = np.empty(rows.shape[1])
    std = np.empty(rows.shape[1])
    for i in range(rows.shape[1]):
        values = rows[covered, i].astype(np.float64)
        mean[i], std[i] = values.mean(), values.std()
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        bad = [channel_names[i] for i in np.flatnonzero(~np.isfinite(mean + std))]
        raise ValueError(f"training rows hold NaN/inf in {bad}: exclude them before fitting")
    norm = Normalizer(mean=mean, std=std, price_norm=price_norm, channel_names=channel_names)
    if norm.relative and len(norm.price_idx):
        price_mean, price_std = relative_price_moments(
            rows, norm.price_idx, norm.close_idx, train_ends, window
        )
        norm.mean[norm.price_idx] = price_mean
        norm.std[norm.price_idx] = np.maximum(price_std, _MIN_STD)
    return norm
