"""The main job offline, end to end: ``python -m resnet_pipeline.demo`` (see scripts/demo.sh).

Materializes the whole graph for every configured symbol on the synthetic source, from raw
candles to the HTML backtest reports, through the same jobs a user launches from the UI, into
the instance at DAGSTER_HOME, so that ``dagster dev`` afterwards shows every run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date

DEFAULT_MONTHS = 3


def demo_months(first: date, count: int) -> list[date]:
    """``count`` consecutive months starting at ``first``."""
    if count < 2:
        raise SystemExit("--months must be at least 2: the dataset needs train, val and test data")
    return [
        date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
        for i in range(count)
    ]


def training_run_config(months: Sequence[date], epochs: int, train_samples: int) -> dict:
    """Demo-sized configuration: the chosen months, a short training with a sample budget."""
    return {
        "ops": {
            "dataset_splits": {
                "config": {
                    "start_month": f"{months[0]:%Y-%m}",
                    "end_month": f"{months[-1]:%Y-%m}",
                }
            },
            "trained_model": {
                "config": {
                    "epochs": epochs,
                    "max_train_samples": train_samples,
                    "max_val_samples": max(train_samples // 2, 1024),
                    "patience": epochs,
                }
            },
        },
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }


def _step(label: str, run: Callable[[], object]) -> None:
    started = time.perf_counter()
    print(f"-> {label} ...", flush=True)
    run()
    print(f"   done in {time.perf_counter() - started:.1f}s", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=DEFAULT_MONTHS, help="months of candles")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per symbol")
    parser.add_argument(
        "--train-samples", type=int, default=12_000, help="training windows drawn per epoch"
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("RESNET_SOURCE", "synthetic")
    # Imported only now: the definitions' partitions and resources come from the environment
    # when they load (a read; nothing is written), so RESNET_SOURCE must be set first.
    import dagster as dg

    from resnet_pipeline.commands import month_key
    from resnet_pipeline.definitions import defs
    from resnet_pipeline.demo_summary import print_summary
    from resnet_pipeline.settings import current_settings

    settings = current_settings()

    if settings.source != "synthetic":
        print(f"note: RESNET_SOURCE={settings.source}; the offline demo is meant for 'synthetic'")

    months = demo_months(settings.first_month, args.months)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    if instance is None:
        print("DAGSTER_HOME is not set: runs go to a temporary instance the UI will not show")
        instance = dg.DagsterInstance.ephemeral()
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
    config = training_run_config(months, args.epochs, args.train_samples)
    for symbol in settings.symbols:
        _step(
            f"training_job {symbol}: dataset -> model -> metrics -> backtest -> signal",
            lambda symbol=symbol: training.execute_in_process(
                partition_key=symbol, instance=instance, run_config=config
            ),
        )
    print(f"\nDemo finished in {time.perf_counter() - total:.0f}s.")
    print_summary(instance, settings.symbols)
    print(f"\nSee every run in the UI: DAGSTER_HOME={instance.root_directory} bash scripts/ui.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
