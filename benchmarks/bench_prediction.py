"""Prediction at the CPU's limit: the month's prediction path against the bare forward pass
and ONNX Runtime, windows/s as ratios measured in one run (issue 33).

On the windows of one synthetic month (a fold's normalizer and baselines), interleaved over
``--rounds`` rounds (medians):
- before: the loader's batches of ``INFERENCE_BATCH`` through the model under bf16 autocast
  (the path before the BatchNorm-folded copy; fp32 where the CPU has no native bf16);
- default: ``predict_proba`` on the same loader (what ``predict_month`` runs), with the fixed
  thread count and with threads following the load as ``predict_month`` sets them (the 0.2 s
  measurement of the load is left out of the timing: predict_month pays it once a month);
- bare forward of the folded bf16 copy on windows gathered beforehand, batches 128..2048;
- fp32 eager at ``INFERENCE_BATCH``; ONNX Runtime's CPU execution of the model exported with
  ``torch.onnx`` (fp32: its CPU provider has no bf16 convolution), when ``onnxruntime`` is
  installed (the ``onnx`` extra), with its largest probability difference and argmax agreement;
then ``predict_month`` over the whole month once, as the pipeline runs it.

    python benchmarks/bench_prediction.py                 # 2,048 windows, 3 rounds
    python benchmarks/bench_prediction.py --windows 512 --rounds 2 --no-month
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_walk_forward import Plan, market  # noqa: E402

from resnet_pipeline.ml.data.windows import WindowDataset, make_loader  # noqa: E402
from resnet_pipeline.ml.evaluation.baselines import FoldBaselines  # noqa: E402
from resnet_pipeline.ml.folds.fold_training import predict_month  # noqa: E402
from resnet_pipeline.ml.folds.monthly_folds import (  # noqa: E402
    FoldConfig,
    build_fold,
    eligible_samples,
)
from resnet_pipeline.ml.model.model_config import ModelConfig  # noqa: E402
from resnet_pipeline.ml.model.resnet import build_model  # noqa: E402
from resnet_pipeline.ml.training.device import (  # noqa: E402
    autocast_dtype,
    configure_threads,
)
from resnet_pipeline.ml.training.inference import (  # noqa: E402
    INFERENCE_BATCH,
    fast_model,
    predict_proba,
)
from resnet_pipeline.ml.training.train_config import FOLLOW_LOAD  # noqa: E402

BATCHES = (128, 256, 512, 1024, 2048)
MONTH = date(2024, 2, 1)


def _batched(run: Callable[[np.ndarray], object], windows: np.ndarray, batch: int) -> None:
    for i in range(0, len(windows), batch):
        run(windows[i : i + batch])


def onnx_runner(model: torch.nn.Module, windows: np.ndarray, threads: int, folder: str):
    """(run a batch -> logits, why not): the model exported with torch.onnx, on ORT's CPU."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime is not installed (pip install -e '.[onnx]')"
    path = str(Path(folder) / "model.onnx")
    try:
        torch.onnx.export(model, (torch.from_numpy(windows[:2]),), path, input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "batch"}},
                          dynamo=False)  # fmt: skip
    except Exception as error:  # noqa: BLE001 - any exporter failure is reported, not raised
        return None, f"torch.onnx.export failed: {error}"
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return (lambda x: session.run(None, {"x": np.ascontiguousarray(x)})[0]), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, help="default: configure_threads(None)")
    parser.add_argument("--no-month", action="store_true", help="skip the whole month")
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    features, labels = market("BTCUSDT", date(2024, 1, 1), Plan(2, 1, None, 256, 1, 1, 1, 1, 1))
    samples = eligible_samples(features, labels, FoldConfig().split_config())
    fold = build_fold(samples, MONTH, FoldConfig())
    baselines = FoldBaselines.fit(fold.splits)
    torch.manual_seed(0)
    model = build_model(ModelConfig()).eval()
    test = WindowDataset(fold.splits, "test")
    n = min(args.windows, len(test))
    windows = fold.splits.windows(test.ends[:n])
    amp = autocast_dtype(torch.device("cpu"), "auto")
    runner, why = fast_model(model, torch.from_numpy(windows[:4]))
    precision = "bf16" if amp else "fp32"
    print(f"{n:,} windows of {MONTH:%Y-%m}, {threads} threads, precision {precision}; "
          f"folded copy: {why or 'yes'}; load {os.getloadavg()}")  # fmt: skip

    def loader():
        return make_loader(torch.utils.data.Subset(test, range(n)), INFERENCE_BATCH)

    def before() -> None:
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=amp is not None):
            for x, _ in loader():
                torch.softmax(model(x).float(), dim=1).numpy()

    def bare(batch: int) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                _batched(lambda x: runner(torch.from_numpy(x).to(torch.bfloat16)), windows, batch)

        return run

    def fp32() -> None:
        with torch.inference_mode():
            _batched(lambda x: model(torch.from_numpy(x)), windows, INFERENCE_BATCH)

    cases: dict[str, Callable[[], object]] = {
        "before: loader + autocast": before,
        "default: predict_proba(loader)": lambda: predict_proba(model, loader()),
        "default, threads following the load": lambda: predict_proba(model, loader()),
        **{f"bare folded bf16, batch {b}": bare(b) for b in BATCHES},
        f"fp32 eager, batch {INFERENCE_BATCH}": fp32,
    }
    with tempfile.TemporaryDirectory() as folder:
        onnx, onnx_why = onnx_runner(model, windows, threads, folder)
        if onnx is not None:
            for b in (INFERENCE_BATCH, 1024):
                cases[f"ONNX Runtime fp32, batch {b}"] = (
                    lambda b=b: _batched(onnx, windows, b)
                )  # fmt: skip
            exact = predict_proba(model, windows, precision="fp32")
            logits = np.concatenate([onnx(windows[i : i + 256]) for i in range(0, n, 256)])
            ort_p = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
            fast = predict_proba(model, windows)
            for name, p in (("ONNX Runtime", ort_p), ("default", fast)):
                print(f"{name} against fp32: max |dp| {np.abs(p - exact).max():.2e}, argmax "
                      f"agrees on {(p.argmax(1) == exact.argmax(1)).mean():.2%}")  # fmt: skip
        else:
            print(f"ONNX Runtime: skipped, {onnx_why}")
        times: dict[str, list[float]] = {name: [] for name in cases}
        followed: list[int] = []
        for _ in range(args.rounds):  # interleaved: a change of load weighs on every case
            for name, run in cases.items():
                following = name == "default, threads following the load"
                used = configure_threads(FOLLOW_LOAD if following else threads)
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)
                if following:
                    followed.append(used)
    base = statistics.median(times["before: loader + autocast"])
    for name, seconds in times.items():
        s = statistics.median(seconds)
        print(f"{name:34} {n / s:7,.0f} windows/s  {base / s:5.2f}x before")
    print(f"threads following the load: {followed}; load {os.getloadavg()}")
    if not args.no_month:
        started = time.perf_counter()
        frame = predict_month(model, fold.splits.normalizer, baselines, samples, MONTH)
        took = time.perf_counter() - started
        print(f"predict_month, the whole month: {len(frame):,} windows in {took:.1f} s = "
              f"{len(frame) / took:,.0f} windows/s; load {os.getloadavg()}")  # fmt: skip


if __name__ == "__main__":
    main()
