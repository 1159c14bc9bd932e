"""Experiment cost: 4 variants x 6 monthly folds on a synthetic symbol-year, warm-started,
through the real assets (``experiment_fold`` per fold, then ``experiment_report``).

Prints the wall time, the cost of each fold (cold and warm) and where it went: the training
loop against everything around it (data assembly with the variant's labels, calibration,
the month's predictions, the trees baseline, scores, writes, MLflow, Dagster's own overhead),
and the report. Device: a GPU when present (``training.device: auto``), else the CPU.

    python benchmarks/bench_experiment.py                  # 4 x 6 folds (many minutes on CPU)
    python benchmarks/bench_experiment.py --quick          # a few hours per month: proves it works
    python benchmarks/bench_experiment.py --window 64 --epochs 4 --max-train-samples 4096
    python benchmarks/bench_experiment.py --features       # 3 feature variants x 6 folds
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402

from resnet_pipeline.definitions import build_graph, resources_on  # noqa: E402
from resnet_pipeline.experiments.experiment_file import load_experiment  # noqa: E402
from resnet_pipeline.experiments.trial_keys import report_key, trial_key  # noqa: E402
from resnet_pipeline.features.channels import compute_features  # noqa: E402
from resnet_pipeline.features.labels import compute_labels  # noqa: E402
from resnet_pipeline.layout import Layout  # noqa: E402
from resnet_pipeline.market.synthetic import SyntheticSource  # noqa: E402
from resnet_pipeline.ml.folds.monthly_folds import add_months  # noqa: E402
from resnet_pipeline.partitions import (  # noqa: E402
    EXPERIMENT_MONTHS,
    EXPERIMENT_REPORTS,
    EXPERIMENT_TRIALS,
    fold_month_key,
)
from resnet_pipeline.resources.candle_source import SyntheticCandles  # noqa: E402
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory  # noqa: E402
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking  # noqa: E402
from resnet_pipeline.settings import load_settings  # noqa: E402
from resnet_pipeline.storage import write_parquet_atomic  # noqa: E402

SYMBOL = "BTCUSDT"
OUTSIDE = ("read", "data", "calibration", "predict", "trees", "scores", "write", "mlflow")


def store_year(
    root: Path,
    first: date,
    months: int,
    hours: float | None,
    symbol: str = SYMBOL,
    planted: bool = False,
) -> None:
    """raw_candles, features and labels of ``months`` months as the pipeline stores them
    (features with the previous candles as warm-up, labels with the next month's head;
    ``hours``: of each month, None: the whole month; ``planted``: the planted pattern)."""
    source = SyntheticSource(planted_symbols=[symbol] if planted else [])
    layout = Layout.at(root)
    for i in range(months):
        month = add_months(first, i)
        start = pd.Timestamp(month, tz="UTC")
        end = pd.Timestamp(add_months(month, 1), tz="UTC")
        if hours is not None:
            end = start + pd.Timedelta(hours=hours)
        candles = source.fetch(symbol, start, end)
        history = source.fetch(symbol, start - pd.Timedelta(hours=8), start)
        following = source.fetch(symbol, end, end + pd.Timedelta(hours=1))
        frames = (candles, compute_features(candles, history), compute_labels(candles, following))
        for asset, frame in zip(("raw_candles", "features", "labels"), frames, strict=True):
            write_parquet_atomic(frame, layout.partition(asset, symbol, month))


# ``--features``: three feature variants; SPEC reads the stored features asset, the others
# compute their channels inside each fold from the stored raw candles.
FEATURE_VARIANTS = """
variants:
  - name: spec
  - name: multi-timeframe
    features: {channels: [spec, multi_timeframe]}
  - name: calendar
    features: {channels: [spec, calendar]}
"""
GRID = """
grid:
  labels: {forward_window: [6, 12]}
  strategy: {threshold: [0.55, 0.6]}
"""


def experiment_text(args: argparse.Namespace, months: list[date]) -> str:
    listed = ", ".join(f"{m:%Y-%m}" for m in months)
    variants = FEATURE_VARIANTS if args.features else GRID
    return f"""
months: [{listed}]
symbols: [{SYMBOL}]
base:
  folds: {{window: {args.window}, warm_start: true, warm_start_epochs: {args.warm_epochs},
          min_train_samples: 16}}
  training: {{epochs: {args.epochs}, max_train_samples: {args.max_train_samples},
             max_val_samples: {args.max_val_samples}, patience: {args.epochs}}}
{variants}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4, help="a cold fold's epochs")
    parser.add_argument("--warm-epochs", type=int, default=1)
    parser.add_argument("--max-train-samples", type=int, default=4096)
    parser.add_argument("--max-val-samples", type=int, default=2048)
    parser.add_argument("--mlflow", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--quick", action="store_true", help="6 hours per month, window 32")
    parser.add_argument(
        "--features",
        action="store_true",
        help="3 feature variants (stored SPEC features, and two computed in each fold): where "
        "should the extra channels be computed?",
    )
    args = parser.parse_args()
    hours = 6 if args.quick else None
    if args.quick:
        args.window, args.epochs, args.max_train_samples, args.max_val_samples = 32, 2, 64, 64
    device = "cuda" if torch.cuda.is_available() else "cpu"
    root = Path(tempfile.mkdtemp(prefix="bench-experiment-"))
    first = date(2024, 1, 1)
    months = [add_months(first, 12 - args.folds + i) for i in range(args.folds)]
    started = time.perf_counter()
    store_year(root / "data", first, 12, hours)
    print(f"symbol-year stored in {time.perf_counter() - started:.0f} s ({root})")
    (root / "experiments").mkdir()
    (root / "experiments" / "bench.yaml").write_text(experiment_text(args, months))
    directory = ExperimentDirectory(directory=str(root / "experiments"), symbols=[SYMBOL])
    experiment = load_experiment(root / "experiments" / "bench.yaml", [SYMBOL])
    resources = resources_on(
        str(root / "data"), SyntheticCandles(), experiments=directory,
        mlflow=MlflowTracking(enabled=args.mlflow),
    )  # fmt: skip
    instance = dg.DagsterInstance.ephemeral()
    graph = {a.key.to_user_string(): a for a in build_graph(load_settings({})).assets or []}
    experiment_fold, experiment_report = graph["experiment_fold"], graph["experiment_report"]
    trials = [trial_key("bench", SYMBOL, v.name) for v in experiment.variants]
    instance.add_dynamic_partitions(EXPERIMENT_TRIALS.name, trials)
    instance.add_dynamic_partitions(EXPERIMENT_REPORTS.name, [report_key("bench", SYMBOL)])
    instance.add_dynamic_partitions(EXPERIMENT_MONTHS.name, [fold_month_key(m) for m in months])
    print(
        f"{len(trials)} variants x {len(months)} folds on {device}, window {args.window}, "
        f"{args.epochs} cold / {args.warm_epochs} warm epochs of <= {args.max_train_samples}"
    )
    rows, total = [], time.perf_counter()
    for variant, key in zip(experiment.variants, trials, strict=True):
        for month in months:
            began = time.perf_counter()
            dg.materialize(
                [experiment_fold], partition_key=f"{month:%Y-%m-%d}|{key}",
                resources=resources, instance=instance,
            )  # fmt: skip
            wall = time.perf_counter() - began
            folder = Layout.at(root / "data").experiment("bench", SYMBOL)
            info_path = folder.trial(variant.config.config_hash).fold(month).info
            info = json.loads(Path(str(info_path)).read_text())
            seconds = info["seconds"]
            rows.append({"variant": variant.name, "month": f"{month:%Y-%m}",
                         "start": info["start"].split(" ")[0], "wall_s": wall, **seconds,
                         "dagster": wall - sum(seconds.values())})  # fmt: skip
            line = f"  {variant.name:<38} {month:%Y-%m} {rows[-1]['start']:<5} {wall:6.1f} s"
            print(f"{line} (train {seconds['train']:.1f}, predict {seconds['predict']:.1f})")
    folds_s = time.perf_counter() - total
    began = time.perf_counter()
    dg.materialize(
        [experiment_report], partition_key=report_key("bench", SYMBOL),
        resources=resources, instance=instance,
    )  # fmt: skip
    report_s = time.perf_counter() - began
    frame = pd.DataFrame(rows)
    outside = frame[[c for c in OUTSIDE if c in frame] + ["dagster"]].sum()
    wall = folds_s + report_s
    print(f"\nwall time {wall:.0f} s: folds {folds_s:.0f} s, report {report_s:.1f} s")
    for start, group in frame.groupby("start"):
        print(f"per fold, {start}: {group['wall_s'].mean():.1f} s mean over {len(group)} "
              f"(training {group['train'].mean():.1f} s)")  # fmt: skip
    spent = {name: float(v) for name, v in outside.items()} | {"report": report_s}
    share = sum(spent.values()) / wall
    print(f"outside training: {share:.0%} of the wall time")
    for name, seconds in spent.items():
        print(f"  {name:<12} {seconds:7.1f} s  {seconds / wall:6.1%}")
    if args.features:
        feature_placement(frame)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def feature_placement(frame: pd.DataFrame) -> None:
    """What computing channels inside each fold costs beside reading stored ones: the data
    phase of the computed variants against the SPEC variant's (which reads the stored
    ``features`` asset, as a stored asset of extra channels would be read)."""
    frame = frame.assign(data=frame["read"].fillna(0) + frame["data"])  # months read + cut
    data = frame.groupby("variant", sort=False)[["data", "wall_s"]].mean()
    stored = data.loc["spec", "data"]
    print("\nwhere the channels are computed (data phase per fold, mean):")
    for variant, row in data.iterrows():
        extra = row["data"] - stored
        print(
            f"  {variant:<16} data {row['data']:5.2f} s of a {row['wall_s']:5.1f} s fold; "
            f"beyond reading stored features {extra:+5.2f} s ({extra / row['wall_s']:+.1%}): "
            "the most a stored asset could save per fold"
        )


if __name__ == "__main__":
    main()
