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


def percent(share: float | None, digits: int = 3) -> str:
    """A share as a percentage, e.g. 0.1234 -> '12.3%'."""
    return MISSING if share is None else f"{short(share * 100, digits)}%"


def interval(low: float | None, high: float | None, digits: int = DIGITS) -> str:
    """'[-0.52, -0.03]', or '[no interval]' when a bound is missing."""
    if low is None or high is None:
        return "[no interval]"
    return f"[{short(low, digits)}, {short(high, digits)}]"
