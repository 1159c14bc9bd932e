"""Walk-forward cost: a 6-fold walk-forward on a synthetic symbol-year, cold vs. warm start,
against one full training of the same configuration; the research loop on a files-source
symbol-year (``--files``); the fold validation sample's effect on early stopping
(``--val-effect``).

Prints, in one run:
- per fold: training samples, training and prediction wall time, cold and warm;
- totals, the warm/cold ratio per fold (target: a warm fold costs at most 1/4 of a cold one)
  and the ratio of the whole walk-forward (cold, warm) to one training on the full year
  (dataset_splits' 70/15/15 split, same training configuration).

Cold folds train ``--epochs`` epochs from fresh weights (default: patience + 1 = 16, the
fewest a cold fold runs before early stopping can end it); warm folds start from the previous
month's fold model and train ``--warm-epochs`` (default 3, as ``wf_model``). The first fold
of the warm run is cold, as in the pipeline when month M-1 has no model.

``--files`` runs the pipeline's assets on daily export files of a synthetic year
(``walk_forward_year``): ingestion per month against reading its files, per-fold wall against
training steps, predictions windows/s, the report's time, each beside its target, and the
walk-forward's total (``wf_model`` + ``wf_predictions``) beside its training steps and its
predictions, scaled to 12 folds (target < 15 minutes on 2 quiet cores). Its
``wf_model`` config is the README's walk-forward command (warm start, epochs 10,
warm_start_epochs 2, max_train_samples 20000) unless ``--epochs`` etc. say otherwise.

``--val-effect`` trains one cold fold (the last of ``--months`` synthetic months) twice,
validating on every window of the newest range and on ``VAL_SAMPLES`` of them: epochs
run, the best epoch, the loss of each selected model on every validation window, and the
time validation took.

    python benchmarks/bench_walk_forward.py            # a symbol-year, 6 folds (long on CPU)
    python benchmarks/bench_walk_forward.py --quick    # tiny data and model: proves it works
    python benchmarks/bench_walk_forward.py --files --folds 12   # the README's symbol-year
    python benchmarks/bench_walk_forward.py --files --folds 2 --months 4   # reduced
    python benchmarks/bench_walk_forward.py --val-effect
"""

from __future__ import annotations

import argparse
import os
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
from resnet_pipeline.ml.data.augment import AugmentConfig  # noqa: E402
from resnet_pipeline.ml.data.dataset import build_splits  # noqa: E402
from resnet_pipeline.ml.data.splits import SplitConfig  # noqa: E402
from resnet_pipeline.ml.data.windows import WindowDataset  # noqa: E402
from resnet_pipeline.ml.folds.fold_training import predict_month, train_fold  # noqa: E402
from resnet_pipeline.ml.folds.monthly_folds import (  # noqa: E402
    FoldConfig,
    add_months,
    build_fold,
    eligible_samples,
)
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.losses import make_loss  # noqa: E402
from resnet_pipeline.ml.training.train_config import TrainConfig  # noqa: E402
from resnet_pipeline.ml.training.trainer import evaluate, train, val_loader  # noqa: E402

VAL_SAMPLES = TrainConfig().max_val_samples
README_COMMAND = {"warm_start": True, "epochs": 10, "warm_start_epochs": 2,
                  "max_train_samples": 20000}  # fmt: skip


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


def validation_effect(months: int, epochs: int, patience: int, samples: int) -> None:
    """One cold fold validated on all of its newest range and on VAL_SAMPLES of it."""
    plan = Plan(months, 1, None, 256, epochs, 1, samples, VAL_SAMPLES, 64)
    first = date(2024, 1, 1)
    features, labels = market("BTCUSDT", first, plan)
    cfg = FoldConfig()
    month = add_months(first, months - 1)
    fold = build_fold(eligible_samples(features, labels, cfg.split_config()), month, cfg)
    print(f"fold {month:%Y-%m}: {fold.info['train_samples']:,} training and "
          f"{fold.info['val_samples']:,} validation windows; {epochs} epochs of {samples:,}, "
          f"patience {patience}")  # fmt: skip
    every = val_loader(WindowDataset(fold.splits, "val"), TrainConfig(), pin=False)
    for val_samples in (None, VAL_SAMPLES):
        train_cfg = TrainConfig(epochs=epochs, patience=patience, min_steps=0,
                                max_train_samples=samples, max_val_samples=val_samples)  # fmt: skip
        started = time.perf_counter()
        trained = train_fold(fold, ModelConfig(), train_cfg, augment=AugmentConfig())
        wall = time.perf_counter() - started
        loss_fn = make_loss(
            train_cfg.loss, train_cfg.class_weights, train_cfg.focal_alpha, train_cfg.focal_gamma
        )
        full, _ = evaluate(trained.model, every, loss_fn, torch.device("cpu"), None)
        history = [round(r["val_loss"], 4) for r in trained.history]
        print(f"validating on {'every window' if val_samples is None else f'{val_samples:,}'}: "
              f"{trained.epochs_run} epochs, best validation loss {trained.best_val_loss:.4f} "
              f"(on the windows validated), the selected model on every validation window in fp32 "
              f"{full:.4f}; {wall:.0f} s, of which training steps {trained.train_steps_s:.0f} s; "
              f"validation losses {history}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and epochs")
    parser.add_argument("--files", action="store_true", help="the loop on files, via Dagster")
    parser.add_argument("--val-effect", action="store_true", help="fold validation sample")
    # As the pipeline runs: a cold fold trains until early stopping, at least patience + 1
    # epochs (16 at the SPEC's patience 15); a warm fold runs wf_model's warm_start_epochs (3).
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--warm-epochs", type=int)
    parser.add_argument("--max-train-samples", type=int)
    parser.add_argument(
        "--folds", type=int, default=6, help="the last N months of the year (>= 2: one warm)"
    )
    parser.add_argument(
        "--months", type=int, help="months of data: --val-effect (4), --files (12, from January)"
    )
    parser.add_argument("--patience", type=int, default=2, help="--val-effect: patience")
    parser.add_argument("--year", type=int, default=2024, help="--files: the symbol-year")
    parser.add_argument(
        "--sample", type=int, default=4096, help="--files: windows timed fp32 vs fast path"
    )
    args = parser.parse_args()
    print(f"load: {os.getloadavg()} on {os.cpu_count()} CPUs; "
          f"device: {'cuda' if torch.cuda.is_available() else 'cpu'}")  # fmt: skip
    if args.files:
        from walk_forward_year import files_year

        overrides = {"epochs": args.epochs, "warm_start_epochs": args.warm_epochs,
                     "max_train_samples": args.max_train_samples}  # fmt: skip
        config = README_COMMAND | {k: v for k, v in overrides.items() if v is not None}
        if args.quick:
            config |= {"window": 64, "epochs": 1, "warm_start_epochs": 1,
                       "max_train_samples": 256, "max_val_samples": 256}  # fmt: skip
        files_year(args.year, args.folds, config, args.sample,
                   months=3 if args.quick else args.months or 12)  # fmt: skip
        print(f"load after: {os.getloadavg()}")
        return
    if args.val_effect:
        validation_effect(args.months or 4, args.epochs or 8, args.patience,
                          args.max_train_samples or 4096)  # fmt: skip
        print(f"load after: {os.getloadavg()}")
        return
    args.epochs = args.epochs or TrainConfig().patience + 1
    args.warm_epochs = args.warm_epochs or 3
    args.max_train_samples = args.max_train_samples or 8192
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
