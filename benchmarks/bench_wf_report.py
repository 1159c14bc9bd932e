"""`wf_report`'s computation on a synthetic symbol-year of stitched predictions (target < 15 s).

Twelve monthly folds of predictions for every labelled minute of 2024 (about 525k): the
model's probabilities are persistent random draws (as in ``bench_backtest``), the majority
baseline is the previous month's label shares, the logistic one another persistent draw.
Prints, measured in one run, beside the 15 s target:
- the stitched backtest (``stitched_backtest``: ATR, alignment, engine, metrics, buy-and-hold)
  and the daily returns it hands the summary;
- the summary (``walk_forward_summary``, ``--n-boot`` resamples), and inside it the pooled
  day-block bootstrap of accuracy and AUC (three predictors) and the Sharpe intervals;
- the report page (every plot and table) and all of it together, i.e. what ``wf_report``
  computes before writing its files (the drift panel here on the candles' channels);
- the pooled bootstrap beside the one-resample-at-a-time reference the tests hold it to, at
  ``--n-boot`` resamples, extrapolated from runs of the reference with ``--reference-boot``
  and twice as many resamples (0 skips it).

Wall and CPU seconds of this process are printed: on a machine shared with other work, the
CPU figures are the ones to compare.

    python benchmarks/bench_wf_report.py [--months 12] [--n-boot 1000] [--reference-boot 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backtest import persistent_probabilities  # noqa: E402

from resnet_pipeline.features.labels import compute_labels  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402
from resnet_pipeline.ml.evaluation.bootstrap import classification_intervals, sharpe_intervals  # noqa: E402
from resnet_pipeline.ml.evaluation.stitched_metrics import (  # noqa: E402
    day_keys,
    month_ranks,
    proba_of,
    walk_forward_summary,
)
from resnet_pipeline.ml.folds.fold_training import PROBA_COLUMNS  # noqa: E402
from resnet_pipeline.reports.diagnostics import drift_zscores  # noqa: E402
from resnet_pipeline.reports.walk_forward_page import walk_forward_page  # noqa: E402
from resnet_pipeline.trading.performance import daily_returns  # noqa: E402
from resnet_pipeline.trading.stitched import stitch, stitched_backtest  # noqa: E402
from resnet_pipeline.trading.strategy import StrategyConfig  # noqa: E402
from resnet_pipeline_tests._reference_bootstrap import (  # noqa: E402
    reference_classification_intervals,
)

TARGET_S = 15.0


def stitched_year(months: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(candles, stitched predictions) of ``months`` months from 2024-01."""
    start = pd.Timestamp("2024-01-01", tz="UTC")
    end = start + pd.DateOffset(months=months)
    candles = SyntheticSource().fetch("BTCUSDT", start, end)
    labels = compute_labels(candles).dropna(subset=["label"])
    n = len(labels)
    frame = pd.DataFrame({"timestamp": labels["timestamp"].to_numpy()})
    y = labels["label"].to_numpy(np.int64)
    columns = {
        "model": persistent_probabilities(n, 3.0, seed=0),
        "logistic": persistent_probabilities(n, 1.0, seed=1),
    }
    month = frame["timestamp"].dt.strftime("%Y-%m").to_numpy()
    shares = np.full((n, 3), 1 / 3)
    names = sorted(set(month))
    for before, current in zip(names, names[1:], strict=False):
        shares[month == current] = np.bincount(y[month == before], minlength=3) / max(
            int((month == before).sum()), 1
        )
    columns["majority"] = shares
    for name, values in columns.items():
        for k, column in enumerate(PROBA_COLUMNS[name]):
            frame[column] = values[:, k]
    frame["label"] = y
    folds = {m: frame[month == m].reset_index(drop=True) for m in names}
    return candles, stitch(folds)


def timed(what, *args, **kwargs) -> tuple[object, float, float]:
    """(value, wall seconds, CPU seconds of this process)."""
    started, cpu = time.perf_counter(), time.process_time()
    value = what(*args, **kwargs)
    return value, time.perf_counter() - started, time.process_time() - cpu


def row(label: str, wall: float, cpu: float, note: str = "") -> None:
    print(f"  {label:<22} {wall:6.2f} s wall {cpu:6.2f} s cpu  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--reference-boot", type=int, default=10)
    args = parser.parse_args()
    print("load average (1, 5, 15 min) before:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    candles, stitched = stitched_year(args.months)
    y = stitched["label"].to_numpy(np.int64)
    print(f"{len(stitched):,} stitched minutes, {args.months} folds, {args.n_boot} resamples")

    evaluation, *backtest = timed(stitched_backtest, candles, stitched, StrategyConfig())
    (strategy_daily, benchmark_daily), *returns = timed(
        lambda: (daily_returns(evaluation.result.equity), daily_returns(evaluation.benchmark))
    )
    summary, *whole = timed(
        walk_forward_summary, stitched, strategy_daily, benchmark_daily, args.n_boot
    )
    proba = {name: proba_of(stitched, name) for name in PROBA_COLUMNS}
    days = day_keys(stitched)  # as walk_forward_summary's, AUCs on ranks within months
    ranks = {name: month_ranks(stitched, name) for name in PROBA_COLUMNS}
    _, *pooled = timed(
        classification_intervals, y, proba, days, n_boot=args.n_boot, auc_scores=ranks
    )
    _, *sharpe = timed(
        sharpe_intervals, strategy_daily.to_numpy(), benchmark_daily.to_numpy(), args.n_boot
    )
    row("stitched backtest", *backtest, f"({evaluation.metrics['trades']:,} trades)")
    row("daily returns", *returns)
    row("summary", *whole, "of which, timed apart:")
    row("  pooled bootstrap", *pooled, "(accuracy and AUC of 3 predictors)")
    row("  Sharpe intervals", *sharpe)
    rest = [w - p - s for w, p, s in zip(whole, pooled, sharpe, strict=True)]
    row("  the rest", *rest, "(per-month tables with their bootstrap, pooled metrics)")
    summary |= {"strategy": evaluation.metrics, "buy_and_hold": evaluation.benchmark_metrics}
    drift = drift_zscores(
        {m: part for m, part in candles.groupby(candles["timestamp"].dt.strftime("%Y-%m"))},
        ["open", "high", "low", "close", "volume"],
    )
    folds = [{"month": m, "predicted": n} for m, n in stitched["fold"].value_counts().items()]
    report, *page = timed(
        walk_forward_page,
        "BTCUSDT",
        summary,
        folds,
        stitched,
        evaluation.result.equity,
        evaluation.benchmark,
        StrategyConfig().to_dict(),
        drift,
    )
    row("report page", *page, f"({len(report.figures)} plots, tables, {len(report.html):,} bytes)")
    total = [b + r + w + p for b, r, w, p in zip(backtest, returns, whole, page, strict=True)]
    row("together", *total, f"target < {TARGET_S:.0f} s: {total[0] / TARGET_S:.2f}x of it")
    print(f"  verdict: {summary['verdict']}")
    if args.reference_boot:
        n = args.reference_boot
        _, *once = timed(reference_classification_intervals, y, proba, days, n_boot=n)
        _, *twice = timed(reference_classification_intervals, y, proba, days, n_boot=2 * n)
        per = (twice[1] - once[1]) / n  # CPU per resample, set-up cancelled out
        reference = once[1] - n * per + args.n_boot * per
        print(
            f"  pooled bootstrap, {args.n_boot} resamples: {pooled[1]:.2f} s cpu vectorized vs "
            f"{reference:.0f} s cpu one resample at a time ({per * 1e3:.0f} ms per resample, "
            f"from runs of {n} and {2 * n}): {reference / pooled[1]:.0f}x"
        )
    print("load average (1, 5, 15 min) after:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
