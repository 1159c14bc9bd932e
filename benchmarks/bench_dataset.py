"""One symbol-year of minutes: build the splits, then iterate one epoch of training windows.

Three processes, so peaks do not mix: ``prepare`` computes synthetic features and labels and
writes them as Parquet (what the asset reads); ``build`` reads them and runs build_splits +
save; ``epoch`` loads the dataset (memory-mapped) and iterates one epoch of training windows,
plain and augmented, then times ResNet-18-1D training steps (forward + backward + AdamW on
[64, 15, 256]) in the same process. Memory is the peak RSS above the RSS just before the
measured phase (Linux: VmHWM is reset through /proc/self/clear_refs), against the feature
matrix's size; targets: epoch < 3x (windows are views, never a [N, 15, 256] copy) and the
loader >= 10x the model's training throughput.

    python benchmarks/bench_dataset.py [--small]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak() -> float:
    """Reset the peak RSS to the current RSS; returns the current RSS in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def peak_mb() -> float:
    return _status_mb("VmHWM")


def phase_prepare(days: int, folder: Path) -> dict:
    import pandas as pd

    from resnet_pipeline.features.channels import compute_features
    from resnet_pipeline.features.labels import compute_labels
    from resnet_pipeline.market.synthetic import SyntheticSource

    start = pd.Timestamp("2024-01-01", tz="UTC")
    started = time.perf_counter()
    candles = SyntheticSource().fetch("BTCUSDT", start, start + pd.Timedelta(days=days))
    compute_features(candles).to_parquet(folder / "features.parquet")
    compute_labels(candles).to_parquet(folder / "labels.parquet")
    return {"rows": len(candles), "prepare_s": time.perf_counter() - started}


def phase_build(folder: Path) -> dict:
    import pandas as pd

    from resnet_pipeline.ml.data.dataset import build_splits

    features = pd.read_parquet(folder / "features.parquet")
    labels = pd.read_parquet(folder / "labels.parquet")
    baseline = reset_peak()
    started = time.perf_counter()
    splits = build_splits(features, labels)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    splits.save(folder / "BTCUSDT")
    return {
        "rows": len(splits.matrix),
        "matrix_mb": splits.matrix.nbytes / 2**20,
        "build_s": build_s,
        "save_s": time.perf_counter() - started,
        "build_above_baseline_mb": peak_mb() - baseline,
        "build_peak_mb": peak_mb(),
        "train_samples": len(splits.train_ends),
        "stats": {k: v for k, v in vars(splits.stats).items() if k != "purged"},
    }


def phase_epoch(folder: Path, max_samples: int | None, model_steps: int) -> dict:
    import torch

    from resnet_pipeline.ml.data.augment import AugmentConfig
    from resnet_pipeline.ml.data.dataset import DatasetSplits
    from resnet_pipeline.ml.data.windows import WindowDataset, make_loader
    from resnet_pipeline.ml.model.model_config import ModelConfig
    from resnet_pipeline.ml.model.resnet import build_model

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = build_model(ModelConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    baseline = reset_peak()
    splits = DatasetSplits.load(folder / "BTCUSDT")
    out: dict = {}
    for name, augment in (("plain", None), ("augmented", AugmentConfig())):
        dataset = WindowDataset(splits, "train", augment)
        loader = make_loader(dataset, 64, shuffle=True, num_samples=max_samples)
        started, count = time.perf_counter(), 0
        for _, y in loader:
            count += len(y)
        out[f"loader_{name}_samples_per_s"] = count / (time.perf_counter() - started)
        out["epoch_samples"] = count
    out["epoch_above_baseline_mb"] = peak_mb() - baseline
    out["epoch_peak_mb"] = peak_mb()

    model.train()
    x, y = next(iter(make_loader(WindowDataset(splits, "train"), 64, shuffle=True)))
    warmup = 2
    for step in range(warmup + model_steps):
        if step == warmup:
            started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out["model_train_samples_per_s"] = model_steps * 64 / (time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="31 days instead of 365")
    parser.add_argument("--phase", choices=("prepare", "build", "epoch"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--max-samples", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        folder = Path(args.folder)
        result = {
            "prepare": lambda: phase_prepare(31 if args.small else 365, folder),
            "build": lambda: phase_build(folder),
            "epoch": lambda: phase_epoch(folder, args.max_samples, 4 if args.small else 8),
        }[args.phase]()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:

        def run(phase: str) -> dict:
            cmd = [sys.executable, __file__, "--phase", phase, "--folder", tmp]
            cmd += ["--small"] if args.small else []
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            return json.loads(done.stdout.strip().splitlines()[-1])

        prepared = run("prepare")
        build = run("build")
        epoch = run("epoch")
    matrix = build["matrix_mb"]
    print(
        f"rows {build['rows']:,} (synthetic features {prepared['prepare_s']:.1f} s), feature "
        f"matrix {matrix:.1f} MB, {build['train_samples']:,} training samples; {build['stats']}"
    )
    print(
        f"build_splits: {build['build_s']:.2f} s (+ save {build['save_s']:.2f} s), peak RSS "
        f"+{build['build_above_baseline_mb']:.0f} MB over the loaded frames "
        f"({build['build_above_baseline_mb'] / matrix:.2f}x the matrix; process peak "
        f"{build['build_peak_mb']:.0f} MB)"
    )
    above = epoch["epoch_above_baseline_mb"]
    print(
        f"one epoch ({epoch['epoch_samples']:,} windows, twice): peak RSS +{above:.0f} MB over "
        f"the interpreter + torch + model ({above / matrix:.2f}x the matrix; target < 3x; "
        f"process peak {epoch['epoch_peak_mb']:.0f} MB)"
    )
    model = epoch["model_train_samples_per_s"]
    for name in ("plain", "augmented"):
        rate = epoch[f"loader_{name}_samples_per_s"]
        print(
            f"loader ({name}): {rate:,.0f} samples/s = {rate / model:.1f}x ResNet-18-1D training "
            f"on this CPU ({model:,.0f} samples/s; target >= 10x)"
        )


if __name__ == "__main__":
    main()
