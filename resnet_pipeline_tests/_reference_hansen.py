"""Hansen's (2005) studentizing deviation written out from the paper, for the SPA and StepM
tests to check the shared studentized losses against."""

from __future__ import annotations

import math

import numpy as np


def hansen_deviation(differential: np.ndarray, block: int) -> float:
    """Hansen's (2005) omega written out: gamma_0 + 2 sum_i kappa(n, i) gamma_i."""
    n, q = len(differential), 1 / block
    centered = differential - differential.mean()
    variance = centered @ centered / n
    for i in range(1, n):
        kappa = (n - i) / n * (1 - q) ** i + i / n * (1 - q) ** (n - i)
        variance += 2 * kappa * (centered[:-i] @ centered[i:]) / n
    return math.sqrt(variance)
