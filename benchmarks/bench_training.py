"""ResNet-18-1D training: throughput, the time a symbol-year takes, behaviour under load.

Prints, in one run:
- samples/s of the real loop (``ml.training.trainer.train`` + the windowed loader, augmentation on)
  against the bare step (forward + backward + AdamW on one pre-made batch), fp32 and bf16,
  and their ratio (target >= 0.9);
- the bare step at larger batches and under ``torch.compile`` (speed only: whether a larger
  batch with a scaled LR keeps validation loss is a training experiment, see the README);
- the wall time to early stopping on a synthetic symbol-year with the default epoch budget,
  extrapolated from measured epoch times (said so in the output; target < 1 hour);
- the share of the loop's time spent gathering and augmenting batches (on a GPU: the share
  of GPU time spent waiting for the loader, which runs in the training process);
- throughput with a second CPU-bound process running on the same cores, against half the
  idle figure (target >= 0.8), with the default (fixed: every core this process may use),
  with threads following the load (``num_threads`` 0) and with one thread;
- the same throughput figures on a CUDA GPU when one is present (samples/s fp32 and bf16,
  the ratio to the bare step, the symbol-year estimate, the loader's share).

``--epoch-budget`` runs instead the experiment behind the default ``epoch_fraction``: the
same number of training samples drawn as few full or many sampled epochs, with early
stopping, on the synthetic market (window 64 to fit a shared 2-core machine).

``--neighbour`` runs only the neighbour figures. ``--precision-check`` runs the check behind
``precision: auto``: the same training (seeds 0 and 1) in fp32 and in bf16 on the synthetic
market, each selected model's loss on every validation window in fp32, beside the samples/s
of each.

    python benchmarks/bench_training.py                    # the full benchmark (minutes)
    python benchmarks/bench_training.py --small            # a quick pass that proves it works
    python benchmarks/bench_training.py --epoch-budget     # the epoch_fraction experiment
    python benchmarks/bench_training.py --optimizer-ab     # fused against foreach AdamW
    python benchmarks/bench_training.py --precision-check  # bf16 vs fp32 validation loss
    python benchmarks/bench_training.py --neighbour        # only the neighbour figures
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.ml.data.augment import AugmentConfig  # noqa: E402
from resnet_pipeline.ml.data.windows import WindowDataset  # noqa: E402
from resnet_pipeline.ml.model.model_config import ModelConfig  # noqa: E402
from resnet_pipeline.ml.model.resnet import build_model  # noqa: E402
from resnet_pipeline.ml.training.device import (  # noqa: E402
    FOLLOW_LOAD,
    allowed_cpus,
    configure_threads,
    resolve_precision,
)
from resnet_pipeline.ml.training.losses import make_loss  # noqa: E402
from resnet_pipeline.ml.training.train_config import TrainConfig  # noqa: E402
from resnet_pipeline.ml.training.trainer import evaluate, train, train_loader, val_loader  # noqa: E402

YEAR_MINUTES = 366 * 24 * 60


def bare_step_rate(
    batch: torch.Tensor,
    labels: torch.Tensor,
    precision: str,
    steps: int,
    device: str = "cpu",
    compiled: bool = False,
) -> float:
    torch.manual_seed(0)
    model = build_model().to(device)
    step_model = torch.compile(model) if compiled else model
    batch, labels = batch.to(device), labels.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.2, 0.8, 1.2], device=device))
    for step in range(steps + 2):
        if step == 2:  # after warm-up (and compilation)
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = step_model(batch)
        loss = loss_fn(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * len(batch) / (time.perf_counter() - started)


def loop_result(splits, precision: str, samples: int, device: str = "cpu", threads=None):
    torch.manual_seed(0)
    cfg = TrainConfig(
        epochs=1,
        precision=precision,
        max_train_samples=samples,
        max_val_samples=64,
        device=device,
        num_threads=threads,
    )
    return train(
        build_model(),
        WindowDataset(splits, "train", AugmentConfig()),
        WindowDataset(splits, "val"),
        cfg,
    )


def loop_rate(splits, precision: str, samples: int, device: str = "cpu", threads=None) -> float:
    return loop_result(splits, precision, samples, device, threads).train_samples_per_s


def loader_rate(splits, samples: int) -> float:
    """Samples/s of the training loader alone (gather + augmentation), as the loop draws."""
    cfg = TrainConfig(max_train_samples=samples)
    loader = train_loader(WindowDataset(splits, "train", AugmentConfig()), cfg, 0, False, False)
    started = time.perf_counter()
    count = sum(len(y) for _, y in loader)
    return count / (time.perf_counter() - started)


def val_rate(splits, samples: int, device: str = "cpu") -> float:
    """Validation windows/s in the precision 'auto' gives on ``device``."""
    cfg = TrainConfig(max_val_samples=samples)
    loader = val_loader(WindowDataset(splits, "val"), cfg, pin=device == "cuda")
    target = torch.device(device)
    amp = torch.bfloat16 if resolve_precision("auto", target) == "bf16" else None
    model = build_model().to(target)
    started = time.perf_counter()
    evaluate(model, loader, torch.nn.CrossEntropyLoss().to(target), target, amp)
    return min(samples, len(splits.ends("val"))) / (time.perf_counter() - started)


def synthetic_splits(days: int):
    import pandas as pd

    from resnet_pipeline.features.channels import compute_features
    from resnet_pipeline.features.labels import compute_labels
    from resnet_pipeline.market.synthetic import SyntheticSource
    from resnet_pipeline.ml.data.dataset import build_splits

    start = pd.Timestamp("2024-01-01", tz="UTC")
    candles = SyntheticSource().fetch("BTCUSDT", start, start + pd.Timedelta(days=days))
    return build_splits(compute_features(candles), compute_labels(candles))


def _burn(cpus: set[int]) -> None:
    os.sched_setaffinity(0, cpus)  # on the training's own cores
    while True:  # a CPU-bound neighbour (another run, the daemon, an ingestion)
        sum(i * i for i in range(10_000))


def year_estimate(splits, samples: int, stop_epoch: int, device: str = "cpu") -> None:
    """Minutes to early stopping on a symbol-year, from measured train and validation rates
    with the defaults (precision auto, max_val_samples)."""
    train_n = round(len(splits.ends("train")) * YEAR_MINUTES / len(splits.timestamps))
    val_n = round(len(splits.ends("val")) * YEAR_MINUTES / len(splits.timestamps))
    val_n = min(val_n, TrainConfig().max_val_samples or val_n)
    per_epoch = TrainConfig().epoch_samples(train_n)
    train_sps = loop_rate(splits, "auto", samples, device)
    val_sps = val_rate(splits, samples, device)
    epoch_s = per_epoch / train_sps + val_n / val_sps
    print(
        f"{device} symbol-year (synthetic, extrapolated from measured rates, not a full run): "
        f"{train_n:,} training windows, {per_epoch:,} drawn per epoch (epoch_fraction "
        f"{TrainConfig().epoch_fraction}), {val_n:,} validation windows (max_val_samples); "
        f"train {train_sps:,.0f} samples/s, validation {val_sps:,.0f} samples/s -> "
        f"{epoch_s / 60:.1f} min per epoch; early stopping at epoch {stop_epoch} "
        f"(best epoch + patience {TrainConfig().patience}, assumed) -> "
        f"{stop_epoch * epoch_s / 3600:.2f} h (target < 1 h)"
    )


def epoch_budget_experiment(
    days: int = 10, passes: float = 3, window: int = 64, fractions=(1.0, 0.25, 0.1)
) -> None:
    """Best validation loss and samples to early stopping for each share of windows per epoch."""
    import pandas as pd

    from resnet_pipeline.features.channels import compute_features
    from resnet_pipeline.features.labels import compute_labels
    from resnet_pipeline.market.synthetic import SyntheticSource
    from resnet_pipeline.ml.data.dataset import build_splits
    from resnet_pipeline.ml.data.splits import SplitConfig

    start = pd.Timestamp("2024-01-01", tz="UTC")
    candles = SyntheticSource().fetch("BTCUSDT", start, start + pd.Timedelta(days=days))
    splits = build_splits(
        compute_features(candles), compute_labels(candles), SplitConfig(window=window)
    )
    train_set = WindowDataset(splits, "train", AugmentConfig())
    val_set = WindowDataset(splits, "val")
    print(f"{len(train_set)} training, {len(val_set)} validation windows of {window} rows")
    for fraction in fractions:
        per_epoch = max(int(fraction * len(train_set)), 64)
        cfg = TrainConfig(
            epochs=max(round(passes * len(train_set) / per_epoch), 1),
            max_train_samples=per_epoch,
            epoch_fraction=1.0,
            max_val_samples=1024,
            patience=3,
            min_steps=0,
        )
        torch.manual_seed(0)
        started = time.perf_counter()
        result = train(build_model(ModelConfig(window=window)), train_set, val_set, cfg)
        print(
            f"fraction {fraction}: {per_epoch} windows/epoch, stopped ({result.stop_reason}) "
            f"after {result.epochs_run} epochs = {result.steps * cfg.batch_size:,} samples in "
            f"{time.perf_counter() - started:.0f} s; best validation loss "
            f"{result.best_val_loss:.4f} at epoch {result.best_epoch}"
        )


def precision_check(days: int = 10, window: int = 256, epochs: int = 6, samples: int = 2048):
    """The same training in fp32 and bf16: each selected model's fp32 loss on every
    validation window, and the training rate."""
    import pandas as pd

    from resnet_pipeline.features.channels import compute_features
    from resnet_pipeline.features.labels import compute_labels
    from resnet_pipeline.market.synthetic import SyntheticSource
    from resnet_pipeline.ml.data.dataset import build_splits
    from resnet_pipeline.ml.data.splits import SplitConfig
    from resnet_pipeline.ml.model.model_config import ModelConfig

    start = pd.Timestamp("2024-01-01", tz="UTC")
    candles = SyntheticSource().fetch("BTCUSDT", start, start + pd.Timedelta(days=days))
    splits = build_splits(
        compute_features(candles), compute_labels(candles), SplitConfig(window=window)
    )
    val_set = WindowDataset(splits, "val")
    every = val_loader(val_set, TrainConfig(max_val_samples=None), pin=False)
    print(f"{len(splits.ends('train')):,} training, {len(val_set):,} validation windows of "
          f"{window} rows; {epochs} epochs of {samples:,}; auto here: "
          f"{resolve_precision('auto', torch.device('cpu'))}")  # fmt: skip
    for seed in (0, 1):
        for precision in ("fp32", "bf16"):
            cfg = TrainConfig(epochs=epochs, max_train_samples=samples, precision=precision,
                              seed=seed, min_steps=0, max_val_samples=None)  # fmt: skip
            torch.manual_seed(seed)
            model = build_model(ModelConfig(window=window))
            train_set = WindowDataset(splits, "train", AugmentConfig(), seed=seed)
            result = train(model, train_set, val_set, cfg)
            loss_fn = make_loss(cfg.loss, cfg.class_weights, cfg.focal_alpha, cfg.focal_gamma)
            loss, acc = evaluate(model, every, loss_fn, torch.device("cpu"), None)
            print(f"seed {seed} {precision}: selected epoch {result.best_epoch}, validation "
                  f"loss in fp32 {loss:.4f} (accuracy {acc:.3f}), "
                  f"{result.train_samples_per_s:,.0f} samples/s")  # fmt: skip


def beside_a_neighbour(splits, samples: int) -> None:
    """The defaults' rate with a busy loop on the same cores, against half their idle rate."""
    idle = loop_result(splits, "auto", samples)  # the defaults, just before the neighbour
    print(f"idle (as far as other sessions let it), default threads (ran {idle.threads}): "
          f"{idle.train_samples_per_s:,.0f} samples/s")  # fmt: skip
    half = idle.train_samples_per_s / 2
    spawn = multiprocessing.get_context("spawn")
    neighbour = spawn.Process(target=_burn, args=(allowed_cpus(),), daemon=True)
    neighbour.start()
    try:
        time.sleep(1.0)  # running before the training starts, as a neighbour would be
        rows = (("default (fixed) threads", None), ("threads following the load", FOLLOW_LOAD),
                ("1 thread", 1))  # fmt: skip
        for label, count in rows:
            busy = loop_result(splits, "auto", samples, threads=count)
            rate = busy.train_samples_per_s
            print(
                f"with a CPU-bound neighbour on the same cores, {label} (ran {busy.threads}): "
                f"{rate:,.0f} samples/s = {rate / half:.2f}x half the idle rate (target >= 0.8)"
            )
    finally:
        neighbour.terminate()
        neighbour.join()


def optimizer_ab(passes: int = 6, steps: int = 5) -> None:
    """A whole step (forward, backward, AdamW) with the fused kernel against the default
    ``foreach`` one, interleaved in this process on the same batch; best pass of each."""
    torch.manual_seed(0)
    x, y = torch.randn(128, 15, 64), torch.randint(0, 3, (128,))
    config = ModelConfig(window=64, width=32)
    best = {}
    models = {fused: build_model(config) for fused in (False, True)}
    optimizers = {
        fused: torch.optim.AdamW(models[fused].parameters(), lr=1e-3, fused=fused)
        for fused in (False, True)
    }
    for _ in range(passes):
        for fused in (False, True):
            model, optimizer = models[fused], optimizers[fused]
            started = time.perf_counter()
            for _ in range(steps):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
            took = time.perf_counter() - started
            best[fused] = min(best.get(fused, took), took)
    rates = {fused: steps * len(x) / took for fused, took in best.items()}
    print(
        f"AdamW foreach {rates[False]:,.0f} samples/s, fused {rates[True]:,.0f} samples/s: "
        f"fused {rates[True] / rates[False]:.2f}x (width 32, batch 128, best of {passes})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a quick pass: few steps")
    parser.add_argument(
        "--stop-epoch", type=int, default=20, help="epochs to early stopping assumed for the year"
    )
    parser.add_argument(
        "--epoch-budget", action="store_true", help="the epoch_fraction experiment instead"
    )
    parser.add_argument(
        "--precision-check", action="store_true", help="bf16 vs fp32 validation loss instead"
    )
    parser.add_argument("--neighbour", action="store_true", help="only the neighbour figures")
    parser.add_argument(
        "--optimizer-ab", action="store_true", help="fused against foreach AdamW instead"
    )
    args = parser.parse_args()
    print(f"load: {os.getloadavg()} on {os.cpu_count()} CPUs")
    if args.optimizer_ab:
        optimizer_ab()
        print(f"load after: {os.getloadavg()}")
        return
    if args.epoch_budget:
        epoch_budget_experiment()
        return
    if args.precision_check:
        precision_check(epochs=2 if args.small else 6, samples=256 if args.small else 2048)
        print(f"load after: {os.getloadavg()}")
        return
    steps, samples = (3, 256) if args.small else (20, 2560)
    threads = configure_threads(None)
    splits = synthetic_splits(5 if args.small else 10)
    if args.neighbour:
        beside_a_neighbour(splits, samples)
        print(f"load after: {os.getloadavg()}")
        return
    batch, labels = WindowDataset(splits, "train").__getitems__(list(range(256)))
    auto = resolve_precision("auto", torch.device("cpu"))
    print(f"threads {threads} (the default: the physical cores this process may use); "
          f"precision auto on this CPU: {auto}")  # fmt: skip
    idle = {}
    for precision in ("fp32", "bf16"):
        bare = bare_step_rate(batch[:64], labels[:64], precision, steps)
        idle[precision] = loop = loop_rate(splits, precision, samples)
        print(
            f"{precision}: loop+loader {loop:,.0f} samples/s, bare step {bare:,.0f} samples/s, "
            f"ratio {loop / bare:.2f} (target >= 0.9)"
        )
    loader = loader_rate(splits, samples)
    print(f"loader alone {loader:,.0f} samples/s: {idle[auto] / loader:.0%} of the {auto} "
          "loop's time (on a GPU: its time waiting for the loader)")  # fmt: skip
    for size in (128, 256):
        rate = bare_step_rate(batch[:size], labels[:size], "fp32", max(steps // 2, 2))
        print(f"fp32 bare step at batch {size}: {rate:,.0f} samples/s")
    if not args.small:
        try:
            rate = bare_step_rate(batch[:64], labels[:64], "fp32", steps, compiled=True)
            print(f"fp32 bare step under torch.compile: {rate:,.0f} samples/s")
        except Exception as error:  # no compiler toolchain: say so, keep going
            print(f"torch.compile unavailable here: {type(error).__name__}: {error}")
    year_estimate(splits, samples, args.stop_epoch)
    beside_a_neighbour(splits, samples)
    if torch.cuda.is_available():
        for precision in ("fp32", "bf16"):
            bare = bare_step_rate(batch[:64], labels[:64], precision, steps, device="cuda")
            loop = loop_rate(splits, precision, samples, device="cuda")
            print(
                f"cuda {precision}: loop {loop:,.0f}, bare step {bare:,.0f} samples/s, ratio "
                f"{loop / bare:.2f}; the GPU waits for the loader ({loader:,.0f} samples/s) "
                f"{loop / loader:.0%} of the loop's time"
            )
        year_estimate(splits, samples, args.stop_epoch, device="cuda")
    else:
        print("no CUDA GPU: GPU figures skipped (bench_training.py prints them on one)")


if __name__ == "__main__":
    main()
