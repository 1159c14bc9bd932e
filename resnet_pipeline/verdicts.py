"""Verdicts on the seed's targets that cannot flatter (SPEC 12).

A target is met only when the value passes it *and* beats the matching baseline: a model
whose accuracy clears 45% while always guessing the majority class does as well has added
nothing. Every row says met, not met (why) or not defined (why); none is blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

MET = "met"
NOT_MET = "not met"
BASELINE_BETTER = "not met (baseline equal or better)"
BASELINE_UNDEFINED = "not met (baseline undefined: no edge can be shown)"


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
                "target": f"{op} {threshold}",
                "baseline": best_name if best_name else ("none" if not wanted else "undefined"),
                "baseline_value": best_value,
                "met": met,
                "verdict": verdict,
            }
        )
    return rows


def targets_met(rows: list[dict]) -> int:
    return sum(1 for row in rows if row["met"] is True)
