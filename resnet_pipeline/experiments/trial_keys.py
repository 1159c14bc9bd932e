"""The Dagster partition keys of experiments: a trial key per (experiment, symbol, variant) and
a report key per (experiment, symbol), both joined by ``:``.

Names are checked by ``experiment_file`` (no ``:``, and none of the characters Dagster
reserves in multi-partition keys: ``|``, ``,``, ``[``, ``]``, ``...``), so a key splits back
into its parts unambiguously. A fold's key is ``<YYYY-MM-01>|<trial key>`` (the month
dimension's name sorts first).
"""

from __future__ import annotations

from dataclasses import dataclass

SEPARATOR = ":"


@dataclass(frozen=True)
class TrialKey:
    experiment: str
    symbol: str
    variant: str

    def __str__(self) -> str:
        return SEPARATOR.join((self.experiment, self.symbol, self.variant))

    @property
    def report(self) -> str:
        return report_key(self.experiment, self.symbol)


def trial_key(experiment: str, symbol: str, variant: str) -> str:
    return str(TrialKey(experiment, symbol, variant))


def report_key(experiment: str, symbol: str) -> str:
    return f"{experiment}{SEPARATOR}{symbol}"


def split_trial_key(key: str) -> TrialKey:
    parts = key.split(SEPARATOR)
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            f"{key!r} is not a trial key: expected <experiment>:<symbol>:<variant>, e.g. "
            "horizons:BTCUSDT:spec-default"
        )
    return TrialKey(*parts)


def split_report_key(key: str) -> tuple[str, str]:
    parts = key.split(SEPARATOR)
    if len(parts) != 2 or not all(parts):
        raise ValueError(
            f"{key!r} is not an experiment report key: expected <experiment>:<symbol>, e.g. "
            "horizons:BTCUSDT"
        )
    return parts[0], parts[1]
