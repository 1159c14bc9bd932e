"""The answer at a glance: EDGE / NO EDGE, then one plain line per condition.

A condition compares the model with a reference through the 95% interval of the difference:
an interval wholly above 0 reads "better", wholly below "worse", one that straddles 0 "no
different", a missing one "undefined" with the reason. EDGE only when every condition reads
"better". The walk-forward, test, backtest and experiment reports build their headlines
from these pieces, so one wording covers them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from resnet_pipeline.reports.format import interval, rounded, short, signed

BETTER, NO_DIFFERENT, WORSE, UNDEFINED = "better", "no different", "worse", "undefined"
EDGE, NO_EDGE = "EDGE", "NO EDGE"


def compared(low: float | None, high: float | None) -> str:
    """The word for a 95% interval of a difference (model minus reference)."""
    if low is None or high is None:
        return UNDEFINED
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    return NO_DIFFERENT


@dataclass(frozen=True)
class Condition:
    """One line of a headline; ``key`` names its flat metadata entries (key, key_low,
    key_high) in natural units."""

    subject: str
    word: str
    detail: str
    key: str
    estimate: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def line(self) -> str:
        return f"{self.subject}: {self.word} ({self.detail})"

    def flat(self) -> dict[str, float]:
        values = {
            self.key: self.estimate,
            f"{self.key}_low": self.low,
            f"{self.key}_high": self.high,
        }
        return {k: rounded(v) for k, v in values.items() if rounded(v) is not None}


def _bounds(values: Mapping | None) -> tuple[float | None, float | None, float | None]:
    values = values or {}
    return values.get("estimate"), values.get("low"), values.get("high")


def difference(
    subject: str,
    key: str,
    values: Mapping | None,
    why_undefined: str,
    points: bool = False,
) -> Condition:
    """A model-minus-reference condition from an interval dict (estimate, low, high).
    ``points``: a difference of shares, shown in percentage points."""
    estimate, low, high = _bounds(values)
    word = compared(low, high)
    if estimate is None:
        return Condition(subject, UNDEFINED, why_undefined, key)
    if points:
        scaled = [None if v is None else v * 100 for v in (low, high)]
        side = "below" if estimate < 0 else "above"
        size = f"{short(abs(estimate) * 100, 3)} points {side}" if estimate else "equal"
        detail = f"{size}, 95% interval {interval(*scaled, digits=3)}"
    else:
        detail = f"{signed(estimate)}, 95% interval {interval(low, high)}"
    if low is None:
        detail += ": too few days for an interval"
    return Condition(subject, word, detail, key, estimate, low, high)


def level(subject: str, key: str, values: Mapping | None, why_undefined: str) -> Condition:
    """A quantity against 0 (e.g. the Sharpe after costs): above 0 reads "better"."""
    estimate, low, high = _bounds(values)
    if estimate is None:
        return Condition(subject, UNDEFINED, why_undefined, key)
    detail = f"{short(estimate)}, 95% interval {interval(low, high)}"
    if low is None:
        detail += ": too few days for an interval"
    return Condition(subject, compared(low, high), detail, key, estimate, low, high)


@dataclass(frozen=True)
class Headline:
    conditions: tuple[Condition, ...]
    notes: tuple[str, ...] = ()
    rule: str = ""  # what EDGE requires, said under the title

    @property
    def edge(self) -> bool:
        return bool(self.conditions) and all(c.word == BETTER for c in self.conditions)

    @property
    def title(self) -> str:
        return EDGE if self.edge else NO_EDGE

    @property
    def worse(self) -> list[Condition]:
        return [c for c in self.conditions if c.word == WORSE]

    def lines(self) -> list[str]:
        return [c.line for c in self.conditions] + list(self.notes)

    def markdown(self) -> str:
        """For a Dagster ``MetadataValue.md``: the title in bold, then a bullet per line."""
        rule = f" ({self.rule})" if self.rule else ""
        return f"**{self.title}**{rule}\n\n" + "\n".join(f"- {line}" for line in self.lines())

    def flat(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for condition in self.conditions:
            out |= condition.flat()
        return out


def majority_name(classes: Sequence[str], majority_proba: np.ndarray) -> str:
    """'always-Neutral' when the majority baseline predicts one class everywhere, else 'the
    majority class' (it is refitted per fold and may change)."""
    predicted = np.unique(np.asarray(majority_proba).argmax(axis=1))
    if len(predicted) == 1:
        return f"always-{classes[int(predicted[0])]}"
    return "the majority class"


def _side(name: str, values: np.ndarray, threshold: float) -> tuple[str, int]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return f"no {name} (no predictions)", 0
    passed = int((finite > threshold).sum())
    top = float(finite.max())
    if not passed:
        return f"max {name} {short(top, 3)} < {short(threshold)}", 0
    return f"{name} passed {short(threshold)} in {passed:,} of {len(finite):,} minutes", passed


def zero_trades_reason(
    p_up: np.ndarray, p_down: np.ndarray, threshold: float, allow_short: bool, market: str
) -> str:
    """Why a backtest made no trade, in one line: how close each side came to the threshold
    and whether shorts were allowed."""
    up, up_passed = _side("p_up", np.asarray(p_up, float), threshold)
    down, down_passed = _side("p_down", np.asarray(p_down, float), threshold)
    parts = [up, down + ("" if allow_short else f", shorts off on {market}")]
    reason = "0 trades: " + "; ".join(parts)
    if up_passed or (down_passed and allow_short):
        reason += " (signals came, but none could open: drawdown halt or no next bar to fill)"
    return reason
