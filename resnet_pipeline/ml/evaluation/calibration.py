"""Calibrated probabilities by temperature scaling, and the expected calibration error (SPEC 14).

Temperature scaling (Guo, Pleiss, Sun & Weinberger 2017, "On Calibration of Modern Neural
Networks"): one scalar T > 0 for a fold, fitted on its validation logits z and labels y as the
minimizer of the validation log loss of ``softmax(z / T)``. Dividing every logit of a row by the
same T keeps their order, so argmax and accuracy never change; only confidence does. Softmax is
shift-invariant, so ``log(p)`` serves as logits for stored probabilities p: predictions written
before calibration are recalibrated as ``softmax(log(p) / T)`` without the model.

``TemperatureScaling`` is the estimator (``fit`` / ``predict_proba`` on logits, stored as the
number T). The fit: the log loss is convex in 1/T (a log-sum-exp of beta * z minus a linear
term), hence unimodal in log T, and a bounded Brent search on log T
(``scipy.optimize.minimize_scalar``) finds its minimum deterministically. T is searched in
[1/20, 20] (``TEMPERATURE_BOUNDS``): a calibrated model has T = 1 and a model 5 times
over-confident needs T = 5, so the range leaves wide room on both sides while keeping the
search off the degenerate ends (T -> 0 makes every row one-hot, T -> infinity makes it
uniform). A split the model classifies perfectly has its loss falling towards T -> 0: the fit
then lands low in the range, wherever the loss stops changing in float64. Rows whose logits are
all equal carry nothing to fit: when every row is so, T = 1.

Expected calibration error (Naeini, Cooper & Hauskrecht 2015; with 15 bins as in Guo et al.):
conf_i = max_k p_ik, bin m = {i : conf_i in ((m-1)/15, m/15]}, acc(B_m) = share of rows whose
argmax is the label, conf(B_m) = mean confidence, ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator

ECE_BINS = 15
TEMPERATURE_BOUNDS = (1 / 20, 20.0)
# Probabilities are floored here before a log (here and in the log loss of
# ml.evaluation.classification), so a class a model gave exactly 0 (a baseline that never saw it)
# keeps a
# finite logit and a finite loss.
PROBABILITY_FLOOR = 1e-7
_TOLERANCE = 1e-6  # on log T: T is found to a relative 1e-6


def _checked_labels(labels: np.ndarray, rows: int, classes: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (rows,):
        raise ValueError(f"{y.shape} labels for {rows} rows of scores: give one label per row")
    if rows == 0:
        raise ValueError("no samples: calibration is fitted and measured on non-empty splits")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= classes:
        raise ValueError(f"labels must be integers in 0..{classes - 1}, one per row")
    return y.astype(np.int64)


def _checked(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(
            f"logits have shape {z.shape}: expected [N, K] with K >= 2 classes, one row per sample"
        )
    if not np.isfinite(z).all():
        raise ValueError(
            "logits contain NaN or infinity: pass the model's raw outputs, or log(probabilities) "
            "via logits_from_probabilities, which floors zeros"
        )
    return z, _checked_labels(labels, len(z), z.shape[1])


def _checked_probabilities(proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probabilities have shape {p.shape}: expected [N, K] with K >= 2")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1 + 1e-6).any():
        raise ValueError("probabilities must be finite values in [0, 1], one row per sample")
    return p


def _temperature(temperature: float) -> float:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature {temperature!r} must be a finite number > 0")
    return float(temperature)


def log_loss_at(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(logits / temperature)`` at the labels."""
    z, y = _checked(logits, labels)
    log_p = log_softmax(z / _temperature(temperature), axis=1)
    return float(-log_p[np.arange(len(y)), y].mean())


class TemperatureScaling(BaseEstimator):
    """scikit-learn's estimator shape over logits: ``fit(logits, labels)`` finds ``temperature_``
    (the T in ``bounds`` minimizing the log loss of softmax(logits / T) at the labels: logits
    [N, K] on a fold's validation split, labels [N] in 0..K-1); ``predict_proba(logits)`` is
    softmax(logits / T). Stored as the plain number T (``to_dict``)."""

    def __init__(self, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> None:
        self.bounds = bounds

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> TemperatureScaling:
        z, y = _checked(logits, labels)
        z = z - z.max(axis=1, keepdims=True)
        self.temperature_ = 1.0
        if not z.any():
            return self
        rows = np.arange(len(y))

        def loss(log_t: float) -> float:
            return float(-log_softmax(z * math.exp(-log_t), axis=1)[rows, y].mean())

        low, high = self.bounds
        found = minimize_scalar(
            loss,
            bounds=(math.log(low), math.log(high)),
            method="bounded",
            options={"xatol": _TOLERANCE},
        )
        self.temperature_ = float(math.exp(found.x))
        return self

    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        """softmax(logits / T) row by row: [N, K] calibrated probabilities."""
        z = np.asarray(logits, np.float64)
        if z.ndim != 2:
            raise ValueError(f"logits have shape {z.shape}: expected [N, K]")
        return softmax(z / _temperature(self.temperature_), axis=1)

    def log_loss(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """Mean negative log-likelihood of the calibrated probabilities at the labels."""
        return log_loss_at(logits, labels, self.temperature_)

    def to_dict(self) -> dict:
        return {"temperature": self.temperature_}

    @classmethod
    def from_dict(cls, stored: dict) -> TemperatureScaling:
        return cls.at(stored["temperature"])

    @classmethod
    def at(cls, temperature: float) -> TemperatureScaling:
        """The scaling by a known T (1: the probabilities as they are)."""
        scaling = cls()
        scaling.temperature_ = _temperature(temperature)
        return scaling


def logits_from_probabilities(proba: np.ndarray) -> np.ndarray:
    """log(p), zeros floored at ``PROBABILITY_FLOOR``: logits with the same softmax."""
    return np.log(np.clip(_checked_probabilities(proba), PROBABILITY_FLOOR, 1.0))


def calibrate_probabilities(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Stored probabilities [N, K] recalibrated with T: softmax(log(p) / T)."""
    return TemperatureScaling.at(temperature).predict_proba(logits_from_probabilities(proba))


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of top-class confidence in (lower, upper]: a point of the reliability plot.
    ``confidence`` and ``accuracy`` are None for an empty bin."""

    lower: float
    upper: float
    count: int
    confidence: float | None
    accuracy: float | None


@dataclass(frozen=True)
class CalibrationError:
    """The expected calibration error of ``samples`` predictions and its bins."""

    ece: float
    samples: int
    bins: tuple[ReliabilityBin, ...]

    def to_dict(self) -> dict:
        """Plain values for a report or Dagster metadata."""
        return {
            "ece": self.ece,
            "samples": self.samples,
            "bins": [vars(b) for b in self.bins],
        }


def expected_calibration_error(
    proba: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> CalibrationError:
    """ECE over ``bins`` equal-width bins of the top-class probability, ((m-1)/bins, m/bins]."""
    p = _checked_probabilities(proba)
    y = _checked_labels(labels, len(p), p.shape[1])
    if bins < 1:
        raise ValueError(f"bins={bins}: the calibration error needs at least one bin")
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.arange(bins + 1) / bins
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    hit_sum = np.bincount(index, weights=correct, minlength=bins)
    ece = float(np.abs(hit_sum - conf_sum).sum() / len(y))
    table = tuple(
        ReliabilityBin(
            lower=float(edges[m]),
            upper=float(edges[m + 1]),
            count=int(counts[m]),
            confidence=float(conf_sum[m] / counts[m]) if counts[m] else None,
            accuracy=float(hit_sum[m] / counts[m]) if counts[m] else None,
        )
        for m in range(bins)
    )
    return CalibrationError(ece=ece, samples=int(len(y)), bins=table)
