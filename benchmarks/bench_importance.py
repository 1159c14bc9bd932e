"""Permutation importance: its cost against a fold's, and the known answer of the planted market.

Cost (the default): the demo's first variant (experiments/demo.yaml: width 32, window 48, 10
epochs of 6,000 windows) trains its June 2024 fold on PLANTUSDT through the experiment's own
fold code (``variant_fold.train_variant_fold`` then ``predict_and_score``: training,
calibration, trees, the month's predictions, scores and the importances with the variant's
``ImportanceConfig``: 3 shuffles of 15 channels and their family, for the model and the trees)
and prints the importance phase against the fold's wall time. The target: at most 20% of a
fold. ``--windows`` measures other sample sizes of the month.

Known answer (``--known-answer``): folds of the planted and of the noise symbol (the demo's
months and warm start unless ``--months`` says otherwise), each fold's importances on its
month, pooled over folds with their t-intervals, judged by
``trial_importance.known_answer_failures`` on the direction AUC: on PLANTUSDT a volume
channel (volume, or volume_ratio: the volume over its 20-minute mean, whose sequence shows the
motif's order too) must rank first with its interval above 0 and
every price and indicator channel stay below ``NEAR_ZERO_SHARE`` of its importance; on
NOISEUSDT no channel's interval may lie above 0. Prints the rankings and exits 1 when the
known answer fails.

    python benchmarks/bench_importance.py                        # cost, one fold (~2 min)
    python benchmarks/bench_importance.py --windows 1000 2000 5000
    python benchmarks/bench_importance.py --known-answer         # both symbols, every fold
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.experiments.experiment_file import load_experiment  # noqa: E402
from resnet_pipeline.experiments.trial_importance import (  # noqa: E402
    READ_ON,
    known_answer_failures,
)
from resnet_pipeline.experiments.variant_config import VariantConfig  # noqa: E402
from resnet_pipeline.experiments.variant_fold import (  # noqa: E402
    TrainedFold,
    predict_and_score,
    train_variant_fold,
)
from resnet_pipeline.features.channels import compute_features  # noqa: E402
from resnet_pipeline.features.labels import compute_labels  # noqa: E402
from resnet_pipeline.features.spec_family import SPEC  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402
from resnet_pipeline.ml.data.augment import AugmentConfig  # noqa: E402
from resnet_pipeline.ml.evaluation.importance_pooling import pooled_importance  # noqa: E402
from resnet_pipeline.ml.folds.monthly_folds import (  # noqa: E402
    Samples,
    add_months,
    build_fold,
    eligible_samples,
    fold_samples,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "experiments" / "demo.yaml"
PLANTED, NOISE = "PLANTUSDT", "NOISEUSDT"
TARGET_SHARE = 0.20  # importances may cost at most this share of a fold's wall time
SHOWN = (
    ("model", "direction_auc"),
    ("model", "log_loss"),
    ("model", "auc_roc_ovr"),
    ("trees", "direction_auc"),
    ("trees", "log_loss"),
)


def month_data(
    source: SyntheticSource, symbol: str, months: list[date], config: VariantConfig
) -> tuple[Samples, dict[date, pd.DataFrame]]:
    """Features and labels month by month as the pipeline stores them (the warm-up from the
    candles before), the eligible samples over all of them, and each month's candles."""
    features, labels, candles = [], [], {}
    for month in months:
        start = pd.Timestamp(month, tz="UTC")
        end = pd.Timestamp(add_months(month, 1), tz="UTC")
        candles[month] = source.fetch(symbol, start, end)
        history = source.fetch(symbol, start - pd.Timedelta(minutes=SPEC.history_minutes), start)
        following = source.fetch(symbol, end, end + pd.Timedelta(hours=1))
        features.append(compute_features(candles[month], history))
        labels.append(compute_labels(candles[month], following, config.labels))
    split = config.folds.split_config(config.labels.forward_window)
    frame, label_frame = (pd.concat(f, ignore_index=True) for f in (features, labels))
    return eligible_samples(frame, label_frame, split), candles


def demo_variant() -> VariantConfig:
    return load_experiment(DEMO, [PLANTED, NOISE]).variants[0].config


def train_fold(
    config: VariantConfig,
    samples: Samples,
    month: date,
    warm: TrainedFold | None,
) -> tuple[TrainedFold, Samples]:
    """The experiment's fold for ``month`` (warm-started from ``warm`` as the variant asks)."""
    rows = fold_samples(samples, month, config.folds, through_month=True)
    fold = build_fold(rows, month, config.folds)
    augment = AugmentConfig() if config.run.augment else None
    warm_from = None
    if warm is not None and config.warm.warm_start:
        warm_from = (f"{warm.fold.month:%Y-%m}", warm.trained.model.state_dict())
    return train_variant_fold(fold, config, config.train, augment, warm_from), rows


def measure_cost(args: argparse.Namespace) -> None:
    """The fold's importance phase (``FoldRun.seconds['importance']``) against the whole fold,
    at the variant's ``ImportanceConfig`` and at each ``--windows``."""
    base = demo_variant()
    month = date(2024, 6, 1)
    months = [add_months(month, -2), add_months(month, -1), month]
    source = SyntheticSource(0, planted_symbols=[PLANTED])
    started = time.perf_counter()
    samples, candles = month_data(source, PLANTED, months, base)
    data_s = time.perf_counter() - started
    done, rows = train_fold(base, samples, month, None)
    print(f"{PLANTED} fold {month:%Y-%m}: data {data_s:.1f} s (not counted); load {load()}")
    for windows in args.windows or [base.importance.importance_windows]:
        config = replace(base, importance=replace(base.importance, importance_windows=windows))
        run = predict_and_score(done, rows, config, candles[month])
        fold_s = sum(run.seconds.values())
        share = run.seconds["importance"] / fold_s
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items())
        measured = int(run.importance["windows"].iloc[0])
        print(
            f"  {measured:,} of {len(run.fold.splits.test_ends):,} windows x "
            f"{config.importance.importance_shuffles} shuffles: {phases}; importances "
            f"{share:.1%} of the fold {fold_s:.1f} s (target <= {TARGET_SHARE:.0%}: "
            f"{'met' if share <= TARGET_SHARE else 'NOT met'}); load {load()}"
        )


def symbol_importances(symbol: str, months: list[date], config: VariantConfig) -> pd.DataFrame:
    """Each fold's importances (model and trees, measured by the fold itself), pooled."""
    first = add_months(months[0], -2)
    read = [add_months(first, i) for i in range(len(months) + 2)]
    samples, candles = month_data(
        SyntheticSource(0, planted_symbols=[PLANTED]), symbol, read, config
    )
    per_fold, warm = {}, None
    for month in months:
        warm, rows = train_fold(config, samples, month, warm)
        run = predict_and_score(warm, rows, config, candles[month])
        per_fold[f"{month:%Y-%m}"] = run.importance
        seconds = ", ".join(f"{k} {v:.0f} s" for k, v in run.seconds.items())
        print(f"  {symbol} {month:%Y-%m}: {warm.trained.start}; {seconds}; load {load()}")
    return pooled_importance(per_fold)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def known_answer(args: argparse.Namespace) -> int:
    config = demo_variant()
    months = [date.fromisoformat(f"{m}-01") for m in args.months]
    failures = []
    for symbol in (PLANTED, NOISE):
        pooled = symbol_importances(symbol, months, config)
        for predictor, metric in SHOWN:
            print(f"\n{symbol} {predictor}, {metric} drop, pooled over {len(months)} folds:")
            table = pooled[(pooled["predictor"] == predictor) & (pooled["kind"] == "channel")]
            table = table[table["metric"] == metric].set_index("name")
            print(
                table[["rank", "mean", "low", "high", "folds"]].to_string(
                    float_format="{:.4f}".format
                )
            )
        failures += [f"{symbol}: {f}" for f in known_answer_failures(pooled, symbol == PLANTED)]
    print(
        f"\nknown answer ({READ_ON} of the model):",
        "met" if not failures else "FAILED: " + "; ".join(failures),
    )
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--known-answer", action="store_true", help="the planted/noise check")
    parser.add_argument(
        "--months", nargs="+", default=["2024-06", "2024-07"], help="folds of --known-answer"
    )
    parser.add_argument(
        "--windows", type=int, nargs="+", help="the month's windows measured (default: knob's)"
    )
    args = parser.parse_args()
    if args.known_answer:
        return known_answer(args)
    measure_cost(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
