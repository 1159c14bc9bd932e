"""The seed's targets beside achieved values: reports say plainly whether each was met."""

from __future__ import annotations

Target = tuple[str, str, float]  # (metric, ">" or "<", threshold)


def compare_to_targets(metrics: dict, targets: tuple[Target, ...]) -> list[dict]:
    """One row per target: the value achieved, the target, and whether it was met (None when
    the metric is undefined, e.g. a Sharpe ratio without volatility)."""
    rows = []
    for name, op, threshold in targets:
        value = metrics.get(name)
        met = None if value is None else bool(value > threshold if op == ">" else value < threshold)
        rows.append({"metric": name, "value": value, "target": f"{op} {threshold}", "met": met})
    return rows
