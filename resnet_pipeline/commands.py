"""The commands that errors, logs and reports tell a user to run, built in one place."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import date

DEFINITIONS_MODULE = "resnet_pipeline.definitions"
MATERIALIZE = f"dagster asset materialize -m {DEFINITIONS_MODULE}"
# Dagster 1.13's successor of `dagster asset materialize` (which prints a SupersessionWarning
# naming it); `-m` names the code location, so the command works from any directory.
LAUNCH = f"dg launch -m {DEFINITIONS_MODULE}"


def month_key(symbol: str, month: date) -> str:
    """The symbol-month partition key as the CLI and the UI spell it: ``2024-01-01|BTCUSDT``
    (dimensions in name order; ``partitions.split_key`` is the inverse)."""
    return f"{month:%Y-%m-%d}|{symbol}"


def _selection(assets: str | Sequence[str]) -> str:
    return assets if isinstance(assets, str) else ",".join(assets)


def _command(prefix: str, select: str, assets: str | Sequence[str], flag: str, key: str | None):
    command = f"{prefix} {select} {_selection(assets)}"
    return command if key is None else f"{command} {flag} {shlex.quote(key)}"


def materialize(assets: str | Sequence[str], partition: str | None = None) -> str:
    """``dagster asset materialize`` of ``assets`` (one partition, or unpartitioned)."""
    return _command(MATERIALIZE, "--select", assets, "--partition", partition)


def launch(assets: str | Sequence[str], partition: str | None = None) -> str:
    """The same as ``materialize`` in the ``dg launch`` form."""
    return _command(LAUNCH, "--assets", assets, "--partition", partition)


def materialize_month(assets: str | Sequence[str], symbol: str, month: date) -> str:
    return materialize(assets, month_key(symbol, month))


def month_range(symbol: str, first: date, last: date) -> str:
    return f"{month_key(symbol, first)}...{month_key(symbol, last)}"


def materialize_months(assets: str | Sequence[str], symbol: str, first: date, last: date) -> str:
    """A range of months of one symbol (or trial: the key's other dimension) in one command
    (assets with a single-run backfill)."""
    span = month_range(symbol, first, last)
    return _command(MATERIALIZE, "--select", assets, "--partition-range", span)


def launch_months(assets: str | Sequence[str], symbol: str, first: date, last: date) -> str:
    """``materialize_months`` in the ``dg launch`` form."""
    return _command(
        LAUNCH, "--assets", assets, "--partition-range", month_range(symbol, first, last)
    )


INGEST = ("raw_candles", "features", "labels")


def ingest_month(symbol: str, month: date) -> str:
    """Candles, then features and labels, of one symbol-month."""
    return materialize_month(INGEST, symbol, month)


EXPERIMENTS_MODULE = "resnet_pipeline.cli.experiments"


def experiment_command(action: str, path: str) -> str:
    """``python -m resnet_pipeline.cli.experiments <action> <file>`` (check, register, run)."""
    return f"python -m {EXPERIMENTS_MODULE} {action} {shlex.quote(str(path))}"


def materialize_trial_months(trial: str, first: date, last: date) -> str:
    """Every fold of one trial (``<experiment>:<symbol>:<variant>``) from ``first`` to
    ``last`` in one run, oldest first (warm starts find the previous month's model)."""
    return materialize_months("experiment_fold", trial, first, last)


def materialize_experiment_report(report: str) -> str:
    """The report of one experiment and symbol (``<experiment>:<symbol>``)."""
    return materialize("experiment_report", report)
