"""The blocking data-quality rules of SPEC 3, as one table.

The same table validates every frame before it is stored (``validate_candles``) and defines
the asset checks of ``raw_candles`` (one check per rule, same name and description), so a rule
added here is enforced and shown in the UI at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from resnet_pipeline.market.minute_ranges import MINUTE_NS, month_bounds
from resnet_pipeline.market.schema import (
    CANDLE_COLUMNS,
    PRICE_COLUMNS,
    TIMESTAMP_DTYPE,
    CandleValidationError,
    conform,
)

# a rule's verdict on a frame: which rows break it, and what is wrong with them in words
Findings = tuple[np.ndarray, list[str]]


@dataclass(frozen=True)
class CheckResult:
    """One rule applied to a frame: passed or not, how many rows, an example."""

    name: str
    passed: bool
    failing_rows: int
    description: str
    example: str | None = None


@dataclass(frozen=True)
class QualityRule:
    name: str
    description: str
    find: Callable[[pd.DataFrame, date | None], Findings]

    def check(self, df: pd.DataFrame, month: date | None = None) -> CheckResult:
        bad, problems = self.find(df, month)
        idx = np.flatnonzero(bad)
        example = None if idx.size == 0 else str(df["timestamp"].iloc[int(idx[0])])
        text = "; ".join(problems) if problems else "none"
        return CheckResult(self.name, not problems, int(bad.sum()), text, example)


def _timestamps(df: pd.DataFrame, month: date | None) -> Findings:
    ts = df["timestamp"]
    ns = ts.astype(TIMESTAMP_DTYPE).astype("int64").to_numpy() if len(ts) else np.array([], "i8")
    not_increasing = np.zeros(len(ns), dtype=bool)
    not_increasing[1:] = np.diff(ns) <= 0
    masks = [
        (ns % MINUTE_NS != 0, "off the 1-minute grid"),
        (not_increasing, "duplicated or out of order"),
    ]
    if month is not None and len(ns):
        start, end = month_bounds(month)
        masks.append(((ns < start.value) | (ns >= end.value), f"outside {month:%Y-%m}"))
    bad = np.zeros(len(ns), dtype=bool)
    problems = []
    for mask, what in masks:
        if mask.any():
            problems.append(f"{int(mask.sum())} timestamps {what}")
            bad |= mask
    return bad, problems


def _rows(what: str, bad_rows: Callable[[pd.DataFrame], np.ndarray]):
    """A rule that flags rows one by one: ``bad_rows`` gives the mask, ``what`` names them."""

    def find(df: pd.DataFrame, _month: date | None) -> Findings:
        with np.errstate(invalid="ignore"):
            bad = np.asarray(bad_rows(df), dtype=bool)
        n = int(bad.sum())
        return bad, [f"{n} candles with {what}"] if n else []

    return find


def _prices(df: pd.DataFrame) -> np.ndarray:
    return df[list(PRICE_COLUMNS)].to_numpy(dtype="float64")


def _ohlc_inconsistent(df: pd.DataFrame) -> np.ndarray:
    o, h, lo, c = _prices(df).T
    return (lo > o) | (lo > c) | (o > h) | (c > h) | (lo > h)


QUALITY_RULES: tuple[QualityRule, ...] = (
    QualityRule(
        "timestamps_valid",
        "Unique, sorted timestamps on the 1-minute grid, all inside the partition's month.",
        _timestamps,
    ),
    QualityRule(
        "ohlc_consistent",
        "low <= open, close <= high.",
        _rows("low > open/close or open/close > high", _ohlc_inconsistent),
    ),
    QualityRule(
        "prices_positive",
        "Every price is > 0.",
        _rows("a price <= 0", lambda df: (_prices(df) <= 0).any(axis=1)),
    ),
    QualityRule(
        "volume_non_negative",
        "Volume is >= 0.",
        _rows("negative volume", lambda df: df["volume"].to_numpy(dtype="float64") < 0),
    ),
    QualityRule(
        "no_nan",
        "No missing value in any column.",
        _rows("a missing value", lambda df: df[list(CANDLE_COLUMNS)].isna().to_numpy().any(axis=1)),
    ),
)


def run_checks(df: pd.DataFrame, month: date | None = None) -> list[CheckResult]:
    """Every rule of the table, each with its own result."""
    return [rule.check(df, month) for rule in QUALITY_RULES]


def validate_candles(df: pd.DataFrame, month: date | None = None) -> pd.DataFrame:
    """Return ``df`` conformed to the schema, or raise CandleValidationError listing problems."""
    frame = conform(df)
    failed = [r for r in run_checks(frame, month) if not r.passed]
    if failed:
        where = f" for {month:%Y-%m}" if month is not None else ""
        details = "; ".join(
            r.description + (f" (first at {r.example})" if r.example else "") for r in failed
        )
        raise CandleValidationError(f"invalid candles{where}: {details}")
    return frame
