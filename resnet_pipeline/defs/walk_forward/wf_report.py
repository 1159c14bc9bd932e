"""`wf_report` (symbol): every fold's predictions stitched into one out-of-sample series and
judged (SPEC 13): metrics per month and pooled, the stitched backtest, block-bootstrap 95%
intervals, the probabilistic Sharpe ratio and a one-line verdict.

A fold enters only when its ``fold.json`` and its predictions were made with the fold's
current ``model.pt`` (``ml.folds.fold_identity``); otherwise the report fails naming the month and
the command that brings the fold up to date.
"""

from datetime import date

import dagster as dg
import pandas as pd

from resnet_pipeline.artifacts import (
    exists,
    fresh,
    write_json_atomic,
    write_text_atomic,
)
from resnet_pipeline.commands import ingest_month, materialize_month, materialize_months
from resnet_pipeline.defs.dagster_config import dagster_config, part_of
from resnet_pipeline.defs.evaluation.backtest_report import BacktestConfig, strategy_for
from resnet_pipeline.defs.key_figure import equity_markdown
from resnet_pipeline.defs.metadata import OWNERS, WALK_FORWARD, link, plain
from resnet_pipeline.defs.report_checks import (
    HAS_TRADES,
    NOT_WORSE,
    key_figure,
    report_check_specs,
    report_metadata,
    trades_check,
    worse_check,
)
from resnet_pipeline.experiments.fold_files import StaleFold, current_fold
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.ml.evaluation.bootstrap_config import BootstrapConfig
from resnet_pipeline.ml.evaluation.stitched_metrics import NO_SHARPE, walk_forward_summary
from resnet_pipeline.ml.folds.fold_identity import FoldMismatchError
from resnet_pipeline.partitions import SYMBOL_DIM, Partitions
from resnet_pipeline.reports.diagnostics import drift_zscores
from resnet_pipeline.reports.walk_forward_page import walk_forward_page
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import (
    candles_around,
    read_partitions,
    write_parquet_atomic,
)
from resnet_pipeline.trading.performance import daily_returns
from resnet_pipeline.trading.stitched import stitch, stitched_backtest
from resnet_pipeline.trading.trade_breakdown import quote_currency
from resnet_pipeline.verdicts import zero_trades_reason

FOLD_ASSETS = ("wf_model", "wf_predictions")

WalkForwardReportConfig = dagster_config(
    "WalkForwardReportConfig",
    __name__,
    "The SPEC 9 strategy (as backtest_report's) and the bootstrap of the intervals.",
    BootstrapConfig,
    base=BacktestConfig,
)


def _fold_months(store: DataStore, symbol: str) -> list[date]:
    """Months with a fold folder holding predictions, oldest first."""
    root = fresh(store.layout.folds_folder(symbol))
    months = []
    if root.exists():
        for folder in root.iterdir():
            try:
                month = date.fromisoformat(f"{folder.name}-01")
            except ValueError:
                continue
            if exists(store.layout.fold(symbol, month).predictions):
                months.append(month)
    return sorted(months)


def _current_fold(store: DataStore, symbol: str, month: date) -> tuple[pd.DataFrame, dict]:
    """The fold's predictions and fold.json, when both belong to its current model.pt."""
    try:
        return current_fold(store.layout.fold(symbol, month), month)
    except StaleFold as error:
        retrain = materialize_month("wf_model", symbol, month)
        repredict = materialize_month("wf_predictions", symbol, month)
        fix = repredict if error.part == "predictions" else f"{retrain}, then {repredict}"
        raise FoldMismatchError(f"{error}: re-run {fix}") from error


def _fold_frames(store: DataStore, symbol: str) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """Every fold's predictions and fold.json; fails naming every fold not up to date."""
    frames, folds, stale = {}, [], []
    for month in _fold_months(store, symbol):
        try:
            frame, info = _current_fold(store, symbol, month)
            frames[f"{month:%Y-%m}"] = frame
            folds.append(info | {"predicted": len(frame)})
        except FoldMismatchError as error:
            stale.append(str(error))
    if stale:
        raise dg.Failure(
            f"{symbol}: {len(stale)} fold(s) were not made by their current model, so the "
            f"report would pair one model's predictions with another's: {'; '.join(stale)}"
        )
    return frames, folds


def _drift(store: DataStore, symbol: str, months: list[str]) -> pd.DataFrame:
    """Each channel's monthly mean of the predicted months against the first (z-scores)."""
    dates = [date.fromisoformat(f"{m}-01") for m in months]
    features = read_partitions(store.layout, "features", symbol, dates)
    if features.empty:
        return drift_zscores({}, list(FEATURE_CHANNELS))
    month = pd.to_datetime(features["timestamp"], utc=True).dt.strftime("%Y-%m")
    return drift_zscores({m: part for m, part in features.groupby(month)}, list(FEATURE_CHANNELS))


def wf_report(
    context: dg.AssetExecutionContext,
    config: WalkForwardReportConfig,
    store: DataStore,
    venue: TradingVenue,
) -> dg.MaterializeResult:
    symbol = context.partition_key
    try:
        bootstrap = part_of(BootstrapConfig, config)
    except ValueError as error:
        raise dg.Failure(f"invalid wf_report config: {error}") from error
    frames, folds = _fold_frames(store, symbol)
    if not frames:
        raise dg.Failure(
            f"no walk-forward predictions for {symbol}: run "
            + materialize_months(FOLD_ASSETS, symbol, date(2024, 2, 1), date(2024, 7, 1))
            + " (your months)"
        )
    strategy = strategy_for(config, venue.market)  # backtest_report's own rules
    try:
        stitched = stitch(frames)
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    candles = candles_around(
        store.layout, symbol, stitched["timestamp"].min(), stitched["timestamp"].max()
    )
    if candles.empty:
        raise dg.Failure(
            f"no stored candles of {symbol} for the predicted months (the backtest needs "
            f"them): {ingest_month(symbol, stitched['timestamp'].min().date().replace(day=1))}"
        )
    try:
        evaluation = stitched_backtest(candles, stitched, strategy)
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    trades = int(evaluation.metrics["trades"])
    no_trades = zero_trades_reason(
        stitched["p_up"].to_numpy(),
        stitched["p_down"].to_numpy(),
        strategy.threshold,
        strategy.allow_short,
        venue.market,
    )
    summary = walk_forward_summary(
        stitched,
        daily_returns(evaluation.result.equity),
        daily_returns(evaluation.benchmark),
        bootstrap.n_boot,
        bootstrap.bootstrap_seed,
        why_no_sharpe=NO_SHARPE if trades else no_trades,
    )
    summary |= {"strategy": evaluation.metrics, "buy_and_hold": evaluation.benchmark_metrics}
    report = walk_forward_page(
        symbol,
        summary,
        folds,
        stitched,
        evaluation.result.equity,
        evaluation.benchmark,
        strategy.to_dict(),
        _drift(store, symbol, sorted(frames)),
        evaluation.result.trades,
    )
    out = store.layout.reports(symbol).walk_forward
    write_parquet_atomic(stitched, out.stitched_predictions)
    write_json_atomic(out.summary, plain(summary))
    write_text_atomic(out.html, report.html)
    context.log.info(f"{symbol} walk-forward: {summary['verdict']}")
    pooled = summary["pooled"]
    numbers = {
        **evaluation.metrics,
        **{f"buy_and_hold_{k}": v for k, v in evaluation.benchmark_metrics.items()},
        "probabilistic_sharpe_ratio": summary["probabilistic_sharpe_ratio"],
        **{f"{name}_accuracy": pooled[name]["accuracy"] for name in pooled},
        **{f"{name}_auc": pooled[name]["auc_roc_ovr"] for name in pooled},
        "folds": summary["folds"],
        "samples": summary["samples"],
    }
    return dg.MaterializeResult(
        metadata=report_metadata(
            report.headline,
            numbers,
            report.figures,
            key_figure(equity_markdown(evaluation.result.equity, evaluation.benchmark)),
            currency=quote_currency(symbol),
            verdict=summary["verdict"],
            edge=summary["edge"],
            report_path=link(out.html),
        ),
        check_results=[trades_check(trades, no_trades), worse_check(report.headline)],
    )


def build(partitions: Partitions) -> dg.Definitions:
    """wf_report on this build's partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol,
        group_name=WALK_FORWARD,
        kinds={"html", "parquet"},
        owners=OWNERS,
        code_version="4",
        description="The folds stitched into one out-of-sample series: a headline (EDGE / NO "
        "EDGE and one line per condition), metrics per month and pooled beside per-fold "
        "baselines, the strategy backtested across the months, block-bootstrap 95% intervals, "
        "the probabilistic Sharpe ratio, diagnostics plots and the verdict.",
        deps=[
            dg.AssetDep(
                "wf_predictions",
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                    partition_dimension_name=SYMBOL_DIM
                ),
            )
        ],
        check_specs=report_check_specs(partitions, "wf_report", (HAS_TRADES, NOT_WORSE)),
    )(wf_report)
    return dg.Definitions(assets=[asset])
