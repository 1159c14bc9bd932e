"""Verdicts on the seed's targets that cannot flatter (SPEC 12).

A target is met only when the value passes it *and* beats the matching baseline: a model
whose accuracy clears 45% while always guessing the majority class does as well has added
nothing. Every row says met, not met (why) or not defined (why); none is blank.

The headline, the answer at a glance: EDGE / NO EDGE, then one plain line per condition.

A condition compares the model with a reference through the 95% interval of the difference:
an interval wholly above 0 reads "better", wholly below "worse", one that straddles 0 "no
different", a missing one "undefined" with the reason; the trades a verdict rests on read
"enough" or "too few trades to judge". EDGE only when every condition reads "better" or
"enough". The walk-forward, test, backtest and experiment reports build their headlines
from these pieces, so one wording covers them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from resnet_pipeline.number_format import interval, metric, rounded, short, signed

MET = "met"
NOT_MET = "not met"
BASELINE_BETTER = "not met (baseline equal or better)"
BASELINE_UNDEFINED = "not met (baseline undefined: no edge can be shown)"
MET_BUT_LOST = "met, but the strategy lost"


class Target(NamedTuple):
    metric: str
    op: str  # ">" (higher is better) or "<"
    threshold: float
    baselines: tuple[str, ...] = ()  # the value must also beat the best of these


def not_defined(why: str) -> str:
    return f"not defined ({why})"


def _best(op: str, values: list[float]) -> float:
    return max(values) if op == ">" else min(values)


def compare_to_targets(
    metrics: Mapping[str, object],
    targets: tuple[Target, ...],
    baselines: Mapping[str, Mapping[str, object]] | None = None,
    why_undefined: Mapping[str, str] | None = None,
) -> list[dict]:
    """One row per target: value, target, the best matching baseline and its value, ``met``
    (True / False / None when undefined) and ``verdict`` in words.

    ``baselines``: baseline name -> its metrics. ``why_undefined``: metric -> the reason its
    value says nothing (e.g. "no trades"); it overrides the value. A target naming a baseline
    that is not given is a programming error, not a pass."""
    baselines = baselines or {}
    why_undefined = why_undefined or {}
    rows = []
    for target in targets:
        name, op, threshold, wanted = target
        missing = [b for b in wanted if b not in baselines]
        if missing:
            raise ValueError(f"target {name}: baseline(s) {missing} not given")
        value = metrics.get(name)
        defined = {b: baselines[b].get(name) for b in wanted}
        defined = {b: v for b, v in defined.items() if v is not None}
        best_name = best_value = None
        if defined:
            best_value = _best(op, list(defined.values()))
            best_name = next(b for b, v in defined.items() if v == best_value)
        if name in why_undefined:
            met, verdict = None, not_defined(why_undefined[name])
        elif value is None:
            met, verdict = None, not_defined(f"{name} is undefined on this data")
        elif not (value > threshold if op == ">" else value < threshold):
            met, verdict = False, NOT_MET
        elif wanted and best_value is None:
            met, verdict = False, BASELINE_UNDEFINED
        elif wanted and not (value > best_value if op == ">" else value < best_value):
            met, verdict = False, BASELINE_BETTER
        else:
            met, verdict = True, MET
        rows.append(
            {
                "metric": name,
                "value": value,
                "target": f"{op} {metric(name, threshold)}",
                "baseline": best_name if best_name else ("none" if not wanted else "undefined"),
                "baseline_value": best_value,
                "met": met,
                "verdict": verdict,
            }
        )
    return rows


def targets_met(rows: list[dict]) -> int:
    return sum(1 for row in rows if row["met"] is True)


def lost_anyway(rows: list[dict]) -> list[dict]:
    """``rows`` of a strategy that lost money: a target it met is no good news (a small
    drawdown or a high win rate while losing), so its verdict says so; ``met`` stays."""
    return [r | {"verdict": MET_BUT_LOST} if r["met"] is True else r for r in rows]


def verdict_tone(row: dict) -> str:
    """The colour class of a verdict by what it means: met (good), missed (bad), undefined
    (said why), neutral (met, but the strategy lost)."""
    if row.get("verdict") == MET_BUT_LOST:
        return "neutral"
    return {True: "met", False: "missed", None: "undefined"}[row.get("met")]


# -- the headline: EDGE / NO EDGE, one line per condition ----------------------------------------

BETTER, NO_DIFFERENT, WORSE, UNDEFINED = "better", "no different", "worse", "undefined"
ENOUGH, TOO_FEW = "enough", "too few trades to judge"  # the evidence behind a verdict
PASSING = (BETTER, ENOUGH)
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
    shown: str | None = None  # the estimate as the line prints it, e.g. beside a threshold

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
        return bool(self.conditions) and all(c.word in PASSING for c in self.conditions)

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
