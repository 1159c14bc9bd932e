"""What the demo prints at the end: where the reports are and the key metrics, per symbol, and
the experiment's verdicts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg
import pandas as pd

from resnet_pipeline.artifacts import read_json
from resnet_pipeline.experiments.trial_importance import known_answer_failures
from resnet_pipeline.experiments.trial_keys import report_key
from resnet_pipeline.layout import Layout
from resnet_pipeline.number_format import metric, number, percent

# (asset, metadata label, shown as, format) — the figures a reader looks at first; shares
# as percentages, ratios as numbers (one convention with the reports).
KEY_FIGURES: list[tuple[str, str, str, Callable[[Any], str]]] = [
    ("test_metrics", "accuracy", "accuracy", percent),
    ("test_metrics", "majority_accuracy", "majority-class accuracy", percent),
    ("test_metrics", "macro_f1", "macro F1", number),
    ("test_metrics", "auc_roc_ovr", "AUC-ROC (ovr)", number),
    ("backtest_report", "sharpe", "Sharpe (annualized)", number),
    ("backtest_report", "total_return", "total return", percent),
    ("backtest_report", "buy_and_hold_total_return", "buy-and-hold return", percent),
    ("backtest_report", "max_drawdown", "max drawdown", percent),
    ("backtest_report", "trades", "trades", number),
    ("latest_signal", "signal", "latest signal", str),
    ("latest_signal", "reason", "why", str),  # only when NOT ACTIONABLE (e.g. historical data)
]
PATHS = [("backtest_report", "report_path"), ("test_metrics", "metrics_path")]
# With no trade the curve is flat: its 0 drawdown and missing ratios are no result, as the
# report's verdicts say (trading.performance.trading_verdicts).
UNDEFINED_WITHOUT_TRADES = {"sharpe", "max_drawdown"}


def latest_metadata(instance: dg.DagsterInstance, asset: str, partition: str) -> dict[str, object]:
    """The metadata of the newest materialization of one partition, as plain values."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    )
    if not result.records:
        return {}
    materialization = result.records[0].asset_materialization
    return {k: getattr(v, "value", v) for k, v in (materialization.metadata or {}).items()}


def print_summary(instance: dg.DagsterInstance, symbols: Sequence[str]) -> None:
    for symbol in symbols:
        print(f"\n== {symbol} ==")
        meta = {asset: latest_metadata(instance, asset, symbol) for asset, *_ in KEY_FIGURES}
        for asset, label in PATHS:
            if label in meta.get(asset, {}):
                print(f"  {asset}: {meta[asset][label]}")
        trades = meta["backtest_report"].get("trades")
        no_trades = trades == 0 or trades == metric("trades", 0)  # a number, or as shown
        for asset, label, shown, shown_as in KEY_FIGURES:
            value = meta.get(asset, {}).get(label)
            if no_trades and asset == "backtest_report" and label in UNDEFINED_WITHOUT_TRADES:
                print(f"  {shown:<26} not defined (no trades)")
            elif value is not None:
                # a symbol's assets show their figures as text, already formatted
                print(f"  {shown:<26} {value if isinstance(value, str) else shown_as(value)}")


def known_answer_line(summary: dict, planted: bool) -> str:
    """Whether the best trial's importances give the synthetic market's known answer."""
    importance = summary.get("importance")
    if not importance:
        return "no importances measured (importance.measure_importance is false)"
    failures = known_answer_failures(pd.DataFrame(importance["pooled"]), planted)
    expected = "a volume channel first, its interval above 0" if planted else "no channel above 0"
    return f"known answer ({expected}): " + ("met" if not failures else "; ".join(failures))


def print_verdicts(
    instance: dg.DagsterInstance,
    layout: Layout,
    experiment: str,
    symbols: Sequence[str],
    planted: Sequence[str],
) -> None:
    """Each symbol's experiment verdict and what its best trial's model looks at, beside what
    the market holds: an edge where the pattern was planted, in the order of volume, and none
    on pure noise."""
    print(f"\n== experiment {experiment}: the verdicts ==")
    for symbol in symbols:
        meta = latest_metadata(instance, "experiment_report", report_key(experiment, symbol))
        market = "planted pattern" if symbol in planted else "pure noise"
        print(f"  {symbol} ({market}): {meta.get('verdict', 'no report')}")
        if "looks_at" in meta:
            summary = read_json(layout.experiment(experiment, symbol).report.summary)
            print(f"    {meta['looks_at']}")
            print(f"    {known_answer_line(summary, symbol in planted)}")
        if "report_path" in meta:
            print(f"    report: {meta['report_path']}")
