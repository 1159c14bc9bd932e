"""Daily returns of every trial, checked once: one row per day, one column per variant, the
same days for every variant and every benchmark, no missing values, and no variant whose
return is the same non-zero value every day.

That last column is refused here, once, because every statistic downstream would read it
differently: its standard deviation is 0 or rounding noise, so its Sharpe ratio is undefined or
about 1e15, the PBO ranks it first, the SPA finds it certainly better, the DSR calls it
undefined. No backtest makes it (a day without trades returns exactly 0; a day in the market
moves with the market), so it is an input error, named with its fix."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

FLAT = 1e-9  # a spread below this share of the largest |return| is rounding, not variation


class TrialReturnsError(ValueError):
    """Daily returns that cannot be compared day by day."""


@dataclass(frozen=True)
class ReturnsMatrix:
    """``values``: [T days, N variants] float64; ``days``: the shared day index when the
    returns came as pandas, else None."""

    values: np.ndarray
    names: tuple[str, ...]
    days: pd.Index | None

    @property
    def n_days(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_variants(self) -> int:
        return int(self.values.shape[1])


def returns_matrix(returns: pd.DataFrame | np.ndarray) -> ReturnsMatrix:
    """A DataFrame (index: days, columns: variant names) or a 2-D array (rows: days) of daily
    returns, checked: unique increasing days, unique names, finite values."""
    if isinstance(returns, pd.DataFrame):
        days = returns.index
        _check_days(days, "the variants' returns")
        names = tuple(str(c) for c in returns.columns)
        values = returns.to_numpy(np.float64)
    else:
        values = np.asarray(returns, np.float64)
        days = None
        names = tuple(f"variant_{i}" for i in range(values.shape[1])) if values.ndim == 2 else ()
    if values.ndim != 2 or values.shape[1] == 0:
        raise TrialReturnsError(
            f"daily returns of shape {values.shape}: need a 2-D table with one row per day and "
            "at least one column (one per variant); pass a DataFrame indexed by day"
        )
    if len(set(names)) != len(names):
        raise TrialReturnsError(
            f"variant names {names} repeat: every variant needs its own column name, so each "
            "trial is counted once"
        )
    _check_finite(values, names, days, "variant")
    _check_varies(values, names)
    return ReturnsMatrix(values, names, days)


def aligned_returns(series: pd.Series | np.ndarray, matrix: ReturnsMatrix, name: str) -> np.ndarray:
    """``series`` (e.g. a benchmark's daily returns) as an array on exactly the matrix's days."""
    if isinstance(series, pd.Series) and matrix.days is not None:
        if not series.index.equals(matrix.days):
            raise TrialReturnsError(
                f"the daily returns of {name!r} ({len(series)} days, "
                f"{_span(series.index)}) are not on the variants' days ({matrix.n_days} days, "
                f"{_span(matrix.days)}): reindex both to the same UTC days (a day without "
                "trades has return 0) before judging them together"
            )
    values = np.asarray(series, np.float64)
    if values.shape != (matrix.n_days,):
        raise TrialReturnsError(
            f"the daily returns of {name!r} have shape {values.shape}, the variants have "
            f"{matrix.n_days} days: pass one return per day of the variants' days"
        )
    _check_finite(values[:, None], (name,), matrix.days, "series")
    return values


def per_day_sharpe(values: np.ndarray) -> np.ndarray:
    """Mean / standard deviation (ddof 1) of each column of [T days, N] returns, per day (not
    annualized); NaN where the deviation is 0 or there are fewer than 2 days."""
    values = np.asarray(values, np.float64)
    if values.shape[0] < 2:
        return np.full(values.shape[1], math.nan)
    std = values.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, values.mean(axis=0) / std, math.nan)


def _check_days(days: pd.Index, what: str) -> None:
    if not days.is_unique or not days.is_monotonic_increasing:
        raise TrialReturnsError(
            f"the days of {what} are not unique and increasing: pass one row per UTC day, "
            "sorted oldest first (e.g. frame.sort_index() after removing duplicate days)"
        )


def _check_finite(
    values: np.ndarray, names: tuple[str, ...], days: pd.Index | None, what: str
) -> None:
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    row, column = (int(i[0]) for i in np.nonzero(bad))
    day = days[row] if days is not None else f"row {row}"
    raise TrialReturnsError(
        f"{int(bad.sum())} daily return(s) are NaN or infinite, first in {what} "
        f"{names[column]!r} on {day}: every variant and benchmark needs a return on every "
        "shared day (0 for a day without trades); drop days that not all of them cover"
    )


def constant_columns(values: np.ndarray) -> np.ndarray:
    """[N] True where a column of [T, N] returns (T >= 2) is one non-zero value every day, up to
    rounding (spread within ``FLAT`` of its largest |return|)."""
    scale = np.abs(values).max(axis=0)
    return (len(values) >= 2) & (scale > 0) & (np.ptp(values, axis=0) <= FLAT * scale)


def _check_varies(values: np.ndarray, names: tuple[str, ...]) -> None:
    constant = np.flatnonzero(constant_columns(values))
    if not len(constant):
        return
    first = int(constant[0])
    raise TrialReturnsError(
        f"the daily returns of {len(constant)} variant(s), first {names[first]!r}, are the same "
        f"non-zero value every day ({values[0, first]:.6g}): such a column has no Sharpe ratio "
        "(its deviation is 0), so no statistic can rank it; a strategy's daily return moves "
        "with the market on days in it and is exactly 0 on days out of it. Pass the trial's "
        "backtested daily returns, or leave the column out"
    )


def _span(days: pd.Index) -> str:
    return f"{days[0]} .. {days[-1]}" if len(days) else "empty"
