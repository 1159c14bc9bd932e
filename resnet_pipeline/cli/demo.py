"""The main job offline, end to end, and a small experiment on a market with a known answer:
``python -m resnet_pipeline.cli.demo`` (see scripts/demo.sh).

Two synthetic symbols: PLANTUSDT carries the planted, learnable pattern (``market.planted``),
NOISEUSDT is the pattern-free market. The demo materializes the whole graph for both, from raw
candles to the HTML backtest reports, through the same jobs a user launches from the UI, on
the settings of ``experiments/demo.yaml``'s first variant (known to learn the planted
pattern), then runs that experiment (a few variants, monthly folds) and prints both verdicts:
an edge on the planted symbol, none on the noise. Everything goes into the instance at
DAGSTER_HOME, and the settings it ran with into DAGSTER_HOME/resnet_demo_settings.json, so
that scripts/ui.sh afterwards opens the instance with the demo's symbols and months and shows
every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date

DEFAULT_MONTHS = 4
# experiments/demo.yaml's folds (June, July) learn from April and May: see that file for why
DEMO_FIRST_MONTH = "2024-04"
PLANTED, NOISE = "PLANTUSDT", "NOISEUSDT"
EXPERIMENT = "demo"  # experiments/demo.yaml


def demo_environment(env: dict[str, str]) -> None:
    """The demo's defaults: the synthetic source from April 2024, and unless symbols are
    chosen, one planted and one pure-noise symbol."""
    env.setdefault("RESNET_SOURCE", "synthetic")
    env.setdefault("RESNET_FIRST_MONTH", DEMO_FIRST_MONTH)
    if "RESNET_SYMBOLS" not in env:
        env["RESNET_SYMBOLS"] = f"{PLANTED},{NOISE}"
        env.setdefault("RESNET_PLANTED_SYMBOLS", PLANTED)


# The settings that decide what the demo's instance holds (symbols, months, where the data
# lives), recorded next to the instance so that scripts/ui.sh opens it with the same ones.
# Not the executor or Celery variables: they say how runs execute, and a broker URL may hold
# a password.
RECORDED_SETTINGS = (
    "RESNET_SOURCE",
    "RESNET_FIRST_MONTH",
    "RESNET_SYMBOLS",
    "RESNET_PLANTED_SYMBOLS",
    "RESNET_DATA_DIR",
    "RESNET_EXPERIMENTS_DIR",
    "RESNET_BYBIT_MARKET",
    "RESNET_FILES_DIR",
    "RESNET_FILES_COLUMNS",
)
SETTINGS_FILE = "resnet_demo_settings.json"  # in DAGSTER_HOME


def write_demo_settings(dagster_home: str | os.PathLike, env: dict[str, str]) -> None:
    """Record the settings the demo runs with in ``DAGSTER_HOME/resnet_demo_settings.json``."""
    recorded = {key: env[key] for key in RECORDED_SETTINGS if key in env}
    path = os.path.join(dagster_home, SETTINGS_FILE)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(recorded, file, indent=2)
        file.write("\n")


def recorded_demo_settings(dagster_home: str | os.PathLike, env: dict[str, str]) -> dict[str, str]:
    """The demo's recorded settings that ``env`` does not set itself: a variable the user sets
    wins over the file, and planted symbols come only with the demo's own symbols (they must
    be among the symbols). Nothing when the demo has not run in this DAGSTER_HOME."""
    path = os.path.join(dagster_home, SETTINGS_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as file:
        recorded = json.load(file)
    missing = {
        key: str(value)
        for key, value in recorded.items()
        if key in RECORDED_SETTINGS and key not in env
    }
    if "RESNET_SYMBOLS" in env:
        missing.pop("RESNET_PLANTED_SYMBOLS", None)
    return missing


def print_demo_env(env: dict[str, str]) -> None:
    """``export`` lines for scripts/ui.sh to eval: the recorded settings ``env`` lacks."""
    home = env.get("DAGSTER_HOME")
    if home:
        for key, value in recorded_demo_settings(home, env).items():
            print(f"export {key}={shlex.quote(value)}")


def demo_months(first: date, count: int) -> list[date]:
    """``count`` consecutive months starting at ``first``."""
    if count < 2:
        raise SystemExit("--months must be at least 2: the dataset needs train, val and test data")
    return [
        date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
        for i in range(count)
    ]


def _step(label: str, run: Callable[[], object]) -> None:
    started = time.perf_counter()
    print(f"-> {label} ...", flush=True)
    run()
    print(f"   done in {time.perf_counter() - started:.1f}s", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=DEFAULT_MONTHS, help="months of candles")
    parser.add_argument(
        "--epochs", type=int, default=None,
        help=f"training epochs per symbol (default: experiments/{EXPERIMENT}.yaml's)",
    )  # fmt: skip
    parser.add_argument(
        "--train-samples", type=int, default=None,
        help=f"training windows drawn per epoch (default: experiments/{EXPERIMENT}.yaml's)",
    )  # fmt: skip
    parser.add_argument(
        "--experiment", action=argparse.BooleanOptionalAction, default=True,
        help=f"run experiments/{EXPERIMENT}.yaml after the main job",
    )  # fmt: skip
    parser.add_argument(
        "--print-env", action="store_true",
        help=f"print, as export lines, the settings recorded in DAGSTER_HOME/{SETTINGS_FILE} "
        "by the last demo that the environment does not set (scripts/ui.sh evals them)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.print_env:
        print_demo_env(dict(os.environ))
        return 0

    demo_environment(os.environ)
    # The demo's settings are set in the environment first: the runs' code location (the UI,
    # Celery workers) reads the same environment when it loads the definitions.
    import dagster as dg

    from resnet_pipeline.cli.demo_config import training_run_config
    from resnet_pipeline.cli.demo_summary import print_summary, print_verdicts
    from resnet_pipeline.commands import month_key
    from resnet_pipeline.definitions import build_definitions
    from resnet_pipeline.defs.experiments.experiment_runner import (
        register_experiment,
        run_experiment,
    )
    from resnet_pipeline.experiments.experiment_file import experiment_path, load_experiment
    from resnet_pipeline.layout import Layout
    from resnet_pipeline.settings import current_settings

    settings = current_settings()
    defs = build_definitions(settings)

    if settings.source != "synthetic":
        print(f"note: RESNET_SOURCE={settings.source}; the offline demo is meant for 'synthetic'")

    months = demo_months(settings.first_month, args.months)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    if instance is None:
        print("DAGSTER_HOME is not set: runs go to a temporary instance the UI will not show")
        instance = dg.DagsterInstance.ephemeral()
    else:
        write_demo_settings(instance.root_directory, dict(os.environ))
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    ingestion = defs.resolve_job_def("ingestion_job")
    training = defs.resolve_job_def("training_job")
    total = time.perf_counter()

    print(
        f"resnet_pipeline demo: {', '.join(settings.symbols)} x {months[0]:%Y-%m}.."
        f"{months[-1]:%Y-%m}, data in {settings.data_dir}, DAGSTER_HOME={instance.root_directory}"
    )
    # Every month's candles first, so each month's labels see the next month's first candles.
    for selection in (["raw_candles"], ["features", "labels"]):
        for month in months:
            for symbol in settings.symbols:
                key = month_key(symbol, month)
                _step(
                    f"{' + '.join(selection)} {key}",
                    lambda key=key, selection=selection: ingestion.execute_in_process(
                        partition_key=key,
                        instance=instance,
                        asset_selection=[dg.AssetKey(a) for a in selection],
                        run_config=quiet,
                    ),
                )
    experiment = load_experiment(
        experiment_path(settings.experiments_dir, EXPERIMENT),
        settings.symbols,
        settings.bybit_market,
    )
    main_variant = experiment.variants[0]
    config = training_run_config(months, main_variant.config, args.epochs, args.train_samples)
    print(
        f"   the training job uses {experiment.path}'s variant {main_variant.name!r} "
        "(model, training budget, window and strategy)"
    )
    for symbol in settings.symbols:
        _step(
            f"training_job {symbol}: dataset -> model -> metrics -> backtest -> signal",
            lambda symbol=symbol: training.execute_in_process(
                partition_key=symbol, instance=instance, run_config=config
            ),
        )
    if args.experiment:
        print(f"-> experiment {experiment.path}: {len(experiment.variants)} variants ...")
        started = time.perf_counter()
        register_experiment(experiment, instance, defs)
        run_experiment(experiment, instance, defs, {"n_boot": 200})
        print(f"   done in {time.perf_counter() - started:.1f}s", flush=True)
        # The experiment's reports link the main job's; the backtests again, to link back.
        backtest = {"ops": {"backtest_report": config["ops"]["backtest_report"]}} | quiet
        for symbol in settings.symbols:
            _step(
                f"backtest_report {symbol} again, linking the experiment's report",
                lambda symbol=symbol: training.execute_in_process(
                    partition_key=symbol,
                    instance=instance,
                    asset_selection=[dg.AssetKey("backtest_report")],
                    run_config=backtest,
                ),
            )
    print(f"\nDemo finished in {time.perf_counter() - total:.0f}s.")
    print_summary(instance, settings.symbols)
    if args.experiment:
        layout = Layout.at(settings.data_dir)
        print_verdicts(instance, layout, EXPERIMENT, settings.symbols, settings.planted_symbols)
    print(f"\nSee every run in the UI: DAGSTER_HOME={instance.root_directory} bash scripts/ui.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
