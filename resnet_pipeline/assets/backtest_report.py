"""`backtest_report` (symbol): the SPEC 9 strategy on the test split against buy-and-hold."""

import dagster as dg
import pandas as pd
from pydantic import Field

from resnet_pipeline.artifacts import exists, read_json, write_json_atomic, write_text_atomic
from resnet_pipeline.assets.checked_model import load_checked_model
from resnet_pipeline.assets.common import (
    EVALUATION,
    OWNERS,
    SYMBOL,
    plain,
    readable,
)
from resnet_pipeline.commands import materialize
from resnet_pipeline.ml.classification import metrics_table
from resnet_pipeline.reports.html import backtest_report_html
from resnet_pipeline.reports.plots import (
    equity_curves,
    png_markdown,
)
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import candles_around, read_parquet, write_parquet_atomic
from resnet_pipeline.trading.performance import CONVENTIONS
from resnet_pipeline.trading.strategy import SPOT_BORROW_FEE_PER_DAY, StrategyConfig, short_rules
from resnet_pipeline.trading.strategy_evaluation import evaluate_strategy
from resnet_pipeline.verdicts import targets_met


class BacktestConfig(dg.Config):
    """SPEC 9 rules; costs are on by default (a backtest without costs is not a result)."""

    threshold: float = 0.6
    sizing: str = Field(default="kelly", description="kelly (edge capped at 25%) | fixed (10%)")
    stop: str = Field(
        default="fixed", description="fixed (-2%) | atr (-2 ATR) | trailing (1.5 ATR)"
    )
    take_profit: float | None = Field(default=0.03, description="+3% from entry; null disables")
    exit_on_reversal: bool = True
    exit_confidence: float | None = Field(
        default=0.5, description="exit when the held side's probability drops below"
    )
    max_hold_minutes: int = 720
    daily_drawdown_halve: float = 0.03
    weekly_drawdown_stop: float = 0.10
    fee_rate: float = Field(default=0.001, description="per fill (Bybit spot taker 0.1%)")
    slippage_bps: float = 2.0
    initial_equity: float = 10_000.0
    allow_short: bool | None = Field(
        default=None,
        description="null: by RESNET_BYBIT_MARKET (spot long-only, linear shorts allowed); "
        "true on spot borrows to short, paying spot_borrow_fee_per_day",
    )
    spot_borrow_fee_per_day: float = Field(
        default=SPOT_BORROW_FEE_PER_DAY,
        description="spot shorts: borrow cost per day held, as a share of the short's notional "
        "(assumed ~7%/year; set your account's rate)",
    )


def strategy_for(config: BacktestConfig, market: str) -> StrategyConfig:
    fields = config.model_dump()
    try:
        shorts = short_rules(
            market, fields.pop("allow_short"), fields.pop("spot_borrow_fee_per_day")
        )
        return StrategyConfig(**fields, **shorts)
    except ValueError as error:
        raise dg.Failure(f"invalid backtest config: {error}") from error


@dg.asset(
    partitions_def=SYMBOL,
    group_name=EVALUATION,
    kinds={"parquet", "html"},
    owners=OWNERS,
    code_version="2",
    description="The SPEC 9 strategy simulated bar by bar over the test period (signals at the "
    "close, fills at the next open, intrabar stops/take profits, drawdown protection, fees and "
    "slippage; long-only on spot unless configured) against buy-and-hold: metrics with "
    "targets that must also beat buy-and-hold, trade log, equity, HTML report.",
    deps=["test_metrics"],
)
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
    candles = candles_around(
        store.layout, symbol, predictions["timestamp"].min(), predictions["timestamp"].max()
    )
    try:
        strategy = strategy_for(config, venue.market)
        evaluation = evaluate_strategy(candles, predictions, strategy)
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    checkpoint_history = checkpoint.history
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
                "conventions": list(CONVENTIONS),
                "market": venue.market,
                "config": config.model_dump(),
                "strategy_config": strategy.to_dict(),
                "run_id": context.run.run_id,
            }
        ),
    )
    report = files.backtest_html
    write_text_atomic(
        report,
        backtest_report_html(
            symbol,
            evaluation,
            metrics_table(metrics_report),
            metrics_report["model"]["confusion_matrix"],
            checkpoint_history,
        ),
    )
    m = evaluation.metrics
    return dg.MaterializeResult(
        metadata={
            **{k: plain(v) for k, v in m.items()},
            **{f"buy_and_hold_{k}": plain(v) for k, v in evaluation.benchmark_metrics.items()},
            "targets_met": targets_met(evaluation.targets),
            "targets": dg.MetadataValue.md(readable(evaluation.targets)),
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in evaluation.notes) or "-"),
            "allow_short": strategy.allow_short,
            "equity": dg.MetadataValue.md(
                png_markdown(equity_curves(evaluation.result.equity, evaluation.benchmark))
            ),
            "report_path": dg.MetadataValue.path(str(report)),
            "trades_path": dg.MetadataValue.path(str(files.trades)),
        }
    )


defs = dg.Definitions(assets=[backtest_report])
