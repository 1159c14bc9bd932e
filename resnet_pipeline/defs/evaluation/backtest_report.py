"""`backtest_report` (symbol): the SPEC 9 strategy on the test split against buy-and-hold."""

import dagster as dg
import pandas as pd

from resnet_pipeline.artifacts import exists, read_json, write_json_atomic, write_text_atomic
from resnet_pipeline.commands import materialize
from resnet_pipeline.defs.dagster_config import dagster_config, part_of
from resnet_pipeline.defs.evaluation.checked_model import load_checked_model
from resnet_pipeline.defs.key_figure import equity_markdown
from resnet_pipeline.defs.metadata import EVALUATION, OWNERS, bullets, link, plain, without_met
from resnet_pipeline.defs.report_checks import (
    HAS_TRADES,
    NOT_WORSE,
    key_figure,
    report_check_specs,
    report_metadata,
    trades_check,
    worse_check,
)
from resnet_pipeline.ml.evaluation.baselines import PROBA_COLUMNS
from resnet_pipeline.ml.evaluation.bootstrap import sharpe_intervals
from resnet_pipeline.ml.evaluation.run_settings import TrainingBudget
from resnet_pipeline.ml.evaluation.stitched_metrics import NO_SHARPE
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.reports.other_views import experiment_views
from resnet_pipeline.reports.test_period_page import (
    backtest_headline,
    backtest_report_html,
    period_settings,
    split_view,
)
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import candles_around, read_parquet, write_parquet_atomic
from resnet_pipeline.trading.performance import CONVENTIONS, daily_returns
from resnet_pipeline.trading.strategy import ShortRules, StrategyConfig
from resnet_pipeline.trading.strategy_evaluation import evaluate_strategy
from resnet_pipeline.trading.trade_breakdown import quote_currency
from resnet_pipeline.verdicts import targets_met, zero_trades_reason

REPORT_COLUMNS = [c for columns in PROBA_COLUMNS.values() for c in columns] + ["label"]


BacktestConfig = dagster_config(
    "BacktestConfig",
    __name__,
    "The SPEC 9 rules (StrategyConfig) with shorts by market (ShortRules), flat; costs are on "
    "by default (a backtest without costs is not a result).",
    StrategyConfig,
    ShortRules,
)


def strategy_for(config: dg.Config, market: str) -> StrategyConfig:
    """The rules a config (``BacktestConfig`` or one built on it) gives on ``market``."""
    try:
        return part_of(StrategyConfig, config, **part_of(ShortRules, config).on(market))
    except ValueError as error:
        raise dg.Failure(f"invalid backtest config: {error}") from error


def backtest_report(
    context: dg.AssetExecutionContext, config: BacktestConfig, store: DataStore, venue: TradingVenue
) -> dg.MaterializeResult:
    symbol = context.partition_key
    files = store.layout.reports(symbol)
    rerun = f"run {materialize('test_metrics', symbol)}"
    if not exists(files.test_predictions) or not exists(files.test_metrics):
        raise dg.Failure(f"no test predictions for {symbol}: {rerun}")
    checkpoint, splits = load_checked_model(store, symbol)
    metrics_report = read_json(files.test_metrics)
    made_by = metrics_report.get("lineage", {})
    current = {"dataset_fingerprint": splits.fingerprint, "run_id": checkpoint.lineage["run_id"]}
    stale = {k: (made_by.get(k), v) for k, v in current.items() if made_by.get(k) != v}
    if stale:
        raise dg.Failure(
            f"the stored test predictions of {symbol} were made by another model or dataset "
            + ", ".join(f"({k}: predictions {a}, current {b})" for k, (a, b) in stale.items())
            + f": {rerun}"
        )
    predictions = read_parquet(files.test_predictions)
    missing = [c for c in REPORT_COLUMNS if c not in predictions.columns]
    if missing:
        raise dg.Failure(
            f"the stored test predictions of {symbol} lack {missing} (written by an older "
            f"test_metrics): {rerun}"
        )
    candles = candles_around(
        store.layout, symbol, predictions["timestamp"].min(), predictions["timestamp"].max()
    )
    try:
        strategy = strategy_for(config, venue.market)
        evaluation = evaluate_strategy(candles, predictions, strategy)
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    m = evaluation.metrics
    no_trades = zero_trades_reason(
        predictions["p_up"].to_numpy(),
        predictions["p_down"].to_numpy(),
        strategy.threshold,
        strategy.allow_short,
        venue.market,
    )
    view = split_view(predictions, metrics_report, strategy.threshold)
    trading = sharpe_intervals(
        daily_returns(evaluation.result.equity).to_numpy(),
        daily_returns(evaluation.benchmark).to_numpy(),
    )
    headline = backtest_headline(
        view,
        evaluation,
        trading,
        no_trades if not m["trades"] else NO_SHARPE,
        quote_currency(symbol),
    )
    training = TrainingBudget.of_models(
        [len(checkpoint.history)], [len(splits.train_ends)], checkpoint.train_config
    )
    experiments = experiment_views(
        store.layout, symbol, period_settings(evaluation, training), files.backtest_html
    )
    report = backtest_report_html(
        symbol,
        evaluation,
        metrics_report,
        view,
        headline,
        checkpoint.history,
        training,
        experiments,
    )
    write_parquet_atomic(evaluation.result.trades, files.trades)
    write_parquet_atomic(
        pd.DataFrame(
            {
                "timestamp": evaluation.result.equity.index,
                "equity": evaluation.result.equity.to_numpy(),
                "buy_and_hold": evaluation.benchmark.to_numpy(),
            }
        ),
        files.equity,
    )
    write_json_atomic(
        files.backtest_metrics,
        plain(
            {
                "strategy": evaluation.metrics,
                "buy_and_hold": evaluation.benchmark_metrics,
                "targets": evaluation.targets,
                "notes": evaluation.notes,
                "headline": {"title": headline.title, "lines": headline.lines()},
                "intervals": trading,
                "conventions": list(CONVENTIONS),
                "market": venue.market,
                "config": config.model_dump(),
                "strategy_config": strategy.to_dict(),
                "run_settings": report.settings.to_dict(),
                "run_id": context.run.run_id,
            }
        ),
    )
    write_text_atomic(files.backtest_html, report.html)
    numbers = {
        **m,
        **{f"buy_and_hold_{k}": v for k, v in evaluation.benchmark_metrics.items()},
        "targets_met": targets_met(evaluation.targets),
    }
    return dg.MaterializeResult(
        metadata=report_metadata(
            headline,
            numbers,
            report.figures,
            key_figure(equity_markdown(evaluation.result.equity, evaluation.benchmark)),
            targets=dg.MetadataValue.md(
                bullets([without_met(row) for row in evaluation.targets], "metric")
            ),
            notes=dg.MetadataValue.md("\n".join(f"- {n}" for n in evaluation.notes) or "-"),
            currency=quote_currency(symbol),
            allow_short=strategy.allow_short,
            report_path=link(files.backtest_html),
            trades_path=dg.MetadataValue.path(str(files.trades)),
        ),
        check_results=[trades_check(int(m["trades"]), no_trades), worse_check(headline)],
    )


def build(partitions: Partitions) -> dg.Definitions:
    """backtest_report on this build's partitions."""
    asset = dg.asset(
        partitions_def=partitions.symbol,
        group_name=EVALUATION,
        kinds={"parquet", "html"},
        owners=OWNERS,
        code_version="3",
        check_specs=report_check_specs(partitions, "backtest_report", (HAS_TRADES, NOT_WORSE)),
        description="A headline (EDGE / NO EDGE, one line per condition), then the SPEC 9 "
        "strategy simulated bar by bar over the test period (signals at the "
        "close, fills at the next open, intrabar stops/take profits, drawdown protection, fees and "
        "slippage; long-only on spot unless configured) against buy-and-hold: metrics with "
        "targets that must also beat buy-and-hold, trade log, equity, HTML report.",
        deps=["test_metrics"],
    )(backtest_report)
    return dg.Definitions(assets=[asset])
