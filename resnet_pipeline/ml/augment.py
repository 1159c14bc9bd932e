"""Training-only augmentation (SPEC 6): Gaussian noise, smooth time warping, magnitude scaling.

Every draw comes from a generator seeded by (seed, epoch, sample index), so a sample's
augmentation is the same whatever batch it lands in, and different in each epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    noise_sigma: float = 0.01
    warp_strength: float = 0.05  # max relative stretch/compression of local speed
    warp_knots: int = 4
    scale_low: float = 0.9
    scale_high: float = 1.1

    def __post_init__(self) -> None:
        if self.noise_sigma < 0 or not 0 <= self.warp_strength < 1:
            raise ValueError("noise_sigma must be >= 0 and warp_strength in [0, 1)")
        if not 0 < self.scale_low <= self.scale_high:
            raise ValueError(f"scale range ({self.scale_low}, {self.scale_high}) is not valid")


def _warp_positions(rng: np.random.Generator, length: int, cfg: AugmentConfig) -> np.ndarray:
    """Monotone source positions in [0, length-1]: smooth random speed, same start and end."""
    knots = 1.0 + rng.uniform(-cfg.warp_strength, cfg.warp_strength, cfg.warp_knots + 2)
    speed = np.interp(np.linspace(0, 1, length), np.linspace(0, 1, len(knots)), knots)
    pos = np.concatenate(([0.0], np.cumsum(speed[1:])))
    return pos / pos[-1] * (length - 1)


def augment_batch(
    x: np.ndarray, indices: np.ndarray, cfg: AugmentConfig, seed: int, epoch: int
) -> np.ndarray:
    """[B, C, L] -> augmented [B, C, L] (float32), one generator per sample."""
    batch, channels, length = x.shape
    positions = np.empty((batch, length))
    scales = np.empty((batch, 1, 1), np.float32)
    noise = np.empty_like(x)
    for b in range(batch):
        rng = np.random.default_rng([seed, epoch, int(indices[b])])
        positions[b] = _warp_positions(rng, length, cfg)
        scales[b] = rng.uniform(cfg.scale_low, cfg.scale_high)
        noise[b] = rng.standard_normal((channels, length), dtype=np.float32)
    left = np.floor(positions).astype(np.int64).clip(0, length - 2)[:, None, :]
    frac = (positions[:, None, :] - left).astype(np.float32)
    left = np.broadcast_to(left, x.shape)
    warped = np.take_along_axis(x, left, axis=2) * (1 - frac)
    warped += np.take_along_axis(x, left + 1, axis=2) * frac
    warped *= scales
    warped += noise * np.float32(cfg.noise_sigma)
    return warped
