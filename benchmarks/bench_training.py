"""ResNet-18-1D training throughput on [64, 15, 256] batches, fp32 and bf16.

Measured in one run:
- the real training loop (``ml.training.train``) with the real windowed loader (augmentation
  on) over a synthetic dataset, samples/s;
- the bare model: forward + backward + AdamW step on one pre-made batch, samples/s;
- their ratio (target >= 0.9: the loop and loader add little);
- model FLOP utilization: FLOPs per sample (torch's FlopCounterMode, forward + backward)
  x samples/s, against this machine's measured fp32 matmul rate.

    python benchmarks/bench_training.py [--small]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline.ml.augment import AugmentConfig  # noqa: E402
from resnet_pipeline.ml.dataset import WindowDataset  # noqa: E402
from resnet_pipeline.ml.resnet import build_model  # noqa: E402
from resnet_pipeline.ml.training import TrainConfig, train  # noqa: E402


def matmul_gflops(n: int = 4096, repeat: int = 3) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    started = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n**3 * repeat / (time.perf_counter() - started) / 1e9


def flops_per_sample(batch: torch.Tensor, labels: torch.Tensor) -> float:
    model = build_model()
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(batch), labels).backward()
    return counter.get_total_flops() / len(batch)


def bare_step_rate(batch: torch.Tensor, labels: torch.Tensor, precision: str, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.2, 0.8, 1.2]))
    for step in range(steps + 2):
        if step == 2:
            started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(batch)
        loss = loss_fn(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * len(batch) / (time.perf_counter() - started)


def loop_rate(splits, precision: str, samples: int) -> float:
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=1, precision=precision, max_train_samples=samples, max_val_samples=64)
    result = train(
        build_model(),
        WindowDataset(splits, "train", AugmentConfig()),
        WindowDataset(splits, "val"),
        cfg,
    )
    return result.train_samples_per_s


def synthetic_splits(days: int):
    import pandas as pd

    from resnet_pipeline.features.channels import compute_features
    from resnet_pipeline.features.labels import compute_labels
    from resnet_pipeline.market.synthetic import SyntheticSource
    from resnet_pipeline.ml.dataset import build_splits

    start = pd.Timestamp("2024-01-01", tz="UTC")
    candles = SyntheticSource().fetch("BTCUSDT", start, start + pd.Timedelta(days=days))
    return build_splits(compute_features(candles), compute_labels(candles))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer steps")
    args = parser.parse_args()
    steps, samples = (5, 640) if args.small else (20, 2560)
    torch.set_num_threads(torch.get_num_threads())
    splits = synthetic_splits(10)
    batch_ds = WindowDataset(splits, "train")
    batch, labels = batch_ds.__getitems__(list(range(64)))
    peak = max(matmul_gflops() for _ in range(3))  # best of three: the machine may be shared
    flops = flops_per_sample(batch, labels)
    print(
        f"threads {torch.get_num_threads()}, fp32 matmul {peak:.1f} GFLOP/s, "
        f"{flops / 1e9:.3f} GFLOP per training sample (forward + backward)"
    )
    for precision in ("fp32", "bf16"):
        bare = bare_step_rate(batch, labels, precision, steps)
        loop = loop_rate(splits, precision, samples)
        print(
            f"{precision}: loop+loader {loop:,.0f} samples/s, bare step {bare:,.0f} samples/s, "
            f"ratio {loop / bare:.2f} (target >= 0.9), MFU {flops * loop / 1e9 / peak:.0%} "
            "of fp32 matmul"
        )


if __name__ == "__main__":
    main()
