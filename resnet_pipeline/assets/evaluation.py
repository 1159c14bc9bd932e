"""`test_metrics` and `backtest_report` (symbol): honest evaluation on the test split."""

import json

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from resnet_pipeline.assets.common import EVALUATION, OWNERS, SYMBOL, markdown_table, plain
from resnet_pipeline.ml.checkpoint import CheckpointError, load_checkpoint
from resnet_pipeline.ml.dataset import DatasetSplits
from resnet_pipeline.ml.evaluation import SHOWN, evaluate_split, metrics_table
from resnet_pipeline.reports.html import backtest_report_html
from resnet_pipeline.reports.plots import (
    calibration_plot,
    confusion_matrix_plot,
    equity_curves,
    png_markdown,
)
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import (
    read_parquet,
    read_partitions,
    stored_months,
    write_parquet_atomic,
)
from resnet_pipeline.trading.evaluate import evaluate_strategy
from resnet_pipeline.trading.strategy import StrategyConfig


def _load(store: DataStore, symbol: str):
    try:
        checkpoint = load_checkpoint(store.path / "models" / symbol / "model.pt")
        splits = DatasetSplits.load(str(store.path / "datasets" / symbol))
        checkpoint.check_features(splits.channel_names)
    except (CheckpointError, FileNotFoundError) as error:
        raise dg.Failure(str(error)) from error
    return checkpoint, splits


def readable(rows: list[dict]) -> str:
    """Rows as a Markdown table for the UI, the `met` column in words."""
    words = {True: "met", False: "not met", None: ""}
    return markdown_table(pd.DataFrame([r | {"met": words[r["met"]]} for r in rows]))


@dg.asset(
    partitions_def=SYMBOL,
    group_name=EVALUATION,
    kinds={"pytorch", "json"},
    owners=OWNERS,
    code_version="1",
    description="Classification metrics of the model on its test split (accuracy, per-class "
    "precision/recall/F1, one-vs-rest AUC, log loss, confusion matrix, calibration) beside a "
    "majority-class and a logistic-regression baseline, each SPEC target marked met/not met.",
    deps=["trained_model", "dataset_splits"],
)
def test_metrics(context: dg.AssetExecutionContext, store: DataStore) -> dg.MaterializeResult:
    symbol = context.partition_key
    checkpoint, splits = _load(store, symbol)
    report, predictions = evaluate_split(checkpoint, splits)
    report |= {"symbol": symbol, "run_id": context.run.run_id, "lineage": checkpoint.lineage}
    folder = store.path / "reports" / symbol
    folder.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(predictions, folder / "test_predictions.parquet")
    path = folder / "test_metrics.json"
    path.write_text(json.dumps(plain(report), indent=2))
    history = pd.DataFrame(
        [
            {
                "run_id": context.run.run_id,
                "symbol": symbol,
                "created": pd.Timestamp.now(tz="UTC"),
                "test_samples": report["model"]["samples"],
                **{f"model_{k}": report["model"][k] for k in SHOWN},
                **{f"majority_{k}": report["baselines"]["majority"][k] for k in SHOWN},
                **{f"logistic_{k}": report["baselines"]["logistic_last_row"][k] for k in SHOWN},
            }
        ]
    )
    # one file per run: appending is a new file, atomic, and DuckDB reads them all at once
    write_parquet_atomic(
        history,
        store.path
        / "reports"
        / "history"
        / "test_metrics"
        / f"symbol={symbol}"
        / f"{context.run.run_id}.parquet",
    )
    model = report["model"]
    return dg.MaterializeResult(
        metadata={
            "test_samples": model["samples"],
            **{k: plain(model[k]) for k in SHOWN},
            "majority_accuracy": report["baselines"]["majority"]["accuracy"],
            "logistic_accuracy": report["baselines"]["logistic_last_row"]["accuracy"],
            "targets_met": sum(1 for t in report["targets"] if t["met"]),
            "metrics": dg.MetadataValue.md(readable(metrics_table(report))),
            "confusion_matrix": dg.MetadataValue.md(
                png_markdown(confusion_matrix_plot(np.array(model["confusion_matrix"])))
            ),
            "calibration": dg.MetadataValue.md(
                png_markdown(calibration_plot(model["calibration"]))
            ),
            "metrics_path": dg.MetadataValue.path(str(path)),
        }
    )


# -- backtest_report -----------------------------------------------------------------------------


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
    allow_short: bool = True


def _strategy(config: BacktestConfig) -> StrategyConfig:
    try:
        return StrategyConfig(**config.model_dump())
    except ValueError as error:
        raise dg.Failure(f"invalid backtest config: {error}") from error


@dg.asset(
    partitions_def=SYMBOL,
    group_name=EVALUATION,
    kinds={"parquet", "html"},
    owners=OWNERS,
    code_version="1",
    description="The SPEC 9 strategy simulated bar by bar over the test period (signals at the "
    "close, fills at the next open, intrabar stops/take profits, drawdown protection, fees and "
    "slippage) against buy-and-hold: metrics with targets, trade log, equity, HTML report.",
    deps=["test_metrics"],
)
def backtest_report(
    context: dg.AssetExecutionContext, config: BacktestConfig, store: DataStore
) -> dg.MaterializeResult:
    symbol = context.partition_key
    folder = store.path / "reports" / symbol
    predictions_path = folder / "test_predictions.parquet"
    if not predictions_path.exists():
        raise dg.Failure(
            f"no test predictions for {symbol}: run dagster asset materialize -m "
            f"resnet_pipeline.definitions --select test_metrics --partition {symbol}"
        )
    predictions = read_parquet(predictions_path)
    metrics_report = json.loads((folder / "test_metrics.json").read_text())
    first = predictions["timestamp"].min() - pd.Timedelta(days=1)  # ATR warm-up
    months = [
        m
        for m in stored_months(store.path, "raw_candles", symbol)
        if first.date().replace(day=1) <= m <= predictions["timestamp"].max().date()
    ]
    candles = read_partitions(store.path, "raw_candles", symbol, months)
    candles = candles[candles["timestamp"] >= first]
    try:
        evaluation = evaluate_strategy(candles, predictions, _strategy(config))
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    checkpoint_history = load_checkpoint(store.path / "models" / symbol / "model.pt").history
    write_parquet_atomic(evaluation.result.trades, folder / "trades.parquet")
    write_parquet_atomic(
        pd.DataFrame(
            {
                "timestamp": evaluation.result.equity.index,
                "equity": evaluation.result.equity.to_numpy(),
                "buy_and_hold": evaluation.benchmark.to_numpy(),
            }
        ),
        folder / "equity.parquet",
    )
    (folder / "backtest_metrics.json").write_text(
        json.dumps(
            plain(
                {
                    "strategy": evaluation.metrics,
                    "buy_and_hold": evaluation.benchmark_metrics,
                    "targets": evaluation.targets,
                    "config": config.model_dump(),
                    "run_id": context.run.run_id,
                }
            ),
            indent=2,
        )
    )
    report = folder / "report.html"
    report.write_text(
        backtest_report_html(
            symbol,
            evaluation,
            metrics_table(metrics_report),
            metrics_report["model"]["confusion_matrix"],
            checkpoint_history,
        )
    )
    m = evaluation.metrics
    return dg.MaterializeResult(
        metadata={
            **{k: plain(v) for k, v in m.items()},
            **{f"buy_and_hold_{k}": plain(v) for k, v in evaluation.benchmark_metrics.items()},
            "targets_met": sum(1 for t in evaluation.targets if t["met"]),
            "targets": dg.MetadataValue.md(readable(evaluation.targets)),
            "equity": dg.MetadataValue.md(
                png_markdown(equity_curves(evaluation.result.equity, evaluation.benchmark))
            ),
            "report_path": dg.MetadataValue.path(str(report)),
            "trades_path": dg.MetadataValue.path(str(folder / "trades.parquet")),
        }
    )


defs = dg.Definitions(assets=[test_metrics, backtest_report])
