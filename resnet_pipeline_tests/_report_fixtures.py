"""Reports built from the synthetic market without training. A walk-forward report: each
month's 'model' is a noisy view of the label (so the plots have something to show), the
baselines are a per-month constant and a weaker noisy view, as the fold assets store them. A
test-period report: a backtest beside random test predictions over the same minutes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.channels import compute_features
from resnet_pipeline.features.labels import compute_labels
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.ml.evaluation.baselines import PROBA_COLUMNS
from resnet_pipeline.ml.evaluation.classification import classification_verdicts
from resnet_pipeline.ml.evaluation.run_settings import TrainingBudget
from resnet_pipeline.ml.evaluation.stitched_metrics import walk_forward_summary
from resnet_pipeline.reports.diagnostics import drift_zscores
from resnet_pipeline.reports.first_screen import OtherView
from resnet_pipeline.reports.research_page import ResearchPage
from resnet_pipeline.reports.test_period_page import (
    PeriodPage,
    backtest_headline,
    backtest_report_html,
    split_view,
)
from resnet_pipeline.reports.walk_forward_page import walk_forward_page
from resnet_pipeline.trading.performance import daily_returns
from resnet_pipeline.trading.stitched import stitch, stitched_backtest
from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline.trading.strategy_evaluation import StrategyEvaluation
from resnet_pipeline.verdicts import Headline

# The named plots every walk-forward report shows (metadata keys and HTML images alike).
PLOTS = [
    "plot_per_month_differences",
    "plot_equity",
    "plot_class_mix",
    "plot_confusion",
    "plot_confusion_per_fold",
    "plot_reliability",
    "plot_probability_histograms",
    "plot_threshold_sweep",
    "plot_training_curves",
    "plot_drift",
]


def _noisy(y: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    proba = rng.dirichlet([2, 2, 2], len(y))
    proba[np.arange(len(y)), y] += strength
    return proba / proba.sum(axis=1, keepdims=True)


def walk_forward_fixture(months: int = 3, days: int = 4, n_boot: int = 100) -> ResearchPage:
    """The first ``days`` days of ``months`` months of 2024, stitched and reported."""
    rng = np.random.default_rng(0)
    source = SyntheticSource()
    folds, features, candles, infos = {}, {}, [], []
    for m in range(1, months + 1):
        start = pd.Timestamp(f"2024-{m:02d}-01", tz="UTC")
        part = source.fetch("BTCUSDT", start, start + pd.Timedelta(days=days))
        candles.append(part)
        features[f"2024-{m:02d}"] = compute_features(part)
        labels = compute_labels(part).dropna(subset=["label"])
        y = labels["label"].to_numpy(np.int64)
        frame = pd.DataFrame({"timestamp": labels["timestamp"].to_numpy()})
        shares = np.bincount(y, minlength=3) / len(y)
        values = {
            "model": _noisy(y, 0.25 * m, rng),
            "majority": np.tile(shares, (len(y), 1)),
            "logistic": _noisy(y, 0.1, rng),
        }
        for name, proba in values.items():
            for k, column in enumerate(PROBA_COLUMNS[name]):
                frame[column] = proba[:, k]
        frame["label"] = y
        month = f"2024-{m:02d}"
        folds[month] = frame
        infos.append(
            {
                "month": month,
                "start": "cold" if m == 1 else f"warm from 2024-{m - 1:02d}",
                "train_first": "2023-06-01T00:00:00Z",
                "train_last": f"{start - pd.Timedelta(days=5):%Y-%m-%dT%H:%M:%SZ}",
                "val_first": f"{start - pd.Timedelta(days=4):%Y-%m-%dT%H:%M:%SZ}",
                "val_last": f"{start - pd.Timedelta(minutes=13):%Y-%m-%dT%H:%M:%SZ}",
                "train_samples": 1000 * m,
                "val_samples": 200,
                "predicted": len(frame),
                "epochs_run": 3,
                "best_val_loss": 1.0 - 0.01 * m,
                "wall_s": 12.5,
                "history": [
                    {"epoch": e, "train_loss": 1.1 - 0.05 * e, "val_loss": 1.08 - 0.02 * e}
                    for e in range(1, 4)
                ],
            }
        )
    stitched = stitch(folds)
    strategy = StrategyConfig()
    evaluation = stitched_backtest(pd.concat(candles, ignore_index=True), stitched, strategy)
    summary = walk_forward_summary(
        stitched,
        daily_returns(evaluation.result.equity),
        daily_returns(evaluation.benchmark),
        n_boot,
    )
    summary |= {"strategy": evaluation.metrics, "buy_and_hold": evaluation.benchmark_metrics}
    return walk_forward_page(
        "BTCUSDT",
        summary,
        infos,
        stitched,
        evaluation.result.equity,
        evaluation.benchmark,
        strategy.to_dict(),
        drift_zscores(features, list(FEATURE_CHANNELS)),
        evaluation.result.trades,
    )


def period_report_page(
    evaluation: StrategyEvaluation,
    symbol: str,
    accuracy: tuple[float, float],
    n_boot: int,
    training: TrainingBudget | None = None,
    others: list[OtherView] | tuple = (),
) -> tuple[Headline, PeriodPage]:
    """The test-period page of ``evaluation`` beside a classification view of random test
    predictions over the same minutes (labels and the three predictors); ``accuracy``: the
    model's and the majority baseline's stored accuracy."""
    stamps = evaluation.result.equity.index
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"timestamp": stamps, "label": rng.integers(0, 3, len(stamps))})
    for columns in PROBA_COLUMNS.values():
        frame[list(columns)] = rng.dirichlet([1, 1, 1], len(stamps))
    model = {"accuracy": accuracy[0], "auc_roc_ovr": 0.55, "log_loss": 1.0}
    baselines = {"majority": {"accuracy": accuracy[1]}, "logistic_last_row": {"auc_roc_ovr": 0.5}}
    report = {
        "model": model,
        "baselines": baselines,
        "targets": classification_verdicts(model, baselines),
    }
    view = split_view(frame, report, 0.6, n_boot=n_boot)
    trading = {"sharpe": {"estimate": None, "low": None, "high": None}}
    headline = backtest_headline(view, evaluation, trading, "0 trades", "USDT")
    page = backtest_report_html(symbol, evaluation, report, view, headline, [], training, others)
    return headline, page
