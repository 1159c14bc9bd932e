"""How a number reaches a person: 4 significant digits, thousands separated, never a raw
``None``, dict or 16-digit float. Every report (HTML, Dagster metadata, headline) formats
through here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

import numpy as np

DIGITS = 4
MISSING = "n/a"


def rounded(value: float | None, digits: int = DIGITS) -> float | None:
    """``value`` to ``digits`` significant digits (None when missing or not finite): what a
    numeric metadata entry holds, so the UI never shows 16 digits."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    places = digits - 1 - math.floor(math.log10(abs(value)))
    try:
        return round(value, places)
    except OverflowError:  # it would round up past the largest float: round towards 0
        step = Decimal(1).scaleb(-places)
        return float(Decimal(value).quantize(step, rounding=ROUND_DOWN))


def number(value: Any, digits: int = DIGITS) -> str:
    """One value as text: 4 significant digits, integers with thousands separators."""
    if value is None:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        short = rounded(value, digits)
        if short is None:
            return MISSING
        if abs(short) >= 10**digits:
            return f"{short:,.0f}"
        return f"{short:#.{digits}g}".rstrip(".")  # trailing zeros kept: columns align
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {number(v, digits)}" for k, v in value.items())
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(number(v, digits) for v in value)
    return str(value)


def short(value: float | None, digits: int = 3) -> str:
    """A number inside a sentence: ``digits`` significant digits, no trailing zeros."""
    text = number(value, digits)
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return text


def signed(value: float | None, digits: int = DIGITS) -> str:
    """A difference: its sign always shown."""
    text = short(value, digits)
    return text if value is None or text.startswith("-") or text == MISSING else f"+{text}"


def _missing(value: Any) -> bool:
    """None, NaN or infinite: nothing a person can read as a number."""
    return value is None or (isinstance(value, float | np.floating) and not math.isfinite(value))


def percent(share: float | None, digits: int = 3) -> str:
    """A share as a percentage, e.g. 0.1234 -> '12.3%'."""
    return MISSING if _missing(share) else f"{short(share * 100, digits)}%"


def interval(low: float | None, high: float | None, digits: int = DIGITS) -> str:
    """'[-0.52, -0.03]', or '[no interval]' when a bound is missing."""
    if low is None or high is None:
        return "[no interval]"
    return f"[{short(low, digits)}, {short(high, digits)}]"


def percent_interval(low: float | None, high: float | None, digits: int = 3) -> str:
    """An interval of shares in percent, e.g. '[31.2%, 37.6%]' ('[no interval]' if open)."""
    if low is None or high is None:
        return interval(None, None)
    return f"[{percent(low, digits)}, {percent(high, digits)}]"


def signed_percent(share: float | None, digits: int = 3) -> str:
    """A change as a percentage with its sign, e.g. -0.127 -> '-12.7%', 0.031 -> '+3.1%'."""
    if _missing(share):
        return MISSING
    return "0%" if share == 0 else f"{signed(share * 100, digits)}%"


def points(difference: float | None, digits: int = 3) -> str:
    """A difference of two shares in percentage points, e.g. 0.012 -> '+1.2 points'."""
    return MISSING if _missing(difference) else f"{signed(difference * 100, digits)} points"


def money(amount: float | None, currency: str) -> str:
    """An amount in a currency, e.g. '1,229 USDT', '-42.40 USDT' (4 significant digits, whole
    from 1,000 on, thousands separated)."""
    if _missing(amount):
        return MISSING
    amount = float(amount)
    text = f"{amount:,.0f}" if abs(amount) >= 1000 else number(amount)
    return f"{text} {currency}"


def minutes(value: float | None) -> str:
    """A duration in minutes, e.g. '1 min', '12.5 min', '720 min'."""
    return MISSING if _missing(value) else f"{short(float(value))} min"


def count(value: int | float | None, noun: str, plural: str | None = None) -> str:
    """A count with its noun: '0 trades', '1 trade', '408 trades'."""
    if _missing(value):
        return MISSING
    n = int(value)
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


# The unit every metric a person reads is shown in. Returns, drawdowns and shares (of
# equity, bars, trades or predictions) are percentages with a % sign; their differences are
# percentage points; scores (AUC, F1, log loss, Sharpe, Sortino, Calmar) and the statistical
# tests' probabilities stay plain numbers.
PERCENT, POINTS, MINUTES, MONEY, TRADES, DAYS, PLAIN = (
    "%",
    "points",
    "min",
    "money",
    "trades",
    "days",
    "",
)
UNITS: dict[str, str] = {
    "total_return": PERCENT,
    "annualized_return": PERCENT,
    "max_drawdown": PERCENT,
    "win_rate": PERCENT,
    "exposure": PERCENT,
    "suggested_fraction": PERCENT,  # of equity
    "best_val_acc": PERCENT,
    "average_hold_minutes": MINUTES,
    "fees_paid": MONEY,
    "trades": TRADES,
    "days": DAYS,
    "period_days": DAYS,
}
SHARE_WORDS = ("accuracy", "precision", "recall", "return", "drawdown", "share")
UNIT_NOTE = (
    "Units: returns, drawdowns and shares (accuracy, precision, win rate, exposure, class mix, "
    "costs as a share of the starting equity) are percentages; differences of shares are "
    "percentage points; amounts are in the quote currency; scores (AUC, F1, log loss, "
    "Sharpe, Sortino, Calmar) and the tests' probabilities and p-values are plain numbers."
)


def unit_of(name: str) -> str:
    """The unit of a metric by its name: ``UNITS``, else a share by its last word
    (``model_accuracy``, ``long_precision``), in points when it is a difference
    (``model_minus_majority_accuracy``)."""
    if name in UNITS:
        return UNITS[name]
    words = name.replace(" ", "_").split("_")
    if any(word in SHARE_WORDS for word in words):
        return POINTS if "minus" in words else PERCENT
    return PLAIN


def with_unit(value: Any, unit: str, currency: str = "") -> str:
    """``value`` as a person reads it in ``unit`` (one of ``UNITS``' values)."""
    if _missing(value) or isinstance(value, str):
        return number(value)
    if unit == PERCENT:
        return percent(float(value))
    if unit == POINTS:
        return points(float(value))
    if unit == MINUTES:
        return minutes(value)
    if unit == MONEY:
        return money(value, currency or "quote currency")
    if unit == TRADES:
        return count(value, "trade")
    if unit == DAYS:
        return f"{short(float(value))} days"
    return number(value)


def metric(name: str, value: Any, currency: str = "") -> str:
    """A metric's value with the unit its name carries (``unit_of``)."""
    return with_unit(value, unit_of(name), currency)


MOST_DIGITS = 8  # beyond these, a value beside a threshold reads '< 0.5' or '> 0.95'


def _side(value: float, threshold: float) -> int:
    return (value > threshold) - (value < threshold)


def beside(value: float | None, *thresholds: float, digits: int = 3) -> str:
    """``value`` printed beside the thresholds it is judged by: ``digits`` significant digits,
    more where fewer would put the printed number on the other side of a threshold, or on it
    (PBO 6434/12870 = 0.49992 reads '0.49992' beside '< 0.5', DSR 0.94996 '0.94996' beside
    '>= 0.95', a DSR of 0.99999 not '1'). One that needs more than ``MOST_DIGITS`` reads as
    the bound it lies beside: '< 0.5', '> 0.95'."""
    if _missing(value):
        return MISSING
    value = float(value)
    for places in range(digits, MOST_DIGITS + 1):
        text = short(value, places)
        printed = float(text.replace(",", ""))
        crossed = [t for t in thresholds if _side(printed, t) != _side(value, t)]
        if not crossed:
            return text
    nearest = min(crossed, key=lambda t: abs(value - t))
    return f"{'<' if value < nearest else '>'} {nearest:g}"


def p_value(p: float | None, resolution: float = 0.001, *thresholds: float) -> str:
    """A p-value as a person reads it: one below what the test can resolve (1 / its
    replications, or 0.001) reads '< 0.001', never '0'; the rest with the digits that keep it
    on its side of ``thresholds`` (``beside``)."""
    if _missing(p):
        return MISSING
    if p < resolution:
        return f"< {short(resolution, 3)}"
    return beside(p, *thresholds)


def age(minutes: float | None) -> str:
    """A duration in the two largest units a person counts in: '859 d 22 h', '3 h 12 min',
    '4.5 min' (never 1236560.4 minutes)."""
    if _missing(minutes):
        return MISSING
    if minutes < 0:
        return f"-{age(-minutes)}"
    if minutes < 60:
        return f"{short(minutes, 2)} min"
    days, rest = divmod(int(minutes), 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days:,} d {hours} h" if days else f"{hours} h {mins} min"
