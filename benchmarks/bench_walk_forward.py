"""Walk-forward cost: a 6-fold walk-forward on a synthetic symbol-year, cold vs. warm start,
against one full training of the same configuration.

Prints, in one run:
- per fold: training samples, training and prediction wall time, cold and warm;
- totals, the warm/cold ratio per fold (target: a warm fold costs at most 1/4 of a cold one)
  and the ratio of the whole walk-forward (cold, warm) to one training on the full year
  (dataset_splits' 70/15/15 split, same training configuration).

Cold folds train ``--epochs`` epochs from fresh weights (default: patience + 1 = 16, the
fewest a cold fold runs before early stopping can end it); warm folds start from the previous
month's fold model and train ``--warm-epochs`` (default 3, as ``wf_model``). The first fold
of the warm run is cold, as in the pipeline when month M-1 has no model.

    python benchmarks/bench_walk_forward.py            # a symbol-year, 6 folds (long on CPU)
    python benchmarks/bench_walk_forward.py --quick    # tiny data and model: proves it works
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.features.channels import compute_features  # noqa: E402
from resnet_pipeline.features.labels import compute_labels  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402
from resnet_pipeline.ml.augment import AugmentConfig  # noqa: E402
from resnet_pipeline.ml.dataset import build_splits  # noqa: E402
from resnet_pipeline.ml.fold_training import predict_month, train_fold  # noqa: E402
from resnet_pipeline.ml.monthly_folds import (  # noqa: E402
    FoldConfig,
    add_months,
    build_fold,
    eligible_samples,
)
from resnet_pipeline.ml.resnet import ModelConfig, build_model  # noqa: E402
from resnet_pipeline.ml.splits import SplitConfig  # noqa: E402
from resnet_pipeline.ml.train_config import TrainConfig  # noqa: E402
from resnet_pipeline.ml.trainer import train  # noqa: E402
from resnet_pipeline.ml.windows import WindowDataset  # noqa: E402


@dataclass
class Plan:
    months: int
    folds: int
    hours: float | None  # per month (None: the whole month)
    window: int
    epochs: int
    warm_epochs: int
    max_train_samples: int
    max_val_samples: int
    batch_size: int


def market(symbol: str, first: date, plan: Plan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic candles -> features and labels, month by month (the pipeline's way)."""
    source = SyntheticSource()
    features, labels = [], []
    for i in range(plan.months):
        start = pd.Timestamp(add_months(first, i), tz="UTC")
        end = pd.Timestamp(add_months(first, i + 1), tz="UTC")
        if plan.hours is not None:
            end = min(end, start + pd.Timedelta(hours=plan.hours))
        candles = source.fetch(symbol, start, end)
        history = source.fetch(symbol, start - pd.Timedelta(hours=8), start)
        features.append(compute_features(candles, history))
        labels.append(compute_labels(candles))
    return pd.concat(features, ignore_index=True), pd.concat(labels, ignore_index=True)


def run_folds(samples, months, plan: Plan, warm: bool) -> list[dict]:
    model_cfg = ModelConfig(window=plan.window)
    train_cfg = TrainConfig(
        epochs=plan.epochs,
        batch_size=plan.batch_size,
        max_train_samples=plan.max_train_samples,
        max_val_samples=plan.max_val_samples,
        device="auto",
    )
    fold_cfg = FoldConfig(window=plan.window)
    rows, previous = [], None
    for month in months:
        fold = build_fold(samples, month, fold_cfg)
        start = time.perf_counter()
        trained = train_fold(
            fold,
            model_cfg,
            train_cfg,
            previous if warm else None,
            plan.warm_epochs,
            AugmentConfig(),
        )
        trained_s = time.perf_counter() - start
        start = time.perf_counter()
        predicted = predict_month(
            trained.model, fold.splits.normalizer, trained.baselines, samples, month
        )
        rows.append(
            {
                "month": f"{month:%Y-%m}",
                "start": trained.start,
                "train_samples": fold.info["train_samples"],
                "epochs": trained.epochs_run,
                "train_s": trained_s,
                "predict_s": time.perf_counter() - start,
                "predicted": len(predicted),
            }
        )
        previous = (f"{month:%Y-%m}", trained.model.state_dict())
        print(f"  {'warm' if warm else 'cold'} {rows[-1]}", flush=True)
    return rows


def full_training(features, labels, plan: Plan) -> float:
    splits = build_splits(features, labels, SplitConfig(window=plan.window))
    cfg = TrainConfig(
        epochs=plan.epochs,
        batch_size=plan.batch_size,
        max_train_samples=plan.max_train_samples,
        max_val_samples=plan.max_val_samples,
    )
    torch.manual_seed(0)
    model = build_model(ModelConfig(window=plan.window))
    start = time.perf_counter()
    train(model, WindowDataset(splits, "train"), WindowDataset(splits, "val"), cfg)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and epochs")
    # As the pipeline runs: a cold fold trains until early stopping, at least patience + 1
    # epochs (16 at the SPEC's patience 15); a warm fold runs wf_model's warm_start_epochs (3).
    parser.add_argument("--epochs", type=int, default=TrainConfig().patience + 1)
    parser.add_argument("--warm-epochs", type=int, default=3)
    parser.add_argument("--max-train-samples", type=int, default=8192)
    parser.add_argument(
        "--folds", type=int, default=6, help="the last N months of the year (>= 2: one warm)"
    )
    args = parser.parse_args()
    if args.quick:
        plan = Plan(7, 6, 3.0, 32, 2, 1, 32, 32, 16)
    else:
        if not 2 <= args.folds <= 11:
            parser.error("--folds must be 2..11: the first fold is cold, and a fold needs history")
        plan = Plan(12, args.folds, None, 256, args.epochs, args.warm_epochs,
                    args.max_train_samples, 4096, 64)  # fmt: skip
    print(f"plan: {plan}; device: {'cuda' if torch.cuda.is_available() else 'cpu'}")
    first = date(2024, 1, 1)
    started = time.perf_counter()
    features, labels = market("BTCUSDT", first, plan)
    samples = eligible_samples(features, labels, FoldConfig(window=plan.window).split_config())
    print(f"data: {len(features)} rows, {time.perf_counter() - started:.1f} s")
    months = [add_months(first, plan.months - plan.folds + i) for i in range(plan.folds)]
    cold = run_folds(samples, months, plan, warm=False)
    warm = run_folds(samples, months, plan, warm=True)
    full_s = full_training(features, labels, plan)
    cold_s = sum(r["train_s"] + r["predict_s"] for r in cold)
    warm_s = sum(r["train_s"] + r["predict_s"] for r in warm)
    later = [(w["train_s"], c["train_s"]) for w, c in zip(warm[1:], cold[1:], strict=True)]
    ratios = [w / c for w, c in later]
    print(f"one full training ({plan.epochs} epochs): {full_s:.1f} s")
    print(f"walk-forward cold, {plan.folds} folds: {cold_s:.1f} s = {cold_s / full_s:.2f}x full")
    print(f"walk-forward warm, {plan.folds} folds: {warm_s:.1f} s = {warm_s / full_s:.2f}x full")
    print(
        "warm/cold training time per warm fold: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + f" (mean {sum(ratios) / len(ratios):.2f}; target <= 0.25)"
    )
    print(f"prediction share of the cold walk-forward: "
          f"{sum(r['predict_s'] for r in cold) / cold_s:.0%}")  # fmt: skip


if __name__ == "__main__":
    main()
