"""What pruning saves: the same search (space, seed, trials) with the median pruner and without
one, on a synthetic year through the real path (``experiments search``: a Dagster run of
``experiment_fold`` per fold), the two interleaved trial by trial in this process so both see
the same machine load. Prints the folds trained and the wall time of each, the compute pruning
saved, and what it did to the best objective (mean validation log loss), with the load average.

    python benchmarks/bench_search.py                       # 12 months of a day each, 8 trials
    python benchmarks/bench_search.py --months 4 --trials 6 --hours 6    # a few minutes
    python benchmarks/bench_search.py --planted --trials 20  # the planted market (search-demo)

``--planted`` runs experiments/search-demo.yaml on PLANTUSDT (full months, March to July: many
minutes per fold on a CPU): the search on April-May, then its best configuration as the one
variant of the verdict on June-July, and prints the best window and learning rate beside the
demo's (48, 0.003) and the verdict.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402
from bench_experiment import store_year  # noqa: E402

from resnet_pipeline.definitions import resources_on  # noqa: E402
from resnet_pipeline.defs.experiments import (  # noqa: E402
    experiment_fold,
    experiment_report,
    experiment_variant,
)
from resnet_pipeline.defs.experiments.experiment_partitions import (  # noqa: E402
    experiment_variant_job,
)
from resnet_pipeline.defs.experiments.experiment_runner import run_experiment  # noqa: E402
from resnet_pipeline.defs.experiments.search_runner import search_experiment  # noqa: E402
from resnet_pipeline.experiments.experiment_file import load_experiment  # noqa: E402
from resnet_pipeline.experiments.ledger import ledger  # noqa: E402
from resnet_pipeline.layout import Layout  # noqa: E402
from resnet_pipeline.ml.folds.monthly_folds import add_months  # noqa: E402
from resnet_pipeline.partitions import Partitions  # noqa: E402
from resnet_pipeline.resources.candle_source import SyntheticCandles  # noqa: E402
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory  # noqa: E402
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking  # noqa: E402
from resnet_pipeline.resources.venue import TradingVenue  # noqa: E402
from resnet_pipeline.settings import load_settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO_FILE = REPO / "experiments" / "search-demo.yaml"


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def definitions(root: Path, symbol: str, planted: bool) -> dg.Definitions:
    """The experiment assets and jobs on ``root``'s data (MLflow off: not what is measured)."""
    settings = load_settings({"RESNET_SYMBOLS": symbol, "RESNET_FIRST_MONTH": "2024-01"})
    resources = resources_on(
        str(root / "data"),
        SyntheticCandles(planted_symbols=[symbol] if planted else []),
        TradingVenue(),
        ExperimentDirectory(directory=str(root / "experiments"), symbols=[symbol]),
        MlflowTracking(enabled=False),
    )
    return dg.Definitions.merge(
        experiment_variant.defs,
        experiment_fold.build(Partitions.of(settings)),
        experiment_report.defs,
        dg.Definitions(jobs=[experiment_variant_job], resources=resources),
    )


SYNTHETIC = """
months: {first}..{last}
symbols: [{symbol}]
base:
  folds: {{window: 32, min_train_samples: 16, warm_start: true, warm_start_epochs: 1}}
  training: {{epochs: {epochs}, batch_size: 32, max_train_samples: {samples}, max_val_samples: 256,
             augment: false}}
  importance: {{measure_importance: false}}
search:
  space:
    training.lr: {{log: [1.0e-4, 3.0e-1]}}
    model.dropout: {{float: [0.0, 0.6]}}
  n_trials: {trials}
  seed: {seed}
  pruner: {pruner}
  startup_trials: {startup}
"""


def pruning(args: argparse.Namespace) -> None:
    symbol, first = "BTCUSDT", date(2024, 1, 1)
    arms = {}
    for pruner in ("median", "none"):
        root = Path(tempfile.mkdtemp(prefix=f"bench-search-{pruner}-"))
        store_year(root / "data", first, args.months + 1, args.hours, symbol, False)
        (root / "experiments").mkdir()
        text = SYNTHETIC.format(
            first=f"{add_months(first, 1):%Y-%m}", last=f"{add_months(first, args.months):%Y-%m}",
            symbol=symbol, epochs=args.epochs, samples=args.max_train_samples, trials=args.trials,
            seed=args.seed, pruner=pruner, startup=args.startup_trials,
        )  # fmt: skip
        (root / "experiments" / "bench.yaml").write_text(text)
        experiment = load_experiment(root / "experiments" / "bench.yaml", [symbol])
        instance = dg.DagsterInstance.ephemeral()
        arms[pruner] = dict(root=root, experiment=experiment, instance=instance, seconds=0.0,
                            defs=definitions(root, symbol, False), tally=None, folds=0)  # fmt: skip
    print(f"{args.months} fold months of {args.hours or 'all'} h, {args.trials} trials, seed "
          f"{args.seed}; {load()}", flush=True)  # fmt: skip
    for trial in range(args.trials):  # interleaved: the same load for both arms
        for pruner, arm in arms.items():
            started = time.perf_counter()
            tally = search_experiment(
                arm["experiment"], arm["instance"], arm["defs"], 1, say=lambda _: None
            )[symbol]
            arm["seconds"] += time.perf_counter() - started
            arm["folds"] += tally.folds_run
            arm["tally"] = tally
            best = tally.best[0] if tally.best else float("nan")
            print(f"  trial {trial} {pruner:>6}: {tally.folds_run} folds, best {best:.4f}; "
                  f"{load()}", flush=True)  # fmt: skip
    for pruner, arm in arms.items():
        records = ledger(Layout.at(arm["root"] / "data").experiment("bench", symbol))
        statuses = pd.Series([r.status for r in records]).value_counts().to_dict()
        best = arm["tally"].best
        print(f"{pruner:>6}: {arm['folds']} folds in {arm['seconds']:.0f} s, ledger {statuses}, "
              f"best objective {best[0]:.4f} ({best[1]})")  # fmt: skip
    median, none = arms["median"], arms["none"]
    print(f"pruning trained {median['folds']} of {none['folds']} folds "
          f"({1 - median['folds'] / none['folds']:.0%} saved), wall {median['seconds']:.0f} s vs "
          f"{none['seconds']:.0f} s ({1 - median['seconds'] / none['seconds']:.0%} saved); best "
          f"objective {median['tally'].best[0]:.4f} pruned vs {none['tally'].best[0]:.4f} "
          f"unpruned; {load()}")  # fmt: skip
    if not args.keep:
        for arm in arms.values():
            shutil.rmtree(arm["root"], ignore_errors=True)


def planted(args: argparse.Namespace) -> None:
    """The search of search-demo.yaml, then its best configuration judged on the later months."""
    symbol = "PLANTUSDT"
    root = Path(tempfile.mkdtemp(prefix="bench-search-planted-"))
    raw = yaml.safe_load(DEMO_FILE.read_text())
    raw["search"]["n_trials"] = args.trials
    store_year(root / "data", date(2024, 3, 1), 5, args.hours, symbol, True)
    (root / "experiments").mkdir()
    path = root / "experiments" / "search-demo.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    experiment = load_experiment(path, [symbol])
    defs, instance = definitions(root, symbol, True), dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    tally = search_experiment(experiment, instance, defs, args.trials, say=print)[symbol]
    print(f"search: {time.perf_counter() - started:.0f} s; {load()}")
    files = Layout.at(root / "data").experiment("search-demo", symbol).search
    best = next(r for r in ledger(files) if r.variant == tally.best[1])
    window, lr = best.config["folds"]["window"], best.config["training"]["lr"]
    print(f"best trial {best.variant}: window {window}, lr {lr:.4g} (demo: 48, 0.003)")
    raw["variants"] = [{"name": "searched-best", "folds": {"window": window},
                        "training": {"lr": lr}}]  # fmt: skip
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    verdicts = run_experiment(load_experiment(path, [symbol]), instance, defs)
    print(f"verdict on 2024-06..2024-07: {verdicts[symbol]}; {load()}")
    print(f"data kept in {root}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12, help="fold months (a year)")
    parser.add_argument("--hours", type=float, default=24, help="hours of each month (0: all)")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-train-samples", type=int, default=512)
    parser.add_argument("--startup-trials", type=int, default=2)
    parser.add_argument("--planted", action="store_true", help="the planted market's search")
    parser.add_argument("--keep", action="store_true", help="keep the data roots")
    args = parser.parse_args()
    args.hours = args.hours or None
    if args.planted:
        args.hours = None if args.hours == 24 else args.hours
        planted(args)
    else:
        pruning(args)


if __name__ == "__main__":
    main()
