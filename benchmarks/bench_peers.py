"""Peers side by side: our ResNet and its training against tsai's ``ResNet`` on the same windows.

tsai (the time-series library a researcher would pick instead) is not a dependency of the
pipeline: its pins clash with ours (tsai 1.0.1 wants scikit-learn < 1.8), so this benchmark
builds it an environment of its own (``--peer-venv``, created on first use: pyproject.toml's
``peers`` extra and ``torch===<our version>``) and runs tsai's side there as a subprocess
(``peers_tsai_side.py``), ours here, each in a fresh process, on windows saved once as
``.npy`` files (``peers_loop``):

- a synthetic symbol-quarter of the planted market (``market.planted``: an edge only the
  sequence of candles shows), windows of ``--window`` rows, evenly spaced samples of each split;
- UCR GunPoint as pyts (a tsai dependency) ships it: 50 training series of 150 steps, its
  150 test series split 50 validation / 100 test. Nothing is downloaded at run time.

For each seed, interleaved: ours (``ml.training.trainer.train`` on ``ResNet1D``, fp32), tsai's
``ResNet`` in a plain PyTorch loop with our trainer's recipe (AdamW, cosine annealing, the
same batch size, epochs, class weights, threads, best weights by validation loss), and tsai's
own path (``ts_learner(...).fit_one_cycle``, its loader, the last epoch's weights). Printed side
by side: training samples/s, inference samples/s (the same fp32 loop at batch 512), wall time
to the same number of epochs, peak memory of each process (``ru_maxrss``), test accuracy and
log loss, with their spread over seeds, and the load average beside each.

    python benchmarks/bench_peers.py                  # both data sets, 3 seeds
    python benchmarks/bench_peers.py --small          # a quick pass that proves it works
    python benchmarks/bench_peers.py --control        # + our ResNet1D in the peer's torch
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from peers_loop import (  # noqa: E402
    RESULT_PREFIX,
    Recipe,
    Windows,
    emit,
    forward_gflop,
    load_windows,
    peak_rss_mib,
    predict_proba,
    save_windows,
    scores,
    seed_everything,
)

from resnet_pipeline.ml.training.device import fixed_threads  # noqa: E402

PYPROJECT = HERE.parent / "pyproject.toml"
PEER_SIDE = HERE / "peers_tsai_side.py"
CACHE = Path.home() / ".cache" / "resnet_pipeline"
PLANTED = "PLANTUSDT"
SYNTHETIC_CLASS_WEIGHTS = (1.2, 0.8, 1.2)  # TrainConfig's default for Down/Neutral/Up


class ArrayWindows(Dataset):
    """Saved windows as our loader draws them: one gather per batch (``__getitems__``)."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.asarray(indices, np.int64)
        return torch.from_numpy(self.x[idx]), torch.from_numpy(self.y[idx])


def evenly_spaced(ends: np.ndarray, count: int) -> np.ndarray:
    """``count`` of ``ends`` spread over the whole split (all of them when fewer)."""
    if count >= len(ends):
        return ends
    return ends[np.linspace(0, len(ends) - 1, count).round().astype(np.int64)]


def synthetic_windows(days: int, window: int, counts: tuple[int, int, int]) -> Windows:
    """A planted symbol's ``days`` from 2024-01-01 through the pipeline's features, labels
    and splits; ``counts`` evenly spaced windows of train, val and test."""
    import pandas as pd

    from resnet_pipeline.features.channels import compute_features
    from resnet_pipeline.features.labels import compute_labels
    from resnet_pipeline.market.synthetic import SyntheticSource
    from resnet_pipeline.ml.data.dataset import build_splits
    from resnet_pipeline.ml.data.splits import SplitConfig

    start = pd.Timestamp("2024-01-01", tz="UTC")
    candles = SyntheticSource(0, planted_symbols=[PLANTED]).fetch(
        PLANTED, start, start + pd.Timedelta(days=days)
    )
    splits = build_splits(
        compute_features(candles), compute_labels(candles), SplitConfig(window=window)
    )
    arrays = {}
    for split, count in zip(("train", "val", "test"), counts, strict=True):
        ends = evenly_spaced(splits.ends(split), count)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = splits.windows(ends), splits.labels[ends]
    return Windows(**arrays)


def train_config(recipe: Recipe, precision: str):
    """Our trainer on the recipe: every window each epoch, all validation windows, no early
    stopping before the last epoch, fixed threads on the CPU."""
    from resnet_pipeline.ml.training.train_config import TrainConfig

    return TrainConfig(
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        eta_min=recipe.eta_min,
        class_weights=recipe.class_weights,
        seed=recipe.seed,
        num_threads=recipe.threads,
        device="cpu",
        precision=precision,
        epoch_fraction=1.0,
        max_val_samples=None,
        patience=recipe.epochs,
        min_steps=0,
        progress_every_seconds=1e9,
    )


def our_side(directory: Path, recipe: Recipe, precision: str, width: int) -> None:
    """Our path, in this process: ``ResNet1D`` trained by ``ml.training.trainer.train``."""
    from resnet_pipeline.ml.model.model_config import ModelConfig
    from resnet_pipeline.ml.model.resnet import build_model
    from resnet_pipeline.ml.training.trainer import train

    windows = load_windows(directory)
    seed_everything(recipe.seed, recipe.threads)
    imported_mib = peak_rss_mib()
    model = build_model(
        ModelConfig(
            in_channels=windows.channels,
            num_classes=windows.classes,
            window=windows.length,
            width=width,
        )
    )
    result = train(
        model,
        ArrayWindows(windows.x_train, windows.y_train),
        ArrayWindows(windows.x_val, windows.y_val),
        train_config(recipe, precision),
    )
    proba, predict_seconds = predict_proba(model, windows.x_test)
    emit(
        {
            "train_seconds": result.train_seconds,
            "train_samples": round(result.train_samples_per_s * result.train_seconds),
            "wall_seconds": result.wall_s,
            "best_epoch": result.best_epoch,
            **scores(proba, windows.y_test),
            "predict_seconds": predict_seconds,
            "predicted": len(windows.x_test),
            "threads": result.threads,
            "params": sum(p.numel() for p in model.parameters()),
            "gflop": forward_gflop(model, windows.channels, windows.length),
            "imports_rss_mib": imported_mib,
            "torch": torch.__version__,
            "precision": result.precision,
        }
    )


def peer_requirements() -> list[str]:
    """pyproject.toml's ``peers`` extra: what the peer environment installs."""
    with PYPROJECT.open("rb") as file:
        return tomllib.load(file)["project"]["optional-dependencies"]["peers"]


def peer_python(venv: Path) -> Path:
    """The peer environment's interpreter, created and installed on first use.

    tsai imports torchvision (through fastai), and the index's torchvision is built against
    the index's torch: a CPU-only build (``2.13.0+cpu``, from a local wheel directory or
    PyTorch's CPU index) breaks its import, so torch is pinned with ``===`` to the plain
    version, as ``pip install tsai`` gets it (on Linux, a CUDA build that also runs on CPUs)."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import tsai.learner, tsai.models.ResNet, pyts.datasets"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    if not python.exists():
        print(f"creating the peer environment {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    ours = torch.__version__.split("+")[0]
    install = [str(python), "-m", "pip", "install", "-q", *peer_requirements(), f"torch==={ours}"]
    print("installing: " + " ".join(install[3:]), flush=True)
    subprocess.run(install, check=True)
    check = subprocess.run(probe, capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(
            f"the peer environment {venv} cannot import tsai after installing "
            f"{' '.join(install[5:])}: {check.stderr.strip().splitlines()[-1:]}. tsai needs "
            "torchvision built for the same torch; remove the folder and run again, or pass "
            "--peer-venv a folder where `pip install tsai==1.0.1` imports"
        )
    return python


def run_side(label: str, command: list[str]) -> dict:
    """One side in a fresh process; its result line, or its error in full."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def describe(label: str, r: dict) -> str:
    return (
        f"  {label:<28} train {r['train_samples'] / r['train_seconds']:8,.0f} samples/s | "
        f"inference {r['predicted'] / r['predict_seconds']:8,.0f}/s | "
        f"wall {r['wall_seconds']:6.1f} s | peak {r['peak_rss_mib']:6,.0f} MiB "
        f"(after imports {r['imports_rss_mib']:,.0f}) | "
        f"acc {r['accuracy']:.3f} log loss {r['log_loss']:.3f} (best epoch {r['best_epoch']}) | "
        f"threads {r['threads']} | load {', '.join(f'{v:.2f}' for v in r['load'])}"
        + (
            f" | tsai get_X_preds {r['predicted'] / r['tsai_predict_seconds']:,.0f}/s"
            if "tsai_predict_seconds" in r
            else ""
        )
    )


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:,.3f} +- {sd:,.3f}" if abs(mean) < 10 else f"{mean:,.0f} +- {sd:,.0f}"


def summarize(results: dict[str, list[dict]], ours: str) -> None:
    """Mean +- standard deviation over seeds per side, and our ratios seed by seed."""
    metrics = {
        "train samples/s": lambda r: r["train_samples"] / r["train_seconds"],
        "inference samples/s": lambda r: r["predicted"] / r["predict_seconds"],
        "wall s": lambda r: r["wall_seconds"],
        "peak MiB": lambda r: r["peak_rss_mib"],
        "test accuracy": lambda r: r["accuracy"],
        "test log loss": lambda r: r["log_loss"],
    }
    print(f"  {'':<22}" + "".join(f"{label:>28}" for label in results))
    for name, value in metrics.items():
        cells = [spread([value(r) for r in runs]) for runs in results.values()]
        print(f"  {name:<22}" + "".join(f"{cell:>28}" for cell in cells))
    shape = [f"{runs[0]['params']:,} / {runs[0]['gflop']:.3f}" for runs in results.values()]
    print(f"  {'params / fwd GFLOP':<22}" + "".join(f"{cell:>28}" for cell in shape))
    rate = metrics["train samples/s"]
    for label, runs in results.items():
        if label == ours:
            continue
        ratios = [rate(a) / rate(b) for a, b in zip(results[ours], runs, strict=True)]
        acc = [r["accuracy"] for r in results[ours]], [r["accuracy"] for r in runs]
        diff = statistics.fmean(acc[0]) - statistics.fmean(acc[1])
        sds = [statistics.stdev(a) if len(a) > 1 else 0.0 for a in acc]
        print(
            f"  {ours} / {label}: training samples/s {', '.join(f'{x:.2f}x' for x in ratios)} "
            f"(seed by seed; target >= 1.2x); accuracy {diff:+.3f} against spreads "
            f"{sds[0]:.3f} / {sds[1]:.3f}: "
            + ("within the seeds' spread" if abs(diff) <= sum(sds) else "OUTSIDE the spread")
        )


def our_command(directory: Path, precision: str, width: int):
    def command(recipe: Recipe) -> list[str]:
        return [sys.executable, __file__, "--side", str(directory), recipe.to_json(),
                "--precision", precision, "--width", str(width)]  # fmt: skip

    return command


def peer_command(peer: Path, directory: Path, path: str):
    def command(recipe: Recipe) -> list[str]:
        return [str(peer), str(PEER_SIDE), "train", str(directory), recipe.to_json(), path]

    return command


def bench(name: str, directory: Path, recipes: list[Recipe], peer: Path, args) -> None:
    print(f"\n{name}: {directory} ({load_windows(directory).x_train.shape} training windows); "
          f"recipe {recipes[0].to_json()} (seed varies)", flush=True)  # fmt: skip
    ours = "ours (trainer, fp32)"
    sides = {
        ours: our_command(directory, "fp32", args.width),
        "tsai ResNet, plain loop": peer_command(peer, directory, "plain"),
        "tsai fit_one_cycle": peer_command(peer, directory, "learner"),
    }
    if args.auto:
        sides["ours (trainer, auto)"] = our_command(directory, "auto", args.width)
    if args.control:
        sides["ours, plain, peer's torch"] = peer_command(peer, directory, "ours-plain")
    results: dict[str, list[dict]] = {label: [] for label in sides}
    for recipe in recipes:
        print(f" seed {recipe.seed}, load before {os.getloadavg()}", flush=True)
        for label, command in sides.items():
            result = run_side(label, command(recipe))
            results[label].append(result)
            print(describe(label, result), flush=True)
    summarize(results, ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a quick pass: tiny runs, 2 seeds")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", choices=("synthetic", "gunpoint", "both"), default="both")
    parser.add_argument("--window", type=int, default=64, help="synthetic window rows")
    parser.add_argument(
        "--windows", type=int, default=1024, help="synthetic training and test windows (val: half)"
    )
    parser.add_argument("--width", type=int, default=64, help="our ModelConfig.width")
    parser.add_argument("--epochs", type=int, default=None, help="override both recipes' epochs")
    parser.add_argument("--auto", action="store_true", help="+ ours in precision auto")
    parser.add_argument("--control", action="store_true", help="+ ours in the peer's torch")
    parser.add_argument("--peer-venv", type=Path, default=CACHE / "peers-venv")
    parser.add_argument("--cache", type=Path, default=CACHE / "peers-data", help="windows")
    parser.add_argument("--side", nargs=2, metavar=("DIR", "RECIPE"), help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        our_side(Path(args.side[0]), Recipe.from_json(args.side[1]), args.precision, args.width)
        return
    threads = fixed_threads()
    print(
        f"load: {os.getloadavg()} on {os.cpu_count()} CPUs; threads {threads} on every side "
        f"(our default: the physical cores this process may use); torch {torch.__version__}"
    )
    peer = peer_python(args.peer_venv)
    seeds = range(2 if args.small else args.seeds)
    if args.data in ("synthetic", "both"):
        n = 512 if args.small else args.windows
        counts = (n, n // 2, n)
        directory = args.cache / f"synthetic-w{args.window}-{'-'.join(map(str, counts))}"
        if not (directory / "y_test.npy").exists():
            save_windows(directory, synthetic_windows(91, args.window, counts))
        epochs = args.epochs or (2 if args.small else 3)
        recipes = [Recipe(epochs, 64, 1e-3, 1e-4, 1e-6, SYNTHETIC_CLASS_WEIGHTS, s, threads)
                   for s in seeds]  # fmt: skip
        bench("synthetic symbol-quarter (planted)", directory, recipes, peer, args)
    if args.data in ("gunpoint", "both"):
        directory = args.cache / "gunpoint"
        if not (directory / "y_test.npy").exists():
            subprocess.run(
                [str(peer), str(PEER_SIDE), "gunpoint", str(directory)],
                check=True,
            )
        epochs = args.epochs or (5 if args.small else 30)
        recipes = [Recipe(epochs, 16, 1e-3, 1e-4, 1e-6, None, s, threads) for s in seeds]
        bench("UCR GunPoint (pyts's copy)", directory, recipes, peer, args)
    print(f"\nload after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
