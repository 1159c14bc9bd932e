"""Train-fitted normalization (SPEC 6), stored with the split and inside every checkpoint.

Non-price channels: z-score per channel with statistics of the training rows. Price channels
(open, high, low, close) are not stationary, so by default each window expresses them
relative to its own last close (``price / close[t] - 1``) and that quantity is z-scored with
statistics over every training window; ``price_norm="zscore"`` keeps the seed's plain z-score.
The per-window part cannot be stored in the matrix (a row belongs to 256 windows), so
``finish`` applies it to gathered windows: the matrix stays one [N, 15] array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from resnet_pipeline.features.channels import FEATURE_CHANNELS, PRICE_CHANNELS

PRICE_NORMS = ("window_relative", "zscore")
_MIN_STD = 1e-8


@dataclass
class Normalizer:
    mean: np.ndarray  # [C] statistics of the transformed quantity per channel
    std: np.ndarray  # [C]
    price_norm: str = "window_relative"
    channel_names: tuple[str, ...] = FEATURE_CHANNELS
    price_idx: np.ndarray = field(init=False)
    close_idx: int = field(init=False)

    def __post_init__(self) -> None:
        if self.price_norm not in PRICE_NORMS:
            raise ValueError(f"price_norm={self.price_norm!r}: use one of {PRICE_NORMS}")
        self.mean = np.asarray(self.mean, np.float64)
        self.std = np.maximum(np.asarray(self.std, np.float64), _MIN_STD)
        self.channel_names = tuple(self.channel_names)
        self.price_idx = np.array([self.channel_names.index(c) for c in PRICE_CHANNELS])
        self.close_idx = self.channel_names.index("close")

    @property
    def relative(self) -> bool:
        return self.price_norm == "window_relative"

    def transform_rows(self, raw: np.ndarray) -> np.ndarray:
        """[N, C] raw rows -> the stored matrix (price channels stay raw when window-relative)."""
        out = ((raw - self.mean) / self.std).astype(np.float32)
        if self.relative:
            out[:, self.price_idx] = raw[:, self.price_idx]
        return out

    def finish(self, windows: np.ndarray) -> np.ndarray:
        """[B, C, L] windows of the stored matrix -> model input (in place when possible)."""
        if self.relative:
            prices = windows[:, self.price_idx, :]  # [B, 4, L]
            last_close = windows[:, self.close_idx, -1][:, None, None]
            mean = self.mean[self.price_idx][None, :, None]
            std = self.std[self.price_idx][None, :, None]
            windows[:, self.price_idx, :] = (prices / last_close - 1.0 - mean) / std
        return windows

    def window(self, raw_rows: np.ndarray) -> np.ndarray:
        """[L, C] raw feature rows (newest last) -> the [C, L] model input, for fresh data."""
        if raw_rows.ndim != 2 or raw_rows.shape[1] != len(self.channel_names):
            raise ValueError(
                f"expected raw rows [window, {len(self.channel_names)}], got {raw_rows.shape}"
            )
        stored = self.transform_rows(np.asarray(raw_rows, np.float64))
        return self.finish(np.ascontiguousarray(stored.T[None]))[0]

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


def fit_normalizer(
    raw: np.ndarray, train_rows: slice, train_ends: np.ndarray, window: int, price_norm: str
) -> Normalizer:
    """Statistics from training data only: ``train_rows`` for per-row channels, every training
    window (exactly, in chunks) for the window-relative prices."""
    rows = raw[train_rows].astype(np.float64)
    mean, std = np.nanmean(rows, axis=0), np.nanstd(rows, axis=0)
    norm = Normalizer(mean=mean, std=std, price_norm=price_norm)
    if norm.relative:
        total = np.zeros(len(norm.price_idx))
        squares = np.zeros(len(norm.price_idx))
        count = 0
        views = np.lib.stride_tricks.sliding_window_view(raw, window, axis=0)  # [N-L+1, C, L]
        for start in range(0, len(train_ends), 4096):
            ends = train_ends[start : start + 4096]
            w = views[ends - window + 1][:, norm.price_idx, :].astype(np.float64)
            rel = w / views[ends - window + 1][:, norm.close_idx, -1][:, None, None] - 1.0
            total += rel.sum(axis=(0, 2))
            squares += (rel**2).sum(axis=(0, 2))
            count += rel.shape[0] * rel.shape[2]
        price_mean = total / count
        price_std = np.sqrt(np.maximum(squares / count - price_mean**2, 0.0))
        norm.mean[norm.price_idx] = price_mean
        norm.std[norm.price_idx] = np.maximum(price_std, _MIN_STD)
    return norm
