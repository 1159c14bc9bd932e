"""`bench_walk_forward.py --files`: the research loop on a files-source symbol-year, through
the real assets, each figure beside its target (issue 24).

A synthetic year written as Binance-style daily export files (``bench_files_source``'s
writer: no data is shipped) goes through Dagster as a user runs it: ``raw_candles`` from the
files source, ``features`` and ``labels`` month by month; ``wf_model`` for the last
``--folds`` months in one run (as ``--partition-range``), warm-started as the README's
walk-forward command; ``wf_predictions`` for the same range in one run; ``wf_report``.
Prints per month ingestion against ``pandas.read_csv`` of the month's own files (target
<= 2x), per fold the fold's wall time against its training steps (target <= 1.2x), the
predictions' windows/s against fp32 at batch 512 on the same windows (target >= 2x) and
the report's time (target < 15 s).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import torch
from bench_files_source import measure_month, write_daily_exports

from resnet_pipeline.commands import month_key
from resnet_pipeline.definitions import resources_on
from resnet_pipeline.layout import Layout
from resnet_pipeline.market.synthetic import SyntheticSource
from resnet_pipeline.ml.folds.monthly_folds import (
    FoldConfig,
    add_months,
    eligible_samples,
    predict_ends,
    take_rows,
    with_normalizer,
)
from resnet_pipeline.ml.model.checkpoint import load_checkpoint
from resnet_pipeline.ml.training.inference import predict_proba
from resnet_pipeline.resources.candle_source import FilesCandles
from resnet_pipeline.storage import read_partitions
from resnet_pipeline_tests._pipeline import asset

features = asset("features")
labels = asset("labels")
raw_candles = asset("raw_candles")
wf_model = asset("wf_model")
wf_predictions = asset("wf_predictions")
wf_report = asset("wf_report")

SYMBOL = "BTCUSDT"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
FOLD_RATIO, PREDICT_RATIO, INGEST_RATIO, REPORT_S = 1.2, 2.0, 2.0, 15.0
YEAR_MINUTES = 15.0  # 12 monthly folds of a symbol-year, wf_model and wf_predictions
TODAY_BATCH = 512  # the batch predictions used before the fast path, in fp32
ASSETS = [raw_candles, features, labels, wf_model, wf_predictions, wf_report]


def _timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def _run(selection: list[str], root: str, files: Path, instance, run_config=None, **kwargs):
    """Seconds of one in-process run of ``selection`` (its log lines from warnings on)."""
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    seconds, result = _timed(
        lambda: dg.materialize(
            ASSETS,
            selection=selection,
            resources=resources_on(root, FilesCandles(files_dir=str(files))),
            instance=instance,
            raise_on_error=False,
            run_config=quiet | (run_config or {}),
            **kwargs,
        )
    )
    if not result.success:
        failures = [e.message for e in result.get_step_failure_events()]
        raise SystemExit(f"benchmark run failed: {failures}")
    return seconds


def ingest_year(folder: Path, root: str, months: list[date], instance) -> None:
    """Per month: the files source against reading its own files, then the pipeline's assets."""
    now = pd.Timestamp(add_months(months[-1], 1), tz="UTC") + pd.Timedelta(days=1)
    index = Path(root) / "files_index.json"
    print(f"{'month':8} {'files':>5} {'read':>5} {'pandas s':>9} {'ingest s':>9} {'ratio':>6} "
          f"{'raw_candles s':>13} {'features+labels s':>17}")  # fmt: skip
    ratios, raw_s = [], {}
    for month in months:
        key = month_key(SYMBOL, month)
        raw_s[month] = _run(["raw_candles"], root, folder, instance, partition_key=key)
    for month in months:
        own, read, t = measure_month(folder, index, month, now, repeats=1)
        ratios.append(t["ingest"][0] / t["pandas"][0])
        key = month_key(SYMBOL, month)
        derived = _run(["features", "labels"], root, folder, instance, partition_key=key)
        print(f"{month:%Y-%m}  {own:5} {read:5} {t['pandas'][0]:9.3f} {t['ingest'][0]:9.3f} "
              f"{ratios[-1]:5.2f}x {raw_s[month]:13.2f} {derived:17.2f}")  # fmt: skip
    print(f"ingestion / reading the month's files: worst {max(ratios):.2f}x, median "
          f"{np.median(ratios):.2f}x (target <= {INGEST_RATIO:g}x)")  # fmt: skip


def walk_forward(
    root: str, folder: Path, folds: list[date], config: dict, instance
) -> tuple[float, float]:
    """wf_model for the fold range in one run: each fold's wall against its training steps."""
    tags = {RANGE_START: month_key(SYMBOL, folds[0]), RANGE_END: month_key(SYMBOL, folds[-1])}
    run_config = {"ops": {"wf_model": {"config": config}}}
    wall = _run(["wf_model"], root, folder, instance, tags=tags, run_config=run_config)
    infos = [json.loads(Path(Layout.at(root).fold(SYMBOL, m).info).read_text()) for m in folds]
    print(f"{'fold':8} {'start':>16} {'train':>7} {'val':>6} {'epochs':>6} {'precision':>9} "
          f"{'fold s':>7} {'steps s':>8} {'fold/steps':>10}")  # fmt: skip
    for info in infos:
        print(f"{info['month']:8} {info['start']:>16} {info['train_samples']:7} "
              f"{info['val_samples']:6} {info['epochs_run']:6} {info['precision']:>9} "
              f"{info['fold_s']:7.1f} {info['train_steps_s']:8.1f} "
              f"{info['fold_s'] / info['train_steps_s']:9.2f}x")  # fmt: skip
    steps = sum(i["train_steps_s"] for i in infos)
    per_fold = sum(i["fold_s"] for i in infos)
    print(f"wf_model, {len(folds)} folds in one run: {wall:.1f} s wall ({wall - per_fold:.1f} s "
          f"outside the folds: the one read of the months and Dagster), training steps "
          f"{steps:.1f} s: run / steps {wall / steps:.2f}x, worst fold "
          f"{max(i['fold_s'] / i['train_steps_s'] for i in infos):.2f}x "
          f"(target <= {FOLD_RATIO:g}x); load {os.getloadavg()}")  # fmt: skip
    return wall, steps


def _month_windows(root: str, month: date, count: int) -> tuple[torch.nn.Module, np.ndarray]:
    """The fold model of ``month`` and up to ``count`` of its month's model inputs."""
    layout = Layout.at(root)
    checkpoint = load_checkpoint(layout.fold(SYMBOL, month).model)
    months = [add_months(month, -1), month]
    cfg = FoldConfig(window=checkpoint.model_config.window)
    samples = eligible_samples(
        read_partitions(layout, "features", SYMBOL, months),
        read_partitions(layout, "labels", SYMBOL, months),
        cfg.split_config(),
    )
    ends = predict_ends(samples, month)[:count]
    first = int(ends[0]) - cfg.window + 1
    part = take_rows(samples, first, int(ends[-1]) + 1)
    empty = np.zeros(0, np.int64)
    splits = with_normalizer(part, checkpoint.normalizer, empty, empty, ends - first)
    return checkpoint.model, splits.windows(ends - first)


def predictions(root: str, folder: Path, folds: list[date], instance, sample: int) -> float:
    """wf_predictions for the fold range in one run; fast path against fp32 at batch 512."""
    tags = {RANGE_START: month_key(SYMBOL, folds[0]), RANGE_END: month_key(SYMBOL, folds[-1])}
    wall = _run(["wf_predictions"], root, folder, instance, tags=tags)
    layout = Layout.at(root)
    rows = sum(len(pd.read_parquet(layout.fold(SYMBOL, m).predictions)) for m in folds)
    print(f"wf_predictions, {len(folds)} months in one run: {rows:,} windows in {wall:.1f} s = "
          f"{rows / wall:,.0f} windows/s (reading, checkpoints and writing included); "
          f"load {os.getloadavg()}")  # fmt: skip
    model, windows = _month_windows(root, folds[-1], sample)
    threads = torch.get_num_threads()
    times: dict[str, list[float]] = {"today": [], "fast": []}
    for _ in range(3):  # alternating, so that a change of the machine's load weighs on both
        times["today"].append(
            _timed(lambda: predict_proba(model, windows, TODAY_BATCH, precision="fp32"))[0]
        )
        times["fast"].append(_timed(lambda: predict_proba(model, windows))[0])
    today, fast = (float(np.median(v)) for v in times.values())
    n = len(windows)
    print(f"model on {n:,} windows of {folds[-1]:%Y-%m}, {threads} threads: fp32 batch "
          f"{TODAY_BATCH} {n / today:,.0f} windows/s, fast path {n / fast:,.0f} windows/s: "
          f"{today / fast:.2f}x (target >= {PREDICT_RATIO:g}x)")  # fmt: skip
    return wall


def report(root: str, folder: Path, instance) -> None:
    wall = _run(["wf_report"], root, folder, instance, partition_key=SYMBOL)
    print(f"wf_report: {wall:.1f} s (target < {REPORT_S:g} s)")


def files_year(year: int, folds: int, config: dict, sample: int, months: int = 12) -> None:
    """The whole loop on a files-source symbol-year (see the module docstring)."""
    first = date(year, 1, 1)
    all_months = [add_months(first, i) for i in range(months)]
    fold_months = all_months[-folds:]
    with tempfile.TemporaryDirectory(prefix="bench-wf-files-") as tmp:
        folder, root = Path(tmp) / "exports", str(Path(tmp) / "data")
        folder.mkdir()
        start = pd.Timestamp(first, tz="UTC")
        end = pd.Timestamp(add_months(first, months), tz="UTC")
        took, _ = _timed(
            lambda: write_daily_exports(SyntheticSource(0).fetch(SYMBOL, start, end), folder)
        )
        print(f"wrote {len(list(folder.iterdir()))} daily files in {took:.1f} s")
        with dg.DagsterInstance.ephemeral() as instance:
            ingest_year(folder, root, all_months, instance)
            print(f"wf_model config: {config}; load {os.getloadavg()}")
            loop_started = time.perf_counter()
            model_s, steps_s = walk_forward(root, folder, fold_months, config, instance)
            predict_s = predictions(root, folder, fold_months, instance, sample)
            loop_s = time.perf_counter() - loop_started
            report(root, folder, instance)
    print(f"walk-forward of {folds} monthly folds: wf_model {model_s:.0f} s + wf_predictions "
          f"{predict_s:.0f} s = {(model_s + predict_s) / 60:.1f} min (training steps "
          f"{steps_s:.0f} s, predictions {predict_s:.0f} s: {steps_s + predict_s:.0f} s); with "
          f"the benchmark's own fp32-vs-fast timing {loop_s / 60:.1f} min; "
          f"{12 / folds:.1f}x for 12 folds: {(model_s + predict_s) * 12 / folds / 60:.1f} min "
          f"(target < {YEAR_MINUTES:g} min on 2 quiet cores); load {os.getloadavg()}")  # fmt: skip
