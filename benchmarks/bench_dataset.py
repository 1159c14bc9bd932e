"""One symbol-year of minutes: build the splits, then iterate one epoch of training windows.

Prints, each phase in a fresh process so peaks do not mix:
- build: wall time, and peak RSS above the interpreter baseline / feature matrix bytes;
- epoch: loader throughput (samples/s, with and without augmentation), peak RSS above the
  baseline / matrix bytes (target < 3x: windows are views, never a [N, 15, 256] copy), and the
  ratio of loader throughput to ResNet-18-1D training throughput measured in the same run
  (target >= 10x: the loader never starves training).

    python benchmarks/bench_dataset.py [--small]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_build(days: int, folder: str) -> dict:
    import pandas as pd

    from resnet_pipeline.features.channels import compute_features
    from resnet_pipeline.features.labels import compute_labels
    from resnet_pipeline.market.synthetic import SyntheticSource
    from resnet_pipeline.ml.dataset import build_splits

    start = pd.Timestamp("2024-01-01", tz="UTC")
    candles = SyntheticSource().fetch("BTCUSDT", start, start + pd.Timedelta(days=days))
    features, labels = compute_features(candles), compute_labels(candles)
    del candles
    baseline = rss_mb()
    started = time.perf_counter()
    splits = build_splits(features, labels)
    seconds = time.perf_counter() - started
    splits.save(folder)
    return {
        "rows": len(splits.matrix),
        "matrix_mb": splits.matrix.nbytes / 2**20,
        "build_s": seconds,
        "build_peak_above_baseline_mb": rss_mb() - baseline,
        "train_samples": len(splits.train_ends),
    }


def phase_epoch(folder: str, max_samples: int | None) -> dict:
    import torch

    from resnet_pipeline.ml.augment import AugmentConfig
    from resnet_pipeline.ml.dataset import DatasetSplits, WindowDataset, make_loader
    from resnet_pipeline.ml.resnet import build_model

    torch.set_num_threads(2)
    model = build_model()
    optimizer = torch.optim.AdamW(model.parameters())
    baseline = rss_mb()
    splits = DatasetSplits.load(folder)
    out = {}
    for name, augment in (("plain", None), ("augmented", AugmentConfig())):
        dataset = WindowDataset(splits, "train", augment)
        loader = make_loader(dataset, 64, shuffle=True, num_samples=max_samples)
        started, count = time.perf_counter(), 0
        for _, y in loader:
            count += len(y)
        out[f"loader_{name}_samples_per_s"] = count / (time.perf_counter() - started)
        out["epoch_samples"] = count
    out["epoch_peak_above_baseline_mb"] = rss_mb() - baseline
    x, y = next(iter(make_loader(WindowDataset(splits, "train"), 64, shuffle=True)))
    for step in range(8):
        if step == 3:
            started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out["model_train_samples_per_s"] = 5 * 64 / (time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="31 days instead of 365")
    parser.add_argument("--phase", choices=("build", "epoch"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--max-samples", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "build":
        print(json.dumps(phase_build(31 if args.small else 365, args.folder)))
        return
    if args.phase == "epoch":
        print(json.dumps(phase_epoch(args.folder, args.max_samples)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = str(Path(tmp) / "BTCUSDT")

        def run(*extra: str) -> dict:
            cmd = [sys.executable, __file__, "--folder", folder, *extra]
            return json.loads(
                subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            )

        build = run("--phase", "build", *(["--small"] if args.small else []))
        epoch = run("--phase", "epoch")
    matrix = build["matrix_mb"]
    print(
        f"rows {build['rows']:,}, feature matrix {matrix:.1f} MB, "
        f"{build['train_samples']:,} training samples"
    )
    build_peak = build["build_peak_above_baseline_mb"]
    print(
        f"build_splits: {build['build_s']:.2f} s, peak RSS +{build_peak:.0f} MB "
        f"({build_peak / matrix:.1f}x the matrix)"
    )
    print(
        f"one epoch: peak RSS +{epoch['epoch_peak_above_baseline_mb']:.0f} MB "
        f"({epoch['epoch_peak_above_baseline_mb'] / matrix:.2f}x the matrix; target < 3x)"
    )
    model = epoch["model_train_samples_per_s"]
    for name in ("plain", "augmented"):
        rate = epoch[f"loader_{name}_samples_per_s"]
        print(
            f"loader ({name}): {rate:,.0f} samples/s = {rate / model:.1f}x ResNet-18-1D training "
            f"({model:,.0f} samples/s; target >= 10x)"
        )


if __name__ == "__main__":
    main()
