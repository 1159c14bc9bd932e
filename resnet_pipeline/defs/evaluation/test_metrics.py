"""`test_metrics` (symbol): classification metrics of the model on its test split."""

import dagster as dg
import pandas as pd

from resnet_pipeline.artifacts import write_json_atomic
from resnet_pipeline.defs.evaluation.checked_model import load_checked_model
from resnet_pipeline.defs.metadata import EVALUATION, OWNERS, bullets, link, plain, without_met
from resnet_pipeline.defs.report_checks import (
    NOT_WORSE,
    report_check_specs,
    report_metadata,
    worse_check,
)
from resnet_pipeline.ml.evaluation.classification import SHOWN, evaluate_split, metrics_table
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.reports.test_period_page import split_view
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import (
    write_parquet_atomic,
)
from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline.verdicts import targets_met


def metrics_on_test_split(
    context: dg.AssetExecutionContext, store: DataStore
) -> dg.MaterializeResult:
    symbol = context.partition_key
    checkpoint, splits = load_checked_model(store, symbol)
    report, predictions = evaluate_split(checkpoint, splits)
    report |= {"symbol": symbol, "run_id": context.run.run_id, "lineage": checkpoint.lineage}
    files = store.layout.reports(symbol)
    write_parquet_atomic(predictions, files.test_predictions)
    path = files.test_metrics
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
    write_parquet_atomic(history, store.layout.history("test_metrics", symbol, context.run.run_id))
    model = report["model"]
    view = split_view(predictions, report, StrategyConfig().threshold)
    report["intervals"] = view.intervals
    write_json_atomic(path, plain(report))
    numbers = {
        "test_samples": model["samples"],
        **{k: model[k] for k in SHOWN},
        "majority_accuracy": report["baselines"]["majority"]["accuracy"],
        "logistic_accuracy": report["baselines"]["logistic_last_row"]["accuracy"],
        "logistic_auc": report["baselines"]["logistic_last_row"]["auc_roc_ovr"],
        "targets_met": targets_met(report["targets"]),
    }
    return dg.MaterializeResult(
        metadata=report_metadata(
            view.headline,
            numbers,
            view.figures,
            {
                "metrics": dg.MetadataValue.md(
                    bullets([without_met(row) for row in metrics_table(report)], "metric")
                )
            },
            metrics_path=link(path),
        ),
        check_results=[worse_check(view.headline)],
    )


def build(partitions: Partitions) -> dg.Definitions:
    """test_metrics on this build's partitions."""
    asset = dg.asset(
        name="test_metrics",
        partitions_def=partitions.symbol,
        group_name=EVALUATION,
        kinds={"pytorch", "json"},
        owners=OWNERS,
        code_version="3",
        description="Classification metrics of the model on its test split (accuracy, per-class "
        "precision/recall/F1, one-vs-rest AUC, log loss, confusion matrix, calibration) beside a "
        "majority-class and a logistic-regression baseline, with day-block 95% intervals of the "
        "differences; a headline (EDGE / NO EDGE) first; a SPEC target is met only when the "
        "model also beats its baseline.",
        deps=["trained_model", "dataset_splits"],
        check_specs=report_check_specs(partitions, "test_metrics", (NOT_WORSE,)),
    )(metrics_on_test_split)
    return dg.Definitions(assets=[asset])
