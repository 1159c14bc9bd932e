"""Where a feature variant's channels are computed: inside each fold from the stored candles
(what folds do), or once per symbol-month as a stored asset that every variant reads.

A synthetic symbol-year is stored as the pipeline stores it; an experiment of three feature
variants (the stored SPEC features, SPEC + multi_timeframe, SPEC + calendar) over its last six
months is read the way each fold reads when it runs as its own partition
(``fold_inputs.read_history`` of the fold's month, every earlier month read). Printed:

- per variant, the mean seconds a fold spends reading (and, for the computed variants,
  computing) its months, and how much more than reading the stored features that is: the
  most a stored asset of the extra channels could save per fold;
- the stored asset's own price: computing and writing each extra family once per month,
  and reading it back for a fold.

Compare the per-fold figures with a fold's training (``bench_experiment.py``; the demo's cold
fold trains about a minute on 2 cores). The load average stands beside each figure.

    python benchmarks/bench_feature_placement.py [--folds 6] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_experiment import SYMBOL, store_year  # noqa: E402

from resnet_pipeline.experiments.fold_inputs import read_history  # noqa: E402
from resnet_pipeline.features.families import compute_channels  # noqa: E402
from resnet_pipeline.features.feature_config import FeatureConfig  # noqa: E402
from resnet_pipeline.layout import Layout  # noqa: E402
from resnet_pipeline.ml.folds.monthly_folds import FoldConfig, add_months  # noqa: E402
from resnet_pipeline.storage import read_partitions, write_parquet_atomic  # noqa: E402

VARIANTS = {
    "spec (stored)": FeatureConfig(),
    "spec + multi_timeframe": FeatureConfig(channels=("spec", "multi_timeframe")),
    "spec + calendar": FeatureConfig(channels=("spec", "calendar")),
}
EXTRA = "extra_channels"  # the stored asset this benchmark writes for the comparison


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def fold_reads(layout: Layout, months: list[date], features: FeatureConfig, repeat: int):
    """Mean seconds over the folds (best of ``repeat`` each) of reading one fold's months."""
    config = FoldConfig(window=64)
    seconds = []
    for month in months:
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            history = read_history(layout, SYMBOL, [month], config, None, True, features)
            history.fold(month)
            best = min(best, time.perf_counter() - started)
        seconds.append(best)
    return sum(seconds) / len(seconds)


def stored_asset(layout: Layout, year: list[date], folds: list[date]) -> tuple[float, float]:
    """Seconds to compute and write the extra families of every month once, and the mean
    seconds a fold takes to read them back (every month before its own, and its own)."""
    channels = FeatureConfig(channels=("multi_timeframe", "calendar")).channels
    started = time.perf_counter()
    for month in year[1:]:
        before, candles = (
            read_partitions(layout, "raw_candles", SYMBOL, [m])
            for m in (add_months(month, -1), month)
        )
        frame = compute_channels(channels, candles, before)
        write_parquet_atomic(frame, layout.partition(EXTRA, SYMBOL, month))
    written = time.perf_counter() - started
    reads = []
    for month in folds:
        started = time.perf_counter()
        read_partitions(layout, EXTRA, SYMBOL, [m for m in year[1:] if m <= month])
        reads.append(time.perf_counter() - started)
    return written, sum(reads) / len(reads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-placement-"))
    first = date(2024, 1, 1)
    year = [add_months(first, i) for i in range(12)]
    store_year(root, first, 12, None)
    layout = Layout.at(root)
    folds = year[-args.folds :]
    print(f"{SYMBOL} 2024 stored ({root}); {args.folds} folds {folds[0]:%Y-%m}..{folds[-1]:%Y-%m}")
    stored = None
    for name, features in VARIANTS.items():
        mean = fold_reads(layout, folds, features, args.repeat)
        stored = mean if stored is None else stored
        extra = "" if mean is stored else f", {mean - stored:+.2f} s beyond the stored features"
        print(f"  {name:<24} {mean:6.2f} s per fold to read its months{extra}; {load()}")
    written, read = stored_asset(layout, year, folds)
    print(
        f"  a stored asset of both extra families: computed and written once in {written:.1f} s "
        f"({written / 11:.2f} s per month), read back {read:.2f} s per fold; {load()}"
    )


if __name__ == "__main__":
    main()
