"""The planted market has a known answer: the ResNet over 48-minute windows finds the planted
pattern, the newest-row baselines do not, and on a pure-noise symbol nobody finds anything.

For a planted and a noise symbol (same synthetic market, ``market.planted``): candles ->
features (month by month, with warm-up) and labels -> ``build_splits`` -> a short, narrow ResNet-18
training (``ml.training.trainer.train``) -> on the test split, the model beside the majority and
logistic (newest row) baselines of ``ml.evaluation.baselines``, and the mean 12-minute return after
the model's LONG signals (p_up > 0.6) against a round trip's costs (0.24%).

    python benchmarks/bench_planted_edge.py                 # seed 0 (a few minutes on 2 cores)
    python benchmarks/bench_planted_edge.py --seeds 0 1 2   # robustness across seeds
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.features.channels import compute_features  # noqa: E402
from resnet_pipeline.features.labels import compute_labels  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402
from resnet_pipeline.ml.data.augment import AugmentConfig  # noqa: E402
from resnet_pipeline.ml.data.dataset import build_splits  # noqa: E402
from resnet_pipeline.ml.data.splits import SplitConfig  # noqa: E402
from resnet_pipeline.ml.data.windows import WindowDataset  # noqa: E402
from resnet_pipeline.ml.evaluation.baselines import (  # noqa: E402
    LogisticBaseline,
    MajorityBaseline,
    last_rows,
)
from resnet_pipeline.ml.evaluation.classification import classification_metrics  # noqa: E402
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.inference import predict_proba  # noqa: E402
from resnet_pipeline.ml.training.train_config import TrainConfig  # noqa: E402
from resnet_pipeline.ml.training.trainer import train  # noqa: E402
from resnet_pipeline.trading.strategy import StrategyConfig  # noqa: E402

PLANTED, NOISE = "PLANTUSDT", "NOISEUSDT"
SHOWN = ("accuracy", "auc_roc_ovr", "precision_up", "precision_down", "macro_f1")


def dataset(source: SyntheticSource, symbol: str, months: int, window: int):
    """Features and labels month by month, as the pipeline stores them, then the splits."""
    features, labels = [], []
    bounds = pd.date_range("2024-01-01", periods=months + 1, freq="MS", tz="UTC")
    for start, end in zip(bounds, bounds[1:], strict=False):
        candles = source.fetch(symbol, start, end)
        history = source.fetch(symbol, start - pd.Timedelta(hours=8), start)
        following = source.fetch(symbol, end, end + pd.Timedelta(hours=1))
        features.append(compute_features(candles, history))
        labels.append(compute_labels(candles, following))
    labels = pd.concat(labels, ignore_index=True)
    splits = build_splits(
        pd.concat(features, ignore_index=True), labels, SplitConfig(window=window)
    )
    return splits, labels


def evaluate(symbol: str, seed: int, args) -> dict:
    started = time.perf_counter()
    source = SyntheticSource(seed, planted_symbols=[PLANTED])
    splits, labels = dataset(source, symbol, args.months, args.window)
    torch.manual_seed(seed)
    model = build_model(ModelConfig(window=args.window, width=args.width))
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_train_samples=args.samples,
        max_val_samples=2048,
        patience=args.epochs,
        min_steps=0,
        seed=seed,
    )
    result = train(
        model,
        WindowDataset(splits, "train", AugmentConfig(), seed=seed),
        WindowDataset(splits, "val"),
        cfg,
    )
    model.load_state_dict(result.best_state)
    trained = time.perf_counter()
    test = splits.test_ends[:: args.test_stride]
    times = pd.to_datetime(splits.timestamps).tz_localize("UTC")
    events = source.planted_events(symbol, times[splits.test_ends[0]], times[-1])
    at_motif = splits.test_ends[np.isin(times[splits.test_ends], events["timestamp"])]
    ends = np.concatenate([test, at_motif])
    y_train = splits.labels[splits.train_ends]
    proba = predict_proba(model, splits.windows(ends))
    logistic = (
        LogisticBaseline(seed=seed)
        .fit(last_rows(splits, splits.train_ends), y_train)
        .predict_proba(last_rows(splits, ends))
    )
    probas = {
        "resnet": proba[: len(test)],
        "majority": MajorityBaseline().fit(None, y_train).predict_proba(test),
        "logistic": logistic[: len(test)],
    }
    up_motif = events.set_index("timestamp").loc[times[at_motif], "direction"].to_numpy() > 0
    future = labels.set_index("timestamp")["future_return"]
    long = probas["resnet"][:, 2] > StrategyConfig().threshold
    return {
        "metrics": {k: classification_metrics(splits.labels[test], p) for k, p in probas.items()},
        "motif_auc": {
            name: float(roc_auc_score(up_motif, p[len(test) :, 2] - p[len(test) :, 0]))
            for name, p in (("resnet", proba), ("logistic", logistic))
        }
        if len(set(up_motif)) == 2
        else None,
        "longs": int(long.sum()),
        "long_return": float(future.reindex(times[test][long]).mean()) if long.any() else None,
        "train_s": trained - started,
        "total_s": time.perf_counter() - started,
        "test": len(test),
        "best_epoch": result.best_epoch,
    }


def report(symbol: str, seed: int, out: dict) -> None:
    cost = 2 * (StrategyConfig().fee_rate + StrategyConfig().slippage_bps / 10_000)
    print(
        f"\n{symbol} seed {seed}: {out['test']} test windows, best epoch {out['best_epoch']}, "
        f"data+training {out['train_s']:.0f} s, total {out['total_s']:.0f} s"
    )
    print(f"  {'metric':<15}" + "".join(f"{name:>10}" for name in out["metrics"]))
    for key in SHOWN:
        values = [m[key] for m in out["metrics"].values()]
        print(
            f"  {key:<15}"
            + "".join(f"{v:>10.4f}" if v is not None else f"{'-':>10}" for v in values)
        )
    if out["motif_auc"]:
        print(
            "  up- vs down-motif at the test split's decision minutes, AUC of p_up - p_down: "
            + ", ".join(f"{k} {v:.3f}" for k, v in out["motif_auc"].items())
        )
    shares = out["metrics"]["resnet"]["predicted_shares"]
    print(f"  resnet predicted shares (Down, Neutral, Up): {np.round(shares, 3).tolist()}")
    ret = out["long_return"]
    print(
        f"  LONG signals (p_up > {StrategyConfig().threshold}): {out['longs']}, mean 12-min "
        f"return {ret * 100 if ret is not None else float('nan'):.3f}% vs round-trip cost "
        f"{cost * 100:.2f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--window", type=int, default=48, help="minutes per window")
    parser.add_argument("--width", type=int, default=32, help="ResNet width (64: the SPEC's)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=6000, help="training windows per epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--test-stride", type=int, default=2, help="every k-th test window")
    parser.add_argument("--symbols", nargs="+", default=[PLANTED, NOISE])
    args = parser.parse_args()
    for seed in args.seeds:
        for symbol in args.symbols:
            report(symbol, seed, evaluate(symbol, seed, args))


if __name__ == "__main__":
    main()
